// NF4 as ONNX Runtime's MatMulBnb4 quantizer computes it (the end-to-end check against ORT's kernel is
// in test/onnx/transformer.test.ts): levels map to themselves, midpoints split as bitsandbytes does,
// first value in the high nibble.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantizeNf4, nf4Code, NF4_LEVELS, quantizeNf4 } from '../../../src/formats/scalar/nf4.js';

test('every NF4 level codes to itself; values between levels go to the nearer one', () => {
  NF4_LEVELS.forEach((v, c) => assert.equal(nf4Code(v), c));
  for (let c = 0; c + 1 < 16; c++) {
    const mid = (NF4_LEVELS[c]! + NF4_LEVELS[c + 1]!) / 2;
    assert.equal(nf4Code(mid - 1e-4), c);
    assert.equal(nf4Code(mid + 1e-4), c + 1);
  }
  assert.equal(nf4Code(0), 7);
  assert.equal(nf4Code(-5), 0);
  assert.equal(nf4Code(5), 15);
});

test('blocks of absmax, high nibble first, an odd tail padded with the code of 0', () => {
  // block size 4 (ORT uses even powers of two, so blocks never share a byte)
  const x = Float32Array.of(-2, 1, 0, 2, /* block 2 */ 4, -4, 3);
  const q = quantizeNf4(x, 4);
  assert.deepEqual([...q.absmax], [2, 4]);
  // scaled: -1 -> 0, .5 -> 12 (.4407; the split with .5626 is at .5017), 0 -> 7, 1 -> 15
  assert.deepEqual([...q.data], [(0 << 4) | 12, (7 << 4) | 15, (15 << 4) | 0, (14 << 4) | 7]);
  const d = dequantizeNf4(q, x.length, 4);
  assert.deepEqual([...d], [-2, Math.fround(NF4_LEVELS[12]! * 2), 0, 2, 4, -4, Math.fround(NF4_LEVELS[14]! * 4)]);
});
