// Q1_0, Q2_0 and NVFP4 against the live ggml oracle (libggml-base.so): quantize byte for byte, with
// and without an imatrix (ggml ignores it for all three), dequantize bit for bit of ggml's bytes and
// of arbitrary bytes (NaN/Inf FP16 scales, every UE4M3 scale byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fp32ToUe4m3, ue4m3ToFp32 } from '../../../src/formats/ue4m3.js';
import { gaussian, oracle, randomRows, rng } from '../../support/oracle.js';
import {
  assertBytes,
  assertFloats,
  checkDequantizeWasm,
  codec,
  quantize,
  randomImatrix,
} from '../../support/ggml-check.js';
import { setWasmKernels, wasmKernelsActive } from '../../../src/formats/wasm/kernels.js';

const NAMES = ['Q1_0', 'Q2_0', 'NVFP4'] as const;
const IDS: Record<string, number> = { Q1_0: 41, Q2_0: 42, NVFP4: 40 };

/** Hard rows: zeros, constants, outliers, tiny/denormal and huge values, ties, non-finite. */
function edgeRows(nPerRow: number): { x: Float32Array; nRows: number } {
  const fs: ((i: number) => number)[] = [
    () => 0,
    () => -0,
    (i) => (i % 2 ? 0 : -0),
    () => 1,
    () => -0.37,
    () => 7,
    (i) => (i === 37 % nPerRow ? 1000 : 0.02 * Math.sin(i)),
    (i) => (i === 5 ? -30000 : 0.01 * Math.cos(i * 3)),
    (i) => (i === 5 ? 7.5 : 0),
    () => 1e-30,
    (i) => ((i % 3) - 1) * 1e-40, // denormals
    (i) => (i === 3 ? 1e-45 : 0), // the smallest denormal alone: 1/amax is +Inf in float32
    (i) => (i === 3 ? -1e-45 : i === 4 ? 0 : i === 5 ? -0 : 1e-46),
    (i) => (i % 7 === 0 ? 2e-39 : -1e-39), // 1/amax overflows, mixed signs
    (i) => i * 1e-45,
    (i) => (i % 2 ? 3e38 : -3.4e38), // the Q1_0 mean overflows float32
    (i) => (i % 2) * 131008, // overflows FP16 scales
    () => 65520, // FP16 rounds to Inf
    (i) => 0.5 * ((i % 5) - 2), // ties
    (i) => [1, 0.5, -0.5, 0.25, -0.75, 0.49999997, -0.49999997, 0.50000006][i % 8]!, // Q2_0 rounding edges
    (i) => (i % 16) - 8, // integer grid
    (i) => [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, 0.125, 3][i % 10]! * (i % 20 < 10 ? 1 : -1), // E2M1 midpoints
    (i) => 2 ** ((i % 60) - 30), // many binades
    (i) => 2 ** ((i % 40) - 140), // scales around UE4M3's subnormals and below
    (i) => (i % 16 === 0 ? 6 * 2 ** -10 : 0.001 * (i % 16)), // subnormal UE4M3 scales, coarse rounding
    (i) => (i % 16 === 0 ? 2688 : (i % 16) * 300), // amax/6 = 448, the largest scale
    (i) => (i % 16 === 0 ? 5000 : (i % 16) * 400), // amax/6 > 448: clamped scale, values beyond 16·d
    (i) => (i === 100 % nPerRow ? 1e6 : 1e-3 * (i % 7)),
    (i) => (i < nPerRow / 2 ? 0 : Math.sin(i)), // zero blocks next to live ones
    (i) => (i === 7 ? Infinity : i * 0.1),
    (i) => (i === 9 ? -Infinity : 1),
    (i) => (i % 3 ? Infinity : -Infinity),
    (i) => (i === 3 ? NaN : i * 0.01),
    () => NaN,
    (i) => (i === 0 ? 5 : i === 1 ? NaN : 0.01 * i),
    (i) => (i === 2 ? -1000 : i === 9 ? NaN : 0.01 * (i % 50)),
    (i) => (i % 2 ? NaN : -Infinity),
  ];
  const x = new Float32Array(fs.length * nPerRow);
  fs.forEach((f, r) => {
    for (let i = 0; i < nPerRow; i++) x[r * nPerRow + i] = f(i);
  });
  return { x, nRows: fs.length };
}

