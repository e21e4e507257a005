// The WebAssembly kernels against the TypeScript reference and ggml: identical bytes on hostile
// bit patterns, odd view offsets, sizes crossing the staging windows; and the committed module
// is exactly what its sources compile to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { BlockCodec } from '../../../src/formats/codec.js';
import { rowBytes } from '../../../src/formats/codec.js';
import { codecByName } from '../../../src/formats/registry.js';
import { setWasmKernels, wasmKernelsActive } from '../../../src/formats/wasm/kernels.js';
import { oracle, randomRows, rng } from '../../support/oracle.js';
// @ts-expect-error: plain ESM script without types
import { compileKernels, moduleSource } from '../../../scripts/build-wasm.mjs';

const NAMES = ['F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0'];

function withWasm<T>(on: boolean, fn: () => T): T {
  setWasmKernels(on);
  try {
    return fn();
  } finally {
    setWasmKernels(true);
  }
}

/** Float rows mixing ordinary values with raw bit patterns: NaNs, ±Inf, denormals, ±0, huge. */
function hostileRows(seed: number, n: number): Float32Array {
  const r = rng(seed);
  const x = randomRows(seed, 1, n);
  const bits = new Uint32Array(x.buffer);
  const specials = [
    0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 1, 0x80000001, 0x007fffff, 0x7f7fffff, 0xff7fffff,
    0x477ff000, 0x38800000, 0x33000000,
  ];
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.02) bits[i] = specials[Math.floor(r() * specials.length)]!;
    else if (u < 0.05) bits[i] = Math.floor(r() * 2 ** 32) >>> 0;
    else if (u < 0.1) x[i] = x[i]! * 10 ** (r() * 80 - 40);
  }
  // whole blocks of one kind: all equal, all zero, ±amax ties, denormal-only, and blocks scaled
  // so that their scale lands around the smallest normal float or near the largest (where the
  // kernels switch between their fast and exact code conversions)
  const bs = 32;
  for (let b = 0; b + bs <= n; b += bs * 5) {
    const kind = Math.floor(r() * 6);
    const scale = kind === 4 ? 2 ** (-118 - r() * 12) : 2 ** (120 + r() * 7.9);
    for (let j = 0; j < bs; j++) {
      x[b + j] =
        kind === 0
          ? 0.5
          : kind === 1
            ? j % 2
              ? -0
              : 0
            : kind === 2
              ? j % 3 === 0
                ? -2
                : j % 3 === 1
                  ? 2
                  : 1
              : kind === 3
                ? (j + 1) * 1e-44
                : (r() * 2 - 1) * scale;
    }
  }
  return x;
}

function quantBoth(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  dstOffset: number,
): [Uint8Array, Uint8Array] {
  const size = rowBytes(c, nPerRow) * nRows;
  const a = new Uint8Array(size + dstOffset).subarray(dstOffset);
  const b = new Uint8Array(size + dstOffset).subarray(dstOffset);
  withWasm(true, () => c.quantize(x, a, nRows, nPerRow, null));
  withWasm(false, () => c.quantize(x, b, nRows, nPerRow, null));
  return [a, b];
}

/** Bit-identical floats, except that any NaN equals any NaN: arithmetic NaN payloads are not a
 *  contract (JS, WebAssembly and x86 each pick their own), NaN-ness is. */
function sameFloats(a: Float32Array, b: Float32Array): string | null {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i])))
      return `value ${i}: 0x${ua[i]!.toString(16)} vs 0x${ub[i]!.toString(16)}`;
  }
  return null;
}

test('the WebAssembly kernels load here (so the suites below test them, not the fallback)', () => {
  assert.equal(wasmKernelsActive(), true);
  setWasmKernels(false);
  assert.equal(wasmKernelsActive(), false);
  setWasmKernels(true);
});

