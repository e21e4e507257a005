// One 8-bit MNIST case: quantize the real CNN, score it on the 10000 test images, check the loss
// (at most 0.3 points) and the size (about a quarter). Shared by the two mnist-int8 test files, which
// are split so each stays well under a minute on a loaded machine.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../../src/io/onnx/model.js';
import { quantizeOnnxModel, type Variant } from '../../../src/onnx/variants.js';
import { mnistAccuracy, MNIST_MODEL } from './mnist.js';

/** checked in mnist-fp.test.ts */
export const FP32_ACCURACY = 0.9787;

export async function mnistInt8Case(v: Variant, o: { perChannel?: boolean }): Promise<void> {
  const bytes = readFileSync(MNIST_MODEL);
  const m = decodeModel(bytes);
  const report = quantizeOnnxModel(m, v, o);
  assert.equal(
    report.actions.filter((a) => !a.action.startsWith('kept')).length,
    4,
    `${v}: both Convs and both Gemms quantized`,
  );
  const q = encodeModel(m);
  const acc = await mnistAccuracy(q);
  console.log(
    `${v}${o.perChannel ? ' per-channel' : ''}: accuracy ${(acc * 100).toFixed(2)}% (FP32 ${(FP32_ACCURACY * 100).toFixed(2)}%), ${q.length} of ${bytes.length} bytes`,
  );
  assert.ok(acc >= FP32_ACCURACY - 0.003, `${v}: ${acc} loses more than 0.3 points`);
  assert.ok(q.length < bytes.length * 0.3, `${v}: ${q.length} bytes is not about a quarter of ${bytes.length}`);
}
