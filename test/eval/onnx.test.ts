// ONNX eval in the real ONNX Runtime on the MNIST CNN (workplace data, not committed: skipped loudly
// when absent) with the committed MNIST test set; IDX and .npy readers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { evalOnnx } from '../../src/eval/onnx.js';
import { parseIdx, readIdx } from '../../src/eval/idx.js';
import { parseNpy } from '../../src/eval/npy.js';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { DT } from '../../src/io/onnx/tensor.js';
import { FileFormatError } from '../../src/errors.js';
import { ROOT } from './models.js';

const CNN = join(ROOT, '../shared/data/mnist-cnn.onnx');
const IMAGES = join(ROOT, 'test/fixtures/mnist/t10k-images-idx3-ubyte.gz');
const LABELS = join(ROOT, 'test/fixtures/mnist/t10k-labels-idx1-ubyte.gz');
const skip = !existsSync(CNN) && `MNIST CNN not found at ${CNN} (workplace data, not committed)`;
if (skip) console.warn(`SKIPPING ONNX eval tests: ${skip}`);

/** The CNN with every float weight rounded to `bits` mantissa bits: a real, different model. */
function coarsened(bits: number): string {
  const m = decodeModel(new Uint8Array(readFileSync(CNN)));
  for (const t of m.graph!.initializer) {
    if (t.dataType !== DT.FLOAT || !t.rawData.length) continue;
    const u = new Uint32Array(t.rawData.slice().buffer);
    const drop = 23 - bits;
    for (let i = 0; i < u.length; i++) u[i] = (u[i]! + (1 << (drop - 1))) & ~((1 << drop) - 1);
    t.rawData = new Uint8Array(u.buffer);
  }
  const p = join(mkdtempSync(join(tmpdir(), 'lowbit-onnx-')), `cnn-m${bits}.onnx`);
  writeFileSync(p, encodeModel(m));
  return p;
}

test('MNIST CNN against itself: identical outputs, full agreement, accuracy from the labels', { skip }, async () => {
  const r = await evalOnnx({
    model: CNN,
    ref: CNN,
    inputs: IMAGES,
    labels: LABELS,
    limit: 500,
    pixels: 'mnist',
    batch: 64,
  });
  assert.equal(r.samples, 500); // the last partial batch runs too (dynamic batch axis)
  assert.equal(r.outputs.length, 1);
  assert.equal(r.outputs[0]!.maxAbs, 0);
  assert.equal(r.outputs[0]!.sqnrDb, Infinity);
  assert.equal(r.top1Agreement?.agreement, 1);
  assert.ok(r.accuracy!.model > 0.9, `accuracy ${r.accuracy!.model}`);
  assert.equal(r.accuracy!.model, r.accuracy!.ref);
  assert.ok(r.latencyMs.model > 0);
  // the shape shown is the whole evaluation's (500 samples), not the last batch's (500 % 64 = 52)
  assert.deepEqual(r.outputs[0]!.shape, [500, 10]);
});

test('IDX inputs that cannot feed the model: one message without blanks, naming both sizes', { skip }, async () => {
  await assert.rejects(evalOnnx({ model: CNN, ref: CNN, inputs: LABELS, limit: 10 }), (e: Error) => {
    assert.doesNotMatch(e.message, /  |\( |\[\]/, e.message);
    assert.match(
      e.message,
      /one value per sample .* cannot feed input .* which takes 784 values per sample/,
      e.message,
    );
    return true;
  });
});

test('a coarsened CNN: outputs move, coarser moves more, accuracy of each reported', { skip }, async () => {
  const m4 = coarsened(4),
    m2 = coarsened(1);
  const r4 = await evalOnnx({ model: m4, ref: CNN, inputs: IMAGES, labels: LABELS, limit: 300, pixels: 'mnist' });
  const r1 = await evalOnnx({ model: m2, ref: CNN, inputs: IMAGES, labels: LABELS, limit: 300, pixels: 'mnist' });
  assert.ok(r4.outputs[0]!.maxAbs > 0);
  assert.ok(r1.outputs[0]!.sqnrDb < r4.outputs[0]!.sqnrDb, `${r1.outputs[0]!.sqnrDb} vs ${r4.outputs[0]!.sqnrDb}`);
  assert.ok(r4.outputs[0]!.cosine < 1 && r4.outputs[0]!.cosine > 0.9);
  assert.ok(r1.top1Agreement!.agreement <= r4.top1Agreement!.agreement);
  assert.ok(r4.accuracy!.ref > 0.9);
  // random inputs work without a data set
  const rr = await evalOnnx({ model: m4, ref: CNN, batch: 4, randomBatches: 2 });
  assert.equal(rr.samples, 8);
  assert.ok(rr.outputs[0]!.maxAbs > 0);
});

test('IDX reader: MNIST files, and sizes checked before allocating', async () => {
  const img = await readIdx(IMAGES),
    lab = await readIdx(LABELS);
  assert.deepEqual(img.dims, [10000, 28, 28]);
  assert.deepEqual(lab.dims, [10000]);
  assert.ok(Array.from(lab.data.subarray(0, 100)).every((d) => d >= 0 && d <= 9));
  const ok = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]);
  assert.deepEqual(Array.from(parseIdx(ok).data), [-2, 256]); // big-endian int16
  const huge = Uint8Array.from([0, 0, 8, 2, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1]);
  assert.throws(
    () => parseIdx(huge, 'x.idx'),
    (e: unknown) => e instanceof FileFormatError && /need .* bytes, file has 13/.test((e as Error).message),
  );
  assert.throws(() => parseIdx(Uint8Array.from([1, 2, 3, 4]), 'x.idx'), /bad magic/);
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-idx-'));
  writeFileSync(join(dir, 'a.gz'), gzipSync(ok));
  assert.deepEqual((await readIdx(join(dir, 'a.gz'))).dims, [2]);
});

test('.npy reader: header, dtype and size checks', () => {
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = header + ' '.repeat(pad) + '\n';
  const bytes = new Uint8Array(10 + h.length + 24);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  bytes.set(new TextEncoder().encode(h), 10);
  bytes.set(new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer), 10 + h.length);
  const a = parseNpy(bytes);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(Array.from(a.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.throws(() => parseNpy(bytes.subarray(0, bytes.length - 4), 'x.npy'), /needs 24 data bytes, file has 20/);
});