for (const name of NAMES) {
  test(`${name}: type, flags and layout`, () => {
    const c = codec(name);
    assert.equal(c.type.id, IDS[name]);
    assert.equal(c.usesImatrix, false);
    assert.ok(c.layout.length > 20 && !c.layout.includes('\n'));
    const o = oracle();
    assert.equal(c.type.blockSize, o.blockSize(c.type.id));
    assert.equal(c.type.typeSize, o.typeSize(c.type.id));
  });

  test(`${name}: quantize and dequantize match the live ggml oracle over seeds, row lengths, imatrices`, () => {
    const o = oracle();
    const c = codec(name);
    let seed = 1;
    for (const nPerRow of [128, 384, 1024, 4096]) {
      const nRows = Math.max(2, Math.floor(16384 / nPerRow));
      for (let k = 0; k < 6; k++, seed++) {
        const x = randomRows(seed * 7919 + IDS[name]!, nRows, nPerRow);
        const mine = quantize(c, x, nRows, nPerRow, null);
        const ref = o.quantize(c.type.id, x, nRows, nPerRow, null);
        const what = `${name} seed ${seed} n=${nPerRow}`;
        assertBytes(mine, ref, what, c.type.typeSize);
        const im = randomImatrix(seed, nPerRow, k % 4);
        assertBytes(
          quantize(c, x, nRows, nPerRow, im),
          o.quantize(c.type.id, x, nRows, nPerRow, im),
          `${what} imatrix kind ${k % 4}`,
          c.type.typeSize,
        );
        assertBytes(quantize(c, x, nRows, nPerRow, im), mine, `${what}: the imatrix changes nothing`, c.type.typeSize);
        const y = new Float32Array(x.length);
        c.dequantize(ref, y, x.length);
        assertFloats(y, o.dequantize(c.type.id, ref, x.length), `${what} dequantize`);
      }
    }
  });

  test(`${name}: edge cases (zeros, constants, outliers, denormals, huge, ties, Inf/NaN) match ggml`, () => {
    const o = oracle();
    const c = codec(name);
    for (const nPerRow of [128, 256]) {
      const { x, nRows } = edgeRows(nPerRow);
      for (const im of [null, randomImatrix(99, nPerRow, 1)]) {
        for (let r = 0; r < nRows; r++) {
          const xr = x.subarray(r * nPerRow, (r + 1) * nPerRow);
          const ref = o.quantize(c.type.id, xr, 1, nPerRow, im);
          const what = `${name} edge row ${r} n=${nPerRow}${im ? ' imatrix' : ''}`;
          assertBytes(quantize(c, xr, 1, nPerRow, im), ref, what, c.type.typeSize);
          const y = new Float32Array(nPerRow);
          c.dequantize(ref, y, nPerRow);
          assertFloats(y, o.dequantize(c.type.id, ref, nPerRow), `${what} dequantize`);
        }
      }
      // and all rows in one call (rows quantized independently, same bytes)
      assertBytes(
        quantize(c, x, nRows, nPerRow, null),
        o.quantize(c.type.id, x, nRows, nPerRow, null),
        `${name} edge rows together`,
        c.type.typeSize,
      );
    }
  });

  test(`${name}: dequantize of arbitrary bytes matches ggml's to_float`, () => {
    const o = oracle();
    const c = codec(name);
    const r = rng(4242 + c.type.id);
    const nBlocks = 512;
    const bytes = new Uint8Array(nBlocks * c.type.typeSize);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    if (name !== 'NVFP4') {
      // FP16 scales: ±0, ±Inf, NaNs (quiet, signalling, negative), the largest, a subnormal
      const special = [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00, 0xffff, 0x7bff, 0xfbff, 0x0001, 0x8001];
      special.forEach((h, k) => {
        bytes[k * c.type.typeSize] = h & 255;
        bytes[k * c.type.typeSize + 1] = h >> 8;
      });
    }
    const n = nBlocks * c.type.blockSize;
    const y = new Float32Array(n);
    c.dequantize(bytes, y, n);
    assertFloats(y, o.dequantize(c.type.id, bytes, n), `${name} random bytes`);
  });
}

