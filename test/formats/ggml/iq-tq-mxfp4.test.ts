// IQ4_NL, IQ4_XS, TQ1_0, TQ2_0 and MXFP4 against ggml itself: the committed golden vectors and the
// live libggml-base.so oracle, byte for byte (quantize) and bit for bit (dequantize).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rowBytes } from '../../../src/formats/codec.js';
import { IQ4NL_VALUES, bestIndexIq4, quantizeRowIq4NlRef } from '../../../src/formats/ggml/iq4-common.js';
import { mxfp4Exponent } from '../../../src/formats/ggml/mxfp4.js';
import { e8m0ToFp32, e8m0ToFp32Half } from '../../../src/formats/e8m0.js';
import { loadGolden } from '../../support/golden.js';
import { oracle, randomRows } from '../../support/oracle.js';
import { assertBytes, assertFloats, codec, quantize, randomImatrix } from '../../support/ggml-check.js';

const NAMES = ['IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4'] as const;
const USES_IMATRIX: Record<string, boolean> = { IQ4_NL: true, IQ4_XS: true, TQ1_0: false, TQ2_0: false, MXFP4: false };

/** Hard rows: zeros, constants, outliers, tiny/denormal and huge values, ties, non-finite. */
function edgeRows(nPerRow: number): { x: Float32Array; nRows: number } {
  const fs: ((i: number) => number)[] = [
    () => 0,
    () => -0,
    () => 1,
    () => -0.37,
    () => 7,
    (i) => (i === 37 % nPerRow ? 1000 : 0.02 * Math.sin(i)),
    (i) => (i === 5 ? -30000 : 0.01 * Math.cos(i * 3)),
    (i) => (i === 5 ? 7.5 : 0),
    () => 1e-30,
    (i) => ((i % 3) - 1) * 1e-40, // denormals
    (i) => (i === 3 ? 1e-45 : 0), // the smallest denormal alone
    (i) => i * 1e-45,
    (i) => (i % 2 ? 3e38 : -3.4e38),
    (i) => (i % 2) * 131008, // overflows FP16 scales
    (i) => 0.5 * ((i % 5) - 2), // ties
    (i) => (i % 16) - 8, // integer grid
    (i) => [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, 0.125, 3][i % 10]! * (i % 20 < 10 ? 1 : -1), // MXFP4 midpoints (d = 0.5)
    (i) => 2 ** ((i % 60) - 30), // many binades
    (i) => (i === 100 % nPerRow ? 1e6 : 1e-3 * (i % 7)),
    (i) => (i < nPerRow / 2 ? 0 : Math.sin(i)), // zero blocks next to live ones
    (i) => (i === 7 ? Infinity : i * 0.1),
    (i) => (i === 9 ? -Infinity : 1),
    (i) => (i === 3 ? NaN : i * 0.01),
    (i) => (i === 0 ? 5 : i === 1 ? NaN : 0.01 * i), // ggml's MAX macro forgets the max before a NaN
    (i) => (i === 2 ? -1000 : i === 9 ? NaN : 0.01 * (i % 50)),
  ];
  const x = new Float32Array(fs.length * nPerRow);
  fs.forEach((f, r) => {
    for (let i = 0; i < nPerRow; i++) x[r * nPerRow + i] = f(i);
  });
  return { x, nRows: fs.length };
}

