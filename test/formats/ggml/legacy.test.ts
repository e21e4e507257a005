// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 against ggml itself: the committed golden vectors, then the live
// libggml-base.so over many seeds, shapes, edge cases and importance matrices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { BlockCodec } from '../../../src/formats/codec.js';
import { rowBytes } from '../../../src/formats/codec.js';
import { q4_0 } from '../../../src/formats/ggml/q4_0.js';
import { q4_1 } from '../../../src/formats/ggml/q4_1.js';
import { q5_0 } from '../../../src/formats/ggml/q5_0.js';
import { q5_1 } from '../../../src/formats/ggml/q5_1.js';
import { q8_0 } from '../../../src/formats/ggml/q8_0.js';
import { loadGolden } from '../../support/golden.js';
import { oracle, randomRows, rng } from '../../support/oracle.js';

const CODECS: BlockCodec[] = [q4_0, q4_1, q5_0, q5_1, q8_0];

function quantize(
  c: BlockCodec,
  src: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): Uint8Array {
  const out = new Uint8Array(rowBytes(c, nPerRow) * nRows);
  c.quantize(src, out, nRows, nPerRow, imatrix);
  return out;
}

/** First differing block, described, or null: keeps failures readable instead of dumping MBs. */
function firstBlockDiff(c: BlockCodec, got: Uint8Array, want: Uint8Array, src: Float32Array): string | null {
  assert.equal(got.length, want.length);
  const ts = c.type.typeSize;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      const b = Math.floor(i / ts);
      const xs = Array.from(src.subarray(b * 32, b * 32 + 32))
        .map((v) => v.toPrecision(9))
        .join(',');
      return `block ${b} byte ${i % ts}: got ${Array.from(got.subarray(b * ts, b * ts + ts))} want ${Array.from(want.subarray(b * ts, b * ts + ts))} x=[${xs}]`;
    }
  }
  return null;
}

function assertSameQuant(
  c: BlockCodec,
  src: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
  what: string,
): void {
  const want = oracle().quantize(c.type.id, src, nRows, nPerRow, imatrix);
  const got = quantize(c, src, nRows, nPerRow, imatrix);
  const diff = firstBlockDiff(c, got, want, src);
  assert.equal(diff, null, `${c.name} ${what}: ${diff}`);
}

/** float32 bit equality, except that any NaN equals any NaN (payloads are not a contract). */
function assertSameFloats(got: Float32Array, want: Float32Array, what: string): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  assert.equal(got.length, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      assert.fail(
        `${what}: value ${i} got ${got[i]} (0x${g[i]!.toString(16)}) want ${want[i]} (0x${w[i]!.toString(16)})`,
      );
    }
  }
}

function randomImatrix(seed: number, n: number, zeroFraction: number): Float32Array {
  const r = rng(seed);
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = r() < zeroFraction ? 0 : r() * r() * 10 ** (r() * 4 - 2);
  return m;
}

/** Rows of 256 hitting the corners of every format: see each comment. */
function edgeRows(): Float32Array {
  const n = 256;
  const rows: ((i: number) => number)[] = [
    () => 0,
    () => 1,
    () => -0.37,
    (i) => (i === 77 ? 1e4 : Math.sin(i)), // one huge outlier
    (i) => (i === 5 ? -1e4 : Math.cos(i) * 1e-3),
    (i) => Math.sin(i * 1.3) * 1e-30,
    (i) => Math.sin(i * 0.7) * 1e-40, // float32 denormals: 1/d overflows to Inf
    (i) => (i % 3) * 1e-45, // smallest denormals
    (i) => (i % 2 ? 1e-45 : 0),
    (i) => Math.sin(i) * 1e30, // FP16 scale overflows to Inf
    (i) => Math.sin(i) * 65504 * 8, // Q4_0 scale near FP16 max
    (i) => Math.sin(i) * 65504 * 16,
    (i) => Math.sin(i) * 65504 * 127,
    (i) => ((i % 2 ? -1 : 1) * 65504 * 15 * (i % 5)) / 4,
    (i) => (i % 32 === 0 ? 127 : ((i * 7) % 255) - 127 + 0.5), // Q8_0: d = 1, exact .5 ties
    (i) => (i % 32 === 0 ? -8 : ((i * 5) % 16) - 8 + 0.5), // Q4_0: d = 1, ties
    (i) => (i % 32 === 0 ? -16 : ((i * 5) % 32) - 16 + 0.5), // Q5_0: d = 1, ties
    (i) => (i % 32 === 0 ? 15 : i % 32 === 1 ? 0 : ((i * 3) % 15) + 0.5), // Q4_1: d = 1, ties
    (i) => (i % 32 === 0 ? 31 : i % 32 === 1 ? 0 : ((i * 3) % 31) + 0.5), // Q5_1: d = 1, ties
    (i) => 3 + (i % 4) * 1e-7, // near-constant, tiny range over a big offset
    (i) => -(i + 1), // all negative
    (i) => (i % 32 < 31 ? 1e-20 : 1), // one value dominates each block
    (i) => 2 ** ((i % 60) - 30) * (i % 2 ? -1 : 1), // wide dynamic range
    (i) => [0, -0, 0.5, -0, 0][i % 5]!, // +0/-0 mixes: ggml keeps the first of equal min/max
    (i) => [-0, 0, -0.25, 0][i % 4]!,
    (i) => ((i >> 5) % 2 ? 1 : -1) * (i % 32 === 3 ? 2 : i % 32 === 9 ? -2 : Math.sin(i)), // ±amax ties
    (i) => (i % 32 === 7 ? Infinity : i % 32 === 20 ? -Infinity : Math.cos(i)),
    (i) => (i % 64 === 11 ? Infinity : Math.cos(i)),
    (i) => (i % 32 === 13 ? NaN : Math.cos(i)),
    (i) => (i % 32 === 31 ? NaN : i % 32 === 0 ? -5 : Math.cos(i)), // NaN last in a block
  ];
  const out = new Float32Array(rows.length * n);
  rows.forEach((f, r) => {
    for (let i = 0; i < n; i++) out[r * n + i] = f(i);
  });
  return out;
}