test('Q2_0 dequantize: the WebAssembly kernel and the TypeScript path equal ggml (many windows, odd offsets, special scales)', () => {
  checkDequantizeWasm('Q2_0', (b, o, h) => {
    b[o] = h & 255;
    b[o + 1] = h >> 8;
  });
});

test("Q1_0 and Q2_0: Inf and NaN scales dequantize to ggml's exact float32 bits (NaN payload and sign)", () => {
  const o = oracle();
  for (const name of ['Q1_0', 'Q2_0']) {
    const c = codec(name);
    const specials = [0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfc01, 0x7dff, 0xfe01, 0xffff, 0x7fff, 0x0000, 0x8000];
    const bytes = new Uint8Array(specials.length * 18);
    specials.forEach((h, k) => {
      bytes[k * 18] = h & 255;
      bytes[k * 18 + 1] = h >> 8;
      for (let j = 2; j < 18; j++) bytes[k * 18 + j] = [0xe4, 0x1b, 0x4e, 0xb1][j % 4]!; // every code in every position
    });
    const n = specials.length * c.type.blockSize;
    const y = new Float32Array(n);
    c.dequantize(bytes, y, n);
    const mine = new Uint32Array(y.buffer),
      ref = new Uint32Array(o.dequantize(c.type.id, bytes, n).slice().buffer);
    for (let i = 0; i < n; i++) {
      if (mine[i] !== ref[i])
        assert.fail(
          `${name} value ${i} (scale 0x${specials[Math.floor(i / c.type.blockSize)]!.toString(16)}): bits ${mine[i]!.toString(16)}, ggml ${ref[i]!.toString(16)}`,
        );
    }
  }
});

test('NVFP4: every UE4M3 scale byte and every code dequantizes as ggml does', () => {
  const o = oracle();
  const c = codec('NVFP4');
  // block b: scale bytes 4b..4b+3; byte j of each sub-block holds codes j and 15 - j (all 16 codes)
  const bytes = new Uint8Array(64 * 36);
  for (let b = 0; b < 64; b++) {
    for (let s = 0; s < 4; s++) bytes[b * 36 + s] = 4 * b + s;
    for (let j = 0; j < 32; j++) bytes[b * 36 + 4 + j] = (j & 7) | ((15 - (j & 7)) << 4);
  }
  const y = new Float32Array(64 * 64);
  c.dequantize(bytes, y, y.length);
  assertFloats(y, o.dequantize(40, bytes, y.length), 'nvfp4 all scales');
  for (let v = 0; v < 256; v++)
    assert.ok(Object.is(y[(v >> 2) * 64 + (v & 3) * 16 + 1], ue4m3ToFp32(v)), `scale byte ${v}`); // code 1 is 1·d
});

