import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import { gv } from '../../src/io/gguf/metadata.js';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { compareGguf, weightHistogram } from '../../src/analysis/compare-gguf.js';
import { errorStats } from '../../src/analysis/error-stats.js';
import { oracle, randomRows } from '../support/oracle.js';

interface T {
  name: string;
  dims: number[];
  type: number;
  values: Float32Array;
}

async function gguf(tensors: T[], name: string): Promise<BufferSource> {
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: [['general.architecture', gv.str('test')]],
    tensors: tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type })),
  });
  for (const t of tensors) {
    const c = codecByTypeId(t.type)!;
    const bytes = new Uint8Array((t.values.length / c.type.blockSize) * c.type.typeSize);
    c.quantize(t.values, bytes, t.values.length / t.dims[0]!, t.dims[0]!, null);
    await w.writeTensorData(t.name, bytes);
  }
  await w.finish();
  return new BufferSource(sink.bytes(), name);
}

const W1 = randomRows(7, 24, 64),
  W2 = randomRows(8, 5, 256),
  N = randomRows(9, 1, 64);

test('GGUF compare: per-tensor metrics equal ggml-dequantized error, totals, worst list, unmatched tensors', async () => {
  const a = await gguf(
    [
      { name: 'w1', dims: [64, 24], type: GGML_TYPE.F32, values: W1 },
      { name: 'w2', dims: [256, 5], type: GGML_TYPE.F32, values: W2 },
      { name: 'norm', dims: [64], type: GGML_TYPE.F32, values: N },
      { name: 'only_a', dims: [32], type: GGML_TYPE.F32, values: new Float32Array(32) },
    ],
    'a.gguf',
  );
  const b = await gguf(
    [
      { name: 'w1', dims: [64, 24], type: GGML_TYPE.Q4_0, values: W1 },
      { name: 'w2', dims: [256, 5], type: GGML_TYPE.Q8_0, values: W2 },
      { name: 'norm', dims: [64], type: GGML_TYPE.F32, values: N },
      { name: 'only_b', dims: [32], type: GGML_TYPE.F32, values: new Float32Array(32) },
    ],
    'b.gguf',
  );
  // small chunks so every tensor is streamed in several pieces
  const r = await compareGguf(a, b, { chunkElements: 200 });
  assert.deepEqual(
    r.tensors.map((t) => [t.name, t.typeA, t.typeB, t.bitsPerWeightB]),
    [
      ['w1', 'F32', 'Q4_0', 4.5],
      ['w2', 'F32', 'Q8_0', 8.5],
      ['norm', 'F32', 'F32', 32],
    ],
  );
  assert.deepEqual(r.onlyInA, ['only_a']);
  assert.deepEqual(r.onlyInB, ['only_b']);

  // the reference: ggml's own dequantization of ggml's own quantization
  const o = oracle();
  const expect = (src: Float32Array, type: number, nPerRow: number) => {
    const q = o.quantize(type, src, src.length / nPerRow, nPerRow, null);
    return errorStats(src, o.dequantize(type, q, src.length));
  };
  const e1 = expect(W1, GGML_TYPE.Q4_0, 64),
    e2 = expect(W2, GGML_TYPE.Q8_0, 256);
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  for (const [got, want] of [
    [r.tensors[0]!.stats, e1],
    [r.tensors[1]!.stats, e2],
  ] as const) {
    assert.equal(got.maxAbs, want.maxAbs);
    assert.ok(close(got.rmse, want.rmse) && close(got.sqnrDb, want.sqnrDb) && close(got.cosine, want.cosine));
  }
  assert.equal(r.tensors[2]!.stats.sqnrDb, Infinity);
  assert.ok(e1.sqnrDb < e2.sqnrDb, 'Q4_0 is noisier than Q8_0');
  assert.deepEqual(
    r.worst.map((t) => t.name),
    ['w1', 'w2'],
  );
  assert.equal(r.total.elements, 64 * 24 + 256 * 5 + 64);
  assert.ok(Math.abs(r.total.bitsPerWeightB - (4.5 * 64 * 24 + 8.5 * 256 * 5 + 32 * 64) / r.total.elements) < 1e-12);
  assert.equal(r.total.maxAbs, Math.max(e1.maxAbs, e2.maxAbs));
});

test('GGUF compare: mismatched shapes are reported, not compared', async () => {
  const a = await gguf([{ name: 'w', dims: [64, 2], type: GGML_TYPE.F32, values: W1.subarray(0, 128) }], 'a');
  const b = await gguf([{ name: 'w', dims: [32, 4], type: GGML_TYPE.F32, values: W1.subarray(0, 128) }], 'b');
  const r = await compareGguf(a, b);
  assert.equal(r.tensors.length, 0);
  assert.match(r.skipped[0]!.reason, /shapes differ/);
});

test('weight histogram: shared bins, and one Q4_0 block lands on at most 16 levels', async () => {
  const a = await gguf([{ name: 'w', dims: [64, 24], type: GGML_TYPE.F32, values: W1 }], 'a');
  const b = await gguf([{ name: 'w', dims: [64, 24], type: GGML_TYPE.Q4_0, values: W1 }], 'b');
  const h = await weightHistogram(a, b, 'w', 50, 300);
  assert.equal(h.a.total, 64 * 24);
  assert.equal(h.b.total, 64 * 24);
  assert.equal(h.a.min, h.b.min);
  assert.equal(h.a.counts.length, 50);
  assert.ok(h.blockLevels.length >= 2 && h.blockLevels.length <= 16, `${h.blockLevels.length} levels`);
  assert.equal(
    h.blockLevels.reduce((s, l) => s + l.count, 0),
    32,
  );
  // Q4_0 levels are d·k for integer k: all differences are multiples of the smallest step
  const v = h.blockLevels.map((l) => l.value);
  const d = Math.min(...v.slice(1).map((x, i) => x - v[i]!));
  for (const x of v) assert.ok(Math.abs(x / d - Math.round(x / d)) < 1e-3);
});
