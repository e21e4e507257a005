// The MNIST test set (committed fixture) and the real MNIST CNN from the shared data folder, scored
// with onnxruntime-node: accuracy of a model file's bytes over all 10000 test images.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const FIX = join(import.meta.dirname, '../../fixtures/mnist');
/** ../shared/data beside the repository (see the brief); absent outside this workplace */
export const MNIST_MODEL = join(import.meta.dirname, '../../../../shared/data/mnist-cnn.onnx');
export const mnistModelMissing = existsSync(MNIST_MODEL)
  ? false
  : `MNIST model not found at ${MNIST_MODEL} (../shared/data/mnist-cnn.onnx): skipped`;

export function loadMnist(): { images: Float32Array; labels: Uint8Array; n: number } {
  const img = gunzipSync(readFileSync(join(FIX, 't10k-images-idx3-ubyte.gz')));
  const lab = gunzipSync(readFileSync(join(FIX, 't10k-labels-idx1-ubyte.gz')));
  const n = img.readUInt32BE(4);
  const images = new Float32Array(n * 784);
  for (let i = 0; i < n * 784; i++) images[i] = (img[16 + i]! / 255 - 0.1307) / 0.3081;
  return { images, labels: lab.subarray(8, 8 + n), n };
}

export async function session(
  bytes: Uint8Array,
  opts: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    ...opts,
  });
}

/** Fraction of test images classified correctly (batches of 500). */
export async function mnistAccuracy(bytes: Uint8Array, data = loadMnist()): Promise<number> {
  const s = await session(bytes);
  const inName = s.inputNames[0]!;
  const outName = s.outputNames[0]!;
  let correct = 0;
  const B = 500;
  for (let i = 0; i < data.n; i += B) {
    const b = Math.min(B, data.n - i);
    const x = new ort.Tensor('float32', data.images.subarray(i * 784, (i + b) * 784), [b, 1, 28, 28]);
    const y = (await s.run({ [inName]: x }))[outName]!.data as Float32Array;
    for (let j = 0; j < b; j++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (y[j * 10 + c]! > y[j * 10 + best]!) best = c;
      if (best === data.labels[i + j]) correct++;
    }
  }
  await s.release();
  return correct / data.n;
}