for (const name of NAMES) {
  test(`${name}: WebAssembly quantize = TypeScript = ggml on hostile rows, odd offsets, many windows`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    for (const [seed, nRows, nPerRow, off] of [
      [1, 1, 32, 0],
      [2, 3, 96, 1],
      [3, 40, 4096, 3],
      [4, 1, 160 * 1024, 0],
    ] as const) {
      const x = hostileRows(seed, nRows * nPerRow);
      const [w, t] = quantBoth(c, x, nRows, nPerRow, off);
      assert.equal(Buffer.compare(w, t), 0, `${name} seed ${seed}: wasm != ts`);
      assert.equal(
        Buffer.compare(w, o.quantize(c.type.id, x, nRows, nPerRow, null)),
        0,
        `${name} seed ${seed}: wasm != ggml`,
      );
    }
  });

  test(`${name}: WebAssembly dequantize = TypeScript = ggml on random bytes and odd offsets`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    const r = rng(99);
    for (const [blocks, off] of [
      [1, 0],
      [7, 1],
      [5000, 2],
    ] as const) {
      const n = blocks * c.type.blockSize * (c.type.blockSize === 1 ? 37 : 1); // F16/BF16: 37·blocks values, odd tails
      const bytes = (n / c.type.blockSize) * c.type.typeSize;
      const q = new Uint8Array(bytes + off).subarray(off);
      for (let i = 0; i < bytes; i++) q[i] = Math.floor(r() * 256);
      const a = withWasm(true, () => {
        const y = new Float32Array(n);
        c.dequantize(q, y, n);
        return y;
      });
      const b = withWasm(false, () => {
        const y = new Float32Array(n);
        c.dequantize(q, y, n);
        return y;
      });
      assert.equal(sameFloats(a, b), null, `${name} ${blocks} blocks: wasm != ts`);
      assert.equal(
        sameFloats(a, o.dequantize(c.type.id, q.slice(), n)),
        null,
        `${name} ${blocks} blocks: wasm != ggml`,
      );
    }
  });
}

for (const name of ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']) {
  test(`${name} with an importance matrix: WebAssembly = TypeScript = ggml (four blocks per SIMD lane group, ragged tails)`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    // row lengths of 1..9 blocks cover every tail of the four-lane groups; 2080 crosses windows
    for (const [seed, nRows, nPerRow] of [
      [5, 3, 32],
      [6, 2, 64],
      [7, 2, 96],
      [8, 2, 160],
      [9, 4, 288],
      [10, 40, 2080],
    ] as const) {
      // NaN-free: which of a row's NaNs reaches a NaN scale (through sigma2, the row's sum of
      // squares) follows no order we could reproduce from ggml's output; Inf and huge values stay
      const x = hostileRows(seed, nRows * nPerRow).map((v) => (Number.isNaN(v) ? 3.4028234663852886e38 : v));
      const r = rng(seed + 100);
      const im = new Float32Array(nPerRow);
      for (let i = 0; i < nPerRow; i++) im[i] = r() < 0.1 ? 0 : r() * r() * 10 ** (r() * 4 - 2);
      const size = rowBytes(c, nPerRow) * nRows;
      const a = new Uint8Array(size + 1).subarray(1);
      const b = new Uint8Array(size);
      withWasm(true, () => c.quantize(x, a, nRows, nPerRow, im));
      withWasm(false, () => c.quantize(x, b, nRows, nPerRow, im));
      assert.equal(
        Buffer.compare(a, o.quantize(c.type.id, x, nRows, nPerRow, im)),
        0,
        `${name} seed ${seed}: wasm != ggml`,
      );
      assert.equal(Buffer.compare(a, b), 0, `${name} seed ${seed}: wasm != ts`);
    }
  });
}

