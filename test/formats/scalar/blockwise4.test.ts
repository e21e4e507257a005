// 4-bit block-wise quantization (MatMulNBits): hand-worked blocks; packing and scales agree with ONNX
// Runtime's MatMulNBits kernel (the exactness check over real graphs is in test/onnx/transformer.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantizeBlockwise4, quantizeBlockwise4 } from '../../../src/formats/scalar/blockwise4.js';

test('symmetric block: scale = largest-magnitude value / -8, codes around 8, packed low nibble first', () => {
  // one column (N=1), K=16, block 16: values 0..15 step 0.5 minus 4 => [-4 .. 3.5]
  const w = Float32Array.from({ length: 16 }, (_, k) => k * 0.5 - 4);
  const q = quantizeBlockwise4(w, 16, 1, 16, true);
  assert.equal(q.scales[0], Math.fround(-4 / -8));
  // v / 0.5 + 8: -4 -> 0, -3.5 -> 1, ..., 3.5 -> 15
  const codes = [...q.data].flatMap((b) => [b & 15, b >> 4]);
  assert.deepEqual(
    codes,
    Array.from({ length: 16 }, (_, k) => k),
  );
  assert.deepEqual([...dequantizeBlockwise4(q, 16, 1, 16)], [...w]);
  assert.equal(q.zeroPoints, undefined);
});

test('symmetric with a positive extreme: negative scale, the full -8..7 range used the other way', () => {
  const w = Float32Array.from({ length: 16 }, (_, k) => (k === 3 ? 8 : -1));
  const q = quantizeBlockwise4(w, 16, 1, 16, true);
  assert.equal(q.scales[0], -1);
  const codes = [...q.data].flatMap((b) => [b & 15, b >> 4]);
  assert.equal(codes[3], 0); // 8 * (1/-1) + 8
  assert.equal(codes[0], 9); // -1 * -1 + 8
});

test('asymmetric: zero points per block, two per byte, and a short last block', () => {
  const K = 40,
    N = 2,
    bs = 16;
  const w = Float32Array.from({ length: K * N }, (_, i) => (i % N === 0 ? (i / N) * 0.1 : -(i / N) * 0.2 + 1));
  const q = quantizeBlockwise4(w, K, N, bs, false);
  assert.equal(q.blocks, 3);
  assert.equal(q.data.length, N * 3 * 8);
  assert.equal(q.zeroPoints!.length, N * 2);
  // column 0 is all >= 0: zero point 0 in every block; the max of block 0 is 1.5 so scale 0.1
  assert.equal(q.zeroPoints![0]! & 15, 0);
  assert.equal(q.scales[0], Math.fround(Math.fround(1.5) / 15));
  const d = dequantizeBlockwise4(q, K, N, bs);
  for (let i = 0; i < w.length; i++) {
    const b = Math.floor(Math.floor(i / N) / bs);
    assert.ok(Math.abs(d[i]! - w[i]!) <= Math.abs(q.scales[(i % N) * 3 + b]!) / 2 + 1e-6, `${i}: ${d[i]} vs ${w[i]}`);
  }
});
