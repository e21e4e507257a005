// The real MNIST CNN (../shared/data/mnist-cnn.onnx) on the 10000-image MNIST test set: the 8-bit
// variants run in onnxruntime-node, lose at most 0.3 points of accuracy, and shrink the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel, type Variant } from '../../src/onnx/variants.js';
import { loadMnist, mnistAccuracy, mnistModelMissing, MNIST_MODEL } from './support/mnist.js';

const FP32_ACCURACY = 0.9787;

test('MNIST CNN: q8 (= uint8 here) and int8 per-channel within 0.3 points of FP32', { skip: mnistModelMissing }, async () => {
  const bytes = readFileSync(MNIST_MODEL);
  const data = loadMnist();
  const base = FP32_ACCURACY; // checked in mnist-fp.test.ts
  // a model with convolutions gets uint8 weights under q8 (as transformers.js's quantize script does):
  // the same file as uint8, so it is scored once
  const q8 = decodeModel(bytes), u8 = decodeModel(bytes);
  quantizeOnnxModel(q8, 'q8');
  quantizeOnnxModel(u8, 'uint8');
  assert.deepEqual(encodeModel(q8), encodeModel(u8));
  const cases: [Variant, { perChannel?: boolean }][] = [['q8', {}], ['int8', { perChannel: true }]];
  for (const [v, o] of cases) {
    const m = decodeModel(bytes);
    const report = quantizeOnnxModel(m, v, o);
    assert.equal(report.actions.filter((a) => !a.action.startsWith('kept')).length, 4, `${v}: both Convs and both Gemms quantized`);
    const q = encodeModel(m);
    const acc = await mnistAccuracy(q, data);
    console.log(`${v}${o.perChannel ? ' per-channel' : ''}: accuracy ${(acc * 100).toFixed(2)}% (FP32 ${(base * 100).toFixed(2)}%), ${q.length} of ${bytes.length} bytes`);
    assert.ok(acc >= base - 0.003, `${v}: ${acc} loses more than 0.3 points`);
    assert.ok(q.length < bytes.length * 0.3, `${v}: ${q.length} bytes is not about a quarter of ${bytes.length}`);
  }
});