test('legacy formats reproduce the committed ggml golden vectors', () => {
  const g = loadGolden();
  const n = g.rowLength;
  for (const c of CODECS) {
    const t = g.types[c.name];
    assert.ok(t, `golden manifest lists ${c.name}`);
    const got = quantize(c, g.input, g.rows, n, null);
    assert.equal(firstBlockDiff(c, got, g.bytes(t.quant.file), g.input), null, `${c.name} golden`);
    if (t.imatrixQuant) {
      const src = g.input.subarray(0, g.imatrixRows * n);
      const gotI = quantize(c, src, g.imatrixRows, n, g.imatrix);
      assert.equal(firstBlockDiff(c, gotI, g.bytes(t.imatrixQuant.file), src), null, `${c.name} golden imatrix`);
    }
    const deq = new Float32Array(g.rows * n);
    c.dequantize(g.bytes(t.quant.file), deq, deq.length);
    const sha = createHash('sha256').update(new Uint8Array(deq.buffer)).digest('hex');
    assert.equal(sha, (t as unknown as { dequant: { sha256: string } }).dequant.sha256, `${c.name} golden dequant`);
  }
});

test('legacy formats match live ggml over seeds, row lengths and importance matrices', () => {
  for (const c of CODECS) {
    for (const [nPerRow, nRows, seeds] of [
      [32, 64, 6],
      [64, 32, 6],
      [256, 16, 8],
      [4096, 4, 3],
    ] as const) {
      for (let s = 0; s < seeds; s++) {
        const seed = nPerRow * 1000 + s;
        const src = randomRows(seed, nRows, nPerRow);
        assertSameQuant(c, src, nRows, nPerRow, null, `seed ${seed} n=${nPerRow}`);
        assertSameQuant(
          c,
          src,
          nRows,
          nPerRow,
          randomImatrix(seed, nPerRow, s % 2 ? 0.3 : 0),
          `seed ${seed} n=${nPerRow} imatrix`,
        );
      }
    }
  }
});

test('legacy formats match live ggml on edge cases, with and without imatrix', () => {
  const src = edgeRows();
  const nRows = src.length / 256;
  const ones = new Float32Array(256).fill(1);
  const zeros = new Float32Array(256);
  for (const c of CODECS) {
    assertSameQuant(c, src, nRows, 256, null, 'edge rows');
    assertSameQuant(c, src, nRows, 256, ones, 'edge rows, imatrix of ones');
    assertSameQuant(c, src, nRows, 256, zeros, 'edge rows, imatrix of zeros');
    assertSameQuant(c, src, nRows, 256, randomImatrix(7, 256, 0.5), 'edge rows, half-zero imatrix');
    // the same rows seen as 32-long rows: per-row statistics change in the imatrix path
    assertSameQuant(c, src, nRows * 8, 32, randomImatrix(8, 32, 0.2), 'edge rows as n=32');
  }
});

test('legacy dequantize matches ggml to_float on quantized and random bytes', () => {
  const o = oracle();
  const r = rng(99);
  for (const c of CODECS) {
    const src = randomRows(4242, 32, 256);
    const q = quantize(c, src, 32, 256, null);
    const got = new Float32Array(src.length);
    c.dequantize(q, got, src.length);
    assertSameFloats(got, o.dequantize(c.type.id, q, src.length), `${c.name} dequantize of quantized`);
    // arbitrary bytes: every code pattern, FP16 scales including subnormals, Inf and NaN
    const nBlocks = 4096;
    const bytes = new Uint8Array(nBlocks * c.type.typeSize);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    const gotR = new Float32Array(nBlocks * 32);
    c.dequantize(bytes, gotR, gotR.length);
    assertSameFloats(gotR, o.dequantize(c.type.id, bytes, gotR.length), `${c.name} dequantize of random bytes`);
  }
});