test('NVFP4: the UE4M3 scale rounding matches ggml over float32 bit patterns from 2^-16 to beyond 448·6', () => {
  // each sub-block holds one candidate amax; its scale byte is ggml_fp32_to_ue4m3(amax / 6)
  const o = oracle();
  const c = codec('NVFP4');
  const F = new Float32Array(1);
  const U = new Uint32Array(F.buffer);
  const amaxes: number[] = [];
  F[0] = 2 ** -16;
  const lo = U[0]!;
  F[0] = 1e5;
  const hi = U[0]!;
  for (let b = lo; b <= hi; b += 997) {
    U[0] = b;
    amaxes.push(F[0]!);
  }
  // and the exact rounding edges: (m + 0.5)·2^e·6 and its neighbours, for every exponent
  for (let e = -20; e <= 10; e++) {
    for (let m = 0; m < 16; m++) {
      F[0] = ((8 + m + 0.5) / 8) * 2 ** e * 6;
      const b = U[0]!;
      for (let k = -3; k <= 3; k++) {
        U[0] = b + k;
        amaxes.push(F[0]!);
      }
    }
  }
  while (amaxes.length % 4) amaxes.push(1);
  const r = rng(7);
  const x = new Float32Array(amaxes.length * 16);
  amaxes.forEach((a, i) => {
    x[i * 16] = r() < 0.5 ? a : -a;
    for (let j = 1; j < 16; j++) x[i * 16 + j] = Math.fround(a * (r() * 2 - 1));
  });
  const ref = o.quantize(40, x, 1, x.length, null);
  amaxes.forEach((a, i) => {
    const mine = fp32ToUe4m3(Math.fround(a / 6));
    const theirs = ref[(i >> 2) * 36 + (i & 3)]!;
    if (mine !== theirs) assert.fail(`scale of amax ${a}: ${mine}, ggml ${theirs}`);
  });
  assertBytes(quantize(c, x, 1, x.length, null), ref, 'nvfp4 scale sweep', 36);
});

test('NVFP4: values at, around and between every level for every scale match ggml', () => {
  // sub-block amax pinned to 6·d for a chosen scale, the other 15 values at level midpoints ±1 ulp
  const o = oracle();
  const c = codec('NVFP4');
  const mids = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8];
  const rows: number[] = [];
  const F = new Float32Array(1);
  const U = new Uint32Array(F.buffer);
  for (let ue = 1; ue < 0x7f; ue++) {
    const d = ue4m3ToFp32(ue) * 2; // raw scale: levels are E2M1 · raw
    for (let k = -1; k <= 1; k++) {
      const sub = [6 * d];
      for (let m = 1; sub.length < 16; m++) {
        F[0] = mids[m % mids.length]! * d;
        U[0] = U[0]! + (F[0]! === 0 ? 0 : k);
        sub.push(m % 2 ? F[0]! : -F[0]!);
      }
      rows.push(...sub);
    }
  }
  while (rows.length % 64) rows.push(0);
  const x = Float32Array.from(rows);
  const ref = o.quantize(40, x, 1, x.length, null);
  assertBytes(quantize(c, x, 1, x.length, null), ref, 'nvfp4 level edges', 36);
});

test('Q2_0 and Q1_0: heavy-tailed rows with many scales match ggml', () => {
  const o = oracle();
  const r = rng(31337);
  const n = 128 * 64;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = gaussian(r) * 10 ** (r() * 60 - 30) * (r() < 0.01 ? 1e4 : 1);
  for (const name of ['Q1_0', 'Q2_0']) {
    const c = codec(name);
    assertBytes(quantize(c, x, 64, 128, null), o.quantize(c.type.id, x, 64, 128, null), `${name} heavy tails`, 18);
  }
});

