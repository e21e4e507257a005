// The real MNIST CNN on the MNIST test set: q4 and q4f16 run in onnxruntime-node, keep accuracy within
// 1 point, and shrink the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel, type Variant } from '../../src/onnx/variants.js';
import { loadMnist, mnistAccuracy, mnistModelMissing, MNIST_MODEL } from './support/mnist.js';

const FP32_ACCURACY = 0.9787;

test(
  'MNIST CNN: q4 (block 32, and asymmetric block 128) and q4f16 within 1 point of FP32',
  { skip: mnistModelMissing },
  async () => {
    const bytes = readFileSync(MNIST_MODEL);
    const data = loadMnist();
    const cases: [Variant, { blockSize?: number; asymmetric?: boolean }, number, number][] = [
      ['q4', {}, 0.01, 0.25],
      ['q4', { blockSize: 128, asymmetric: true }, 0.01, 0.25],
      ['q4f16', {}, 0.01, 0.2],
    ];
    for (const [v, o, maxLoss, maxRatio] of cases) {
      const m = decodeModel(bytes);
      quantizeOnnxModel(m, v, o);
      const q = encodeModel(m);
      const acc = await mnistAccuracy(q, data);
      console.log(
        `${v} ${JSON.stringify(o)}: accuracy ${(acc * 100).toFixed(2)}%, ${q.length} of ${bytes.length} bytes`,
      );
      assert.ok(acc >= FP32_ACCURACY - maxLoss, `${v}: ${acc} loses more than ${maxLoss * 100} points`);
      assert.ok(q.length < bytes.length * maxRatio, `${v}: ${q.length} bytes vs ${bytes.length}`);
    }
  },
);
