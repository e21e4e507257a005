// The real MNIST CNN on the MNIST test set: q8 (transformers.js's "quantized"; with convolutions
// that is uint8 weights, the same file as the uint8 variant) within 0.3 points of FP32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel } from '../../src/onnx/variants.js';
import { MNIST_MODEL, mnistModelMissing } from './support/mnist.js';
import { mnistInt8Case } from './support/mnist-int8-case.js';

test('MNIST CNN: q8 (= uint8 here) within 0.3 points of FP32', { skip: mnistModelMissing }, async () => {
  const bytes = readFileSync(MNIST_MODEL);
  const q8 = decodeModel(bytes),
    u8 = decodeModel(bytes);
  quantizeOnnxModel(q8, 'q8');
  quantizeOnnxModel(u8, 'uint8');
  assert.deepEqual(encodeModel(q8), encodeModel(u8));
  await mnistInt8Case('q8', {});
});