for (const name of ['TQ1_0', 'TQ2_0', 'MXFP4']) {
  test(`${name}: WebAssembly quantize = TypeScript = ggml on hostile rows (lane and scalar paths)`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    for (const [seed, nRows, nPerRow, off] of [
      [21, 1, 256, 0],
      [22, 3, 512, 1],
      [23, 8, 4096, 3],
      [24, 40, 2048, 0],
    ] as const) {
      const x = hostileRows(seed, nRows * nPerRow);
      const [w, t] = quantBoth(c, x, nRows, nPerRow, off);
      assert.equal(Buffer.compare(w, t), 0, `${name} seed ${seed}: wasm != ts`);
      assert.equal(
        Buffer.compare(w, o.quantize(c.type.id, x, nRows, nPerRow, null)),
        0,
        `${name} seed ${seed}: wasm != ggml`,
      );
    }
  });
}

test('MXFP4: the WebAssembly scale byte (floor of log2f of the block max) matches ggml at every binade edge', () => {
  // for each binade, the largest float whose log2f still floors to the binade's exponent and the
  // next one up (where float64 log2 rounded to float32, like glibc's log2f, reaches the next integer)
  const c = codecByName('MXFP4')!;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const fl = (bits: number) => {
    u[0] = bits;
    return Math.floor(Math.fround(Math.log2(f[0]!)));
  };
  const amaxes: number[] = [];
  for (let b = 0; b < 255; b++) {
    let lo = 0,
      hi = 0x800000; // least mantissa whose floor(log2f) exceeds the binade's
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fl((b << 23) | mid) > fl(b << 23)) hi = mid;
      else lo = mid + 1;
    }
    for (const m of [lo - 1, lo, 0, 1, 0x7fffff])
      if (m >= 0 && m <= 0x7fffff && b | m) {
        u[0] = (b << 23) | m;
        amaxes.push(f[0]!);
      }
  }
  const x = new Float32Array(amaxes.length * 32);
  amaxes.forEach((a, i) => {
    for (let j = 0; j < 32; j++) x[i * 32 + j] = j === 7 ? a : (a * ((j % 5) - 2)) / 3;
  });
  const [w, t] = quantBoth(c, x, 1, x.length, 0);
  const g = oracle().quantize(c.type.id, x, 1, x.length, null);
  for (let i = 0; i < amaxes.length; i++) assert.equal(w[i * 17], g[i * 17], `amax ${amaxes[i]}: scale byte`);
  assert.equal(Buffer.compare(w, g), 0, 'wasm != ggml');
  assert.equal(Buffer.compare(w, t), 0, 'wasm != ts');
});

for (const name of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4']) {
  test(`${name}: WebAssembly dequantize = TypeScript = ggml on random bytes, quantized rows and odd offsets`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    const r = rng(7);
    const bs = c.type.blockSize;
    for (const [blocks, off] of [
      [1, 0],
      [3, 1],
      [700, 2],
    ] as const) {
      const n = blocks * bs;
      const bytes = blocks * c.type.typeSize;
      const sources: Uint8Array[] = [];
      const rand = new Uint8Array(bytes + off).subarray(off);
      for (let i = 0; i < bytes; i++) rand[i] = Math.floor(r() * 256);
      sources.push(rand);
      const quant = new Uint8Array(bytes + off).subarray(off);
      quant.set(o.quantize(c.type.id, randomRows(blocks, 1, n), 1, n, null));
      sources.push(quant);
      for (const q of sources) {
        const a = withWasm(true, () => {
          const y = new Float32Array(n);
          c.dequantize(q, y, n);
          return y;
        });
        const b = withWasm(false, () => {
          const y = new Float32Array(n);
          c.dequantize(q, y, n);
          return y;
        });
        assert.equal(sameFloats(a, b), null, `${name} ${blocks} blocks: wasm != ts`);
        assert.equal(
          sameFloats(a, o.dequantize(c.type.id, q.slice(), n)),
          null,
          `${name} ${blocks} blocks: wasm != ggml`,
        );
      }
    }
  });
}

test('the committed kernels.wasm.ts is exactly what scripts/build-wasm.mjs compiles from the .as sources', async () => {
  const fresh = moduleSource(await compileKernels()) as string;
  const committed = readFileSync(new URL('../../../src/formats/wasm/kernels.wasm.ts', import.meta.url), 'utf8');
  assert.equal(committed, fresh, 'stale kernels.wasm.ts: run node scripts/build-wasm.mjs');
});

