// The real MNIST CNN on the MNIST test set: the FP32 model scores its published 97.87% with our
// preprocessing (so the other MNIST tests measure the quantization alone), and fp16 loses at most 0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel } from '../../src/onnx/variants.js';
import { loadMnist, mnistAccuracy, mnistModelMissing, MNIST_MODEL } from './support/mnist.js';

test(
  'MNIST CNN: FP32 scores 97.87%; fp16 within 0.1 points at half the size',
  { skip: mnistModelMissing },
  async () => {
    const bytes = readFileSync(MNIST_MODEL);
    const data = loadMnist();
    assert.equal(await mnistAccuracy(bytes, data), 0.9787);
    const m = decodeModel(bytes);
    const report = quantizeOnnxModel(m, 'fp16');
    const q = encodeModel(m);
    const acc = await mnistAccuracy(q, data);
    console.log(
      `fp16: accuracy ${(acc * 100).toFixed(2)}%, ${q.length} of ${bytes.length} bytes; ${report.notes.join('; ')}`,
    );
    assert.ok(acc >= 0.9777, `fp16: ${acc}`);
    assert.ok(q.length < bytes.length * 0.51);
  },
);