for (const name of NAMES) {
  test(`${name}: golden vectors from ggml_quantize_chunk, with and without imatrix`, () => {
    const g = loadGolden();
    const c = codec(name);
    const gt = g.types[name];
    assert.ok(gt, `golden has ${name}`);
    assert.equal(c.type.id, gt.id);
    assertBytes(
      quantize(c, g.input, g.rows, g.rowLength, null),
      g.bytes(gt.quant.file),
      `${name} golden`,
      c.type.typeSize,
    );
    assert.ok(gt.imatrixQuant, `golden has ${name} imatrix vectors`);
    const withIm = quantize(c, g.input, g.imatrixRows, g.rowLength, g.imatrix);
    assertBytes(withIm, g.bytes(gt.imatrixQuant.file), `${name} golden imatrix`, c.type.typeSize);
    assert.equal(c.usesImatrix, USES_IMATRIX[name]);
    const plain = quantize(c, g.input, g.imatrixRows, g.rowLength, null);
    // formats that ignore the imatrix give the same bytes; the others must differ somewhere
    if (c.usesImatrix) assert.notDeepEqual(withIm, plain);
    else assert.deepEqual(withIm, plain);
  });

  test(`${name}: quantize and dequantize match the live ggml oracle over seeds, row lengths, imatrices`, () => {
    const o = oracle();
    const c = codec(name);
    const bs = c.type.blockSize;
    const lengths = bs === 32 ? [32, 96, 256, 1024] : [256, 512, 1536];
    let seed = 1;
    for (const nPerRow of lengths) {
      const nRows = Math.max(2, Math.floor(8192 / nPerRow));
      for (let k = 0; k < 6; k++, seed++) {
        const x = randomRows(seed * 7919, nRows, nPerRow);
        const imatrices: (Float32Array | null)[] = [null, randomImatrix(seed, nPerRow, k % 4)];
        for (const im of imatrices) {
          const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
          const what = `${name} seed ${seed} n=${nPerRow} ${im ? `imatrix kind ${k % 4}` : 'no imatrix'}`;
          assertBytes(quantize(c, x, nRows, nPerRow, im), ref, what, c.type.typeSize);
          const y = new Float32Array(x.length);
          c.dequantize(ref, y, x.length);
          assertFloats(y, o.dequantize(c.type.id, ref, x.length), `${what} dequantize`);
        }
      }
    }
  });

  test(`${name}: edge cases (zeros, constants, outliers, denormals, huge, ties, Inf/NaN) match ggml`, () => {
    const o = oracle();
    const c = codec(name);
    for (const nPerRow of [256, 512]) {
      const { x, nRows } = edgeRows(nPerRow);
      for (const im of [null, randomImatrix(99, nPerRow, 1), randomImatrix(98, nPerRow, 2)]) {
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
    }
  });
}

test('IQ4_NL reference path (quantize_row_iq4_nl_ref) matches the golden ref vectors', () => {
  const g = loadGolden();
  const gt = g.types.IQ4_NL!;
  assert.ok(gt.ref, 'golden has iq4_nl ref vectors');
  const expected = g.bytes(gt.ref.file);
  const out = new Uint8Array(expected.length);
  for (let r = 0; r < g.rows; r++) {
    quantizeRowIq4NlRef(
      g.input.subarray(r * g.rowLength, (r + 1) * g.rowLength),
      out.subarray(r * gt.rowBytes),
      g.rowLength,
    );
  }
  // ggml packs uninitialised levels for all-zero blocks (d = 0 there): the manifest lists them
  const undefinedQs = new Set<number>((gt.ref as { undefinedQsBlocks?: number[] }).undefinedQsBlocks ?? []);
  assert.ok(undefinedQs.size > 0);
  for (let i = 0; i < out.length; i++) {
    const block = Math.floor(i / 18);
    if (undefinedQs.has(block) && i % 18 >= 2) continue;
    if (out[i] !== expected[i]) assert.fail(`ref byte ${i} (block ${block}) is ${out[i]}, ggml has ${expected[i]}`);
  }
  // and the chunk path really is a different search
  assert.notDeepEqual(out, g.bytes(gt.quant.file));
});

test('IQ4_NL reference path matches the live oracle on rows without all-zero blocks', () => {
  const o = oracle();
  for (let seed = 1; seed <= 12; seed++) {
    const x = randomRows(seed * 31, 8, 256);
    const out = new Uint8Array((x.length / 32) * 18);
    quantizeRowIq4NlRef(x, out, x.length);
    assertBytes(out, o.quantizeRef(20, x), `iq4_nl ref seed ${seed}`, 18);
  }
});

test('IQ4 nearest-level table equals a literal port of best_index_int8 (float32 compares)', () => {
  const val = IQ4NL_VALUES;
  const f = Math.fround;
  const literal = (x: number): number => {
    if (x <= val[0]!) return 0;
    if (x >= val[15]!) return 15;
    let ml = 0,
      mu = 15;
    while (mu - ml > 1) {
      const mav = (ml + mu) >> 1;
      if (x < val[mav]!) mu = mav;
      else ml = mav;
    }
    return f(x - val[mu - 1]!) < f(val[mu]! - x) ? mu - 1 : mu;
  };
  const F = new Float32Array(1);
  const U = new Uint32Array(F.buffer);
  const check = (bits: number) => {
    U[0] = bits >>> 0;
    const x = F[0]!;
    if (bestIndexIq4(x) !== literal(x))
      assert.fail(`best index of ${x}: ${bestIndexIq4(x)}, best_index_int8 ${literal(x)}`);
  };
  const centres = [0, 1e-30];
  for (let i = 0; i < 16; i++) centres.push(val[i]!, i < 15 ? (val[i]! + val[i + 1]!) / 2 : 0);
  for (const c of centres)
    for (const s of [c, -c]) {
      F[0] = s;
      const b = U[0]!;
      for (let k = -2000; k <= 2000; k++) check(b + k);
    }
  for (let b = 0; b < 0x100000000; b += 4099) check(b); // every exponent, both signs, NaN and Inf
});

test('MXFP4 scale exponent matches ggml at every binade edge, denormals included', () => {
  // floor(log2f(amax)) is decided by log2f's float rounding just below each power of two
  const o = oracle();
  const amaxes: number[] = [];
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let e = 1; e < 255; e++) {
    for (let m = 0; m < 160; m++) {
      u[0] = (e << 23) - m;
      amaxes.push(f[0]!);
    }
    u[0] = (e << 23) + 1;
    amaxes.push(f[0]!);
  }
  for (let k = -149; k <= -126; k++)
    for (let j = 0; j < 48 && j * 2 ** -149 < 2 ** k; j++) amaxes.push(Math.fround(2 ** k - j * 2 ** -149));
  const x = new Float32Array(amaxes.length * 32);
  amaxes.forEach((a, i) => {
    x[i * 32] = a;
    // and some values at and between the block's levels, for the nearest-level search
    for (let j = 1; j < 32; j++)
      x[i * 32 + j] = Math.fround(a * ((j % 2 ? -1 : 1) * (j / 32) + (j % 5 === 0 ? 1 / 48 : 0)));
  });
  const ref = o.quantize(39, x, amaxes.length, 32, null);
  amaxes.forEach((a, i) => {
    if (mxfp4Exponent(a) !== ref[i * 17]) assert.fail(`exponent of ${a}: ${mxfp4Exponent(a)}, ggml ${ref[i * 17]}`);
  });
  assertBytes(quantize(codec('MXFP4'), x, amaxes.length, 32, null), ref, 'mxfp4 binade edges', 17);
});

test('E8M0 conversions', () => {
  assert.equal(e8m0ToFp32(127), 1);
  assert.equal(e8m0ToFp32(0), 2 ** -127);
  assert.equal(e8m0ToFp32(254), 2 ** 127);
  assert.equal(e8m0ToFp32Half(0), 2 ** -128);
  assert.equal(e8m0ToFp32Half(1), 2 ** -127);
  assert.equal(e8m0ToFp32Half(128), 1);
  for (let x = 0; x < 255; x++) assert.equal(e8m0ToFp32Half(x), e8m0ToFp32(x) / 2);
});