test('UE4M3 conversions', () => {
  assert.equal(ue4m3ToFp32(0), 0);
  assert.equal(ue4m3ToFp32(0x7f), 0);
  assert.equal(ue4m3ToFp32(0x38), 0.5); // 1.0 raw
  assert.equal(ue4m3ToFp32(0x7e), 224); // 448 raw
  assert.equal(ue4m3ToFp32(1), 2 ** -10);
  assert.equal(ue4m3ToFp32(0xff), 240); // bit 7 ignored
  assert.equal(fp32ToUe4m3(1), 0x38);
  assert.equal(fp32ToUe4m3(1e9), 0x7e);
  assert.equal(fp32ToUe4m3(Infinity), 0x7e);
  assert.equal(fp32ToUe4m3(NaN), 0);
  assert.equal(fp32ToUe4m3(-1), 0);
  assert.equal(fp32ToUe4m3(2 ** -10), 1); // half the smallest subnormal (2^-9) rounds up
  assert.equal(fp32ToUe4m3(Math.fround(2 ** -10 * 0.999)), 0);
  for (let v = 1; v < 0x78; v++) assert.equal(fp32ToUe4m3(ue4m3ToFp32(v) * 2), v, `round trip ${v}`);
  // ggml's encoder sends the whole top binade (raw 256..448) to 0x7E: 0x78..0x7D are never written
  for (let v = 0x78; v < 0x7f; v++) assert.equal(fp32ToUe4m3(ue4m3ToFp32(v) * 2), 0x7e, `top binade ${v}`);
  assert.equal(fp32ToUe4m3(Math.fround(255.99)), 0x7e); // rounds up into the top binade
});

test('Q2_0: weights whose w·(1/amax) lands within ulps of ±0.5 match ggml', () => {
  const o = oracle();
  const c = codec('Q2_0');
  const r = rng(2024);
  const F = new Float32Array(1);
  const U = new Uint32Array(F.buffer);
  const nBlocks = 4000;
  const x = new Float32Array(nBlocks * 64);
  for (let b = 0; b < nBlocks; b++) {
    const amax = Math.fround((1 + r()) * 2 ** Math.floor(r() * 200 - 100));
    const id = Math.fround(1 / amax);
    x[b * 64] = r() < 0.5 ? amax : -amax;
    F[0] = 0.5 / id;
    const h = U[0]!;
    for (let j = 1; j < 64; j++) {
      U[0] = h + ((j % 9) - 4);
      x[b * 64 + j] = j % 2 ? F[0]! : -F[0]!;
    }
  }
  assertBytes(quantize(c, x, nBlocks, 64, null), o.quantize(42, x, nBlocks, 64, null), 'q2_0 half edges', 18);
});

test('Q2_0: quantize with the WebAssembly kernel = TypeScript = ggml (edge rows, random rows over several 64 KiB windows, odd offsets)', () => {
  const o = oracle();
  const c = codec('Q2_0');
  const nPerRow = 256;
  const edge = edgeRows(nPerRow);
  const r = rng(2024);
  const nRand = 1100; // 1100 rows of 256 floats: several windows of 256 blocks
  const xr = new Float32Array(nRand * nPerRow);
  for (let i = 0; i < xr.length; i++) {
    const k = (i >> 6) % 5;
    xr[i] =
      k === 0
        ? gaussian(r)
        : k === 1
          ? (r() - 0.5) * 1e-38
          : k === 2
            ? Math.round(gaussian(r) * 2) / 2
            : k === 3
              ? gaussian(r) * 1e30
              : r() < 0.01
                ? NaN
                : r() - 0.5;
  }
  for (const [x, nRows] of [
    [edge.x, edge.nRows],
    [xr, nRand],
  ] as const) {
    const want = o.quantize(c.type.id, x, nRows, nPerRow, null);
    setWasmKernels(true);
    assert.ok(wasmKernelsActive(), 'the WebAssembly kernels load here');
    const xs = new Float32Array(x.length + 3);
    xs.set(x, 3);
    const big = new Uint8Array(want.length + 5);
    c.quantize(xs.subarray(3), big.subarray(5), nRows, nPerRow, null);
    assertBytes(big.subarray(5), want, 'Q2_0 quantize (WebAssembly, odd offsets)', c.type.typeSize);
    setWasmKernels(false);
    try {
      assertBytes(quantize(c, x, nRows, nPerRow, null), want, 'Q2_0 quantize (TypeScript)', c.type.typeSize);
    } finally {
      setWasmKernels(true);
    }
  }
});
