// Affine INT8 quantization as ONNX Runtime's quantizer computes it: scale/zero-point formulas on known
// values, numpy rounding, and the quantized codes checked against ONNX Runtime's own QuantizeLinear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  computeScaleZp,
  qRange,
  quantizePerChannel,
  quantizePerTensor,
  quantizeValues,
  roundHalfEven,
} from '../../../src/formats/scalar/affine.js';
import { encodeModel } from '../../../src/io/onnx/model.js';
import { TensorProto_DataType as DT } from '../../../src/io/onnx/proto/onnx_pb.js';
import { float32Tensor, makeTensor } from '../../../src/io/onnx/tensor.js';
import { node } from '../../../src/onnx/graph.js';
import { model, randn, rng, valueInfo } from '../../onnx/support/build.js';

test('roundHalfEven is numpy.round', () => {
  assert.deepEqual(
    [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 3.5000001, 7].map(roundHalfEven).map((x) => x + 0),
    [0, 2, 2, 0, -2, -2, 2, 4, 7],
  );
});

test('compute_scale_zp on known ranges', () => {
  assert.deepEqual(qRange('int8', { symmetric: true }), [-127, 127]);
  assert.deepEqual(qRange('int8'), [-128, 127]);
  assert.deepEqual(qRange('uint8', { reduceRange: true }), [0, 127]);
  // uint8 asymmetric over [-1, 2]: scale 3/255, zero point round(1 / (3/255)) = 85
  assert.deepEqual(computeScaleZp(-1, 2, 0, 255, false), { scale: Math.fround(3 / 255), zeroPoint: 85 });
  // int8 symmetric: the range becomes [-2, 2], scale 4/254, zero point 0
  assert.deepEqual(computeScaleZp(-1, 2, -127, 127, true), { scale: Math.fround(4 / 254), zeroPoint: 0 });
  // uint8 symmetric: zero point round(127.5) = 128 (ties to even)
  assert.equal(computeScaleZp(-1, 2, 0, 255, true).zeroPoint, 128);
  // the range always includes 0: all-positive data still has zero point 0 for uint8
  assert.deepEqual(computeScaleZp(1, 3, 0, 255, false), { scale: Math.fround(3 / 255), zeroPoint: 0 });
  // empty range: scale 1, zero point 0
  assert.deepEqual(computeScaleZp(0, 0, -128, 127, false), { scale: 1, zeroPoint: 0 });
});

async function ortQuantizeLinear(
  x: Float32Array,
  scale: number,
  zp: number,
  type: 'int8' | 'uint8',
): Promise<number[]> {
  const dt = type === 'int8' ? DT.INT8 : DT.UINT8;
  const m = model(
    [node('QuantizeLinear', ['x', 's', 'z'], ['y'], 'q')],
    [float32Tensor('s', [], Float32Array.of(scale)), makeTensor('z', dt, [], Uint8Array.of(zp & 0xff))],
    [valueInfo('x', DT.FLOAT, [x.length])],
    [valueInfo('y', dt, [x.length])],
    13,
  );
  const s = await ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 3 });
  const y = (await s.run({ x: new ort.Tensor('float32', x, [x.length]) })).y!.data as Int8Array | Uint8Array;
  await s.release();
  return [...y];
}

test('quantized codes equal ONNX Runtime QuantizeLinear with the same scale and zero point', async () => {
  const r = rng(7);
  for (const [type, symmetric] of [
    ['int8', true],
    ['int8', false],
    ['uint8', false],
  ] as const) {
    const x = randn(r, 4096, 0.7);
    // ties: values that are exact half steps
    for (let i = 0; i < 64; i++) x[i] = (i - 32 + 0.5) * 0.01;
    const q = quantizePerTensor(x, type, symmetric);
    const ref = await ortQuantizeLinear(x, q.scales[0]!, q.zeroPoints[0]!, type);
    assert.deepEqual([...q.q], ref, `${type} symmetric=${symmetric}`);
  }
});

test('per-channel: each slice quantized on its own range', () => {
  // [2, 3] with axis 1: columns [1,-4], [2,5], [3,6]
  const x = Float32Array.of(1, 2, 3, -4, 5, 6);
  const q = quantizePerChannel(x, [2, 3], 1, 'int8', true);
  for (let c = 0; c < 3; c++) {
    const col = Float32Array.of(x[c]!, x[3 + c]!);
    const one = quantizePerTensor(col, 'int8', true);
    assert.equal(q.scales[c], one.scales[0]);
    assert.deepEqual([q.q[c], q.q[3 + c]], [...one.q]);
  }
  assert.deepEqual([...quantizeValues(Float32Array.of(1e9, -1e9), 'int8', 1, 0)], [127, -128]);
});