test('scanFinite: quantize kernels find every NaN/Inf they read, anywhere in a window or a tail; null when they read nothing', async () => {
  const { scanFinite } = await import('../../../src/formats/wasm/kernels.js');
  const r = rng(77);
  for (const name of ['Q8_0', 'Q4_0', 'Q4_K', 'F16', 'BF16', 'MXFP4']) {
    const c = codecByName(name)!;
    const nPerRow = 256 * 3;
    // rows spanning several 64 KiB staging windows
    const nRows = 70;
    const x = randomRows(5, nRows, nPerRow);
    const dst = new Uint8Array(nRows * rowBytes(c, nPerRow));
    assert.equal(
      scanFinite(x, (s) => c.quantize(x, dst, nRows, nPerRow, null, s)),
      false,
      `${name}: finite input`,
    );
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, x.length - 1, Math.floor(r() * x.length), 16384 * 3 + 15]) {
        const y = x.slice();
        y[at] = bad;
        assert.equal(
          scanFinite(y, (s) => c.quantize(y, dst, nRows, nPerRow, null, s)),
          true,
          `${name}: ${bad} at ${at}`,
        );
      }
    }
    // the TypeScript path does not scan: the caller must check itself
    assert.equal(
      withWasm(false, () => scanFinite(x, (s) => c.quantize(x, dst, nRows, nPerRow, null, s))),
      null,
      `${name}: kernels off`,
    );
    // reading part of the input is not a full scan
    assert.equal(
      scanFinite(x, (s) => c.quantize(x, dst, nRows - 1, nPerRow, null, s)),
      null,
      `${name}: part read`,
    );
  }
});

for (const name of ['Q8_0', 'Q4_0', 'Q5_0', 'Q4_1', 'Q5_1']) {
  test(`${name}: four-block lane groups = ggml when one block of a group is special, for every group position and tail`, () => {
    const c = codecByName(name)!;
    const o = oracle();
    const r = rng(31);
    // one special block per group of four (the group falls back to the block-by-block path), in
    // each position; tails of 0..3 blocks after the groups
    const specials: ((j: number) => number)[] = [
      () => NaN,
      (j) => (j === 5 ? NaN : j - 10),
      (j) => (j === 20 ? NaN : 30 - j),
      (j) => (j % 4 === 1 ? NaN : j),
      (j) => (j === 2 ? NaN : j === 6 ? 100 : j === 11 ? -100 : 1),
      (j) => (j === 3 ? NaN : j === 7 ? -100 : j === 10 ? 100 : 1),
      (j) => (j === 4 ? -40 : j === 9 ? 40 : 1),
      (j) => (j === 4 ? 40 : j === 9 ? -40 : -1),
      (j) => (j === 7 ? Infinity : 1),
      (j) => (j === 3 ? -Infinity : -1),
      () => 0,
      (j) => (j % 2 ? -0 : 0.25),
      () => 0.75,
      (j) => (j === 0 ? 0 : 2 + j),
      (j) => (j === 31 ? -0 : -3 - j),
      () => 1e-42,
      (j) => (j - 16) * 3e37,
    ];
    for (let nb = 4; nb <= 11; nb++) {
      for (const special of specials) {
        const x = randomRows(nb * 7, 1, nb * 32);
        const at = Math.floor(r() * nb);
        for (let j = 0; j < 32; j++) x[at * 32 + j] = special(j);
        const [w, t] = quantBoth(c, x, 1, nb * 32, nb % 3);
        const g = o.quantize(c.type.id, x, 1, nb * 32, null);
        assert.equal(Buffer.compare(w, g), 0, `${name}: ${nb} blocks, special block ${at}: wasm != ggml`);
        assert.equal(Buffer.compare(w, t), 0, `${name}: ${nb} blocks, special block ${at}: wasm != ts`);
      }
    }
  });
}
