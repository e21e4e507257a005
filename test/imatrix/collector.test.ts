// The engine-agnostic importance-matrix core: accumulation (float32 as llama-imatrix), MoE routing,
// the GGUF and legacy writers read back by the readers llama-quantize's semantics use, merging, and
// statistics. No engine needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImatrixCollector, type StridedView } from '../../src/imatrix/collector.js';
import { checkSameModel, encodeImatrixDat, encodeImatrixGguf, readRawImatrix } from '../../src/imatrix/file.js';
import { computeStatistics } from '../../src/imatrix/statistics.js';
import { readImatrix } from '../../src/io/imatrix.js';
import { sumSqKernel } from '../../src/imatrix/sumsq.js';
import { BufferSource } from '../../src/io/source.js';

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  };
}

function dense(rows: number, cols: number, seed: number): StridedView<Float32Array> {
  const r = rand(seed);
  const data = Float32Array.from({ length: rows * cols }, () => r());
  return { data, offset: 0, ne: [cols, rows, 1, 1], nb: [1, cols, rows * cols, rows * cols] };
}

test('dense sums are float32 sums of float32 squares, row by row, and counts are rows', () => {
  const c = new ImatrixCollector({ chunkSize: 32 });
  const a = dense(20, 8, 1),
    b = dense(40, 8, 2);
  c.addDense('blk.0.attn_q.weight', 1, 1, a);
  c.addDense('blk.0.attn_q.weight', 1, 1, b);
  const e = c.stats.get('blk.0.attn_q.weight')!;
  assert.deepEqual(e.counts, [60]);
  for (let j = 0; j < 8; j++) {
    let acc = 0;
    for (const x of [a, b])
      for (let r = 0; r < x.ne[1]; r++) {
        const v = x.data[r * 8 + j]!;
        acc = Math.fround(acc + Math.fround(v * v));
      }
    assert.equal(e.values[j], acc);
  }
  assert.equal(c.lastChunk, 1); // 60 / 32
});

test('strided activations (a view with padded rows) read the right elements', () => {
  const c1 = new ImatrixCollector({ chunkSize: 16 }),
    c2 = new ImatrixCollector({ chunkSize: 16 });
  const x = dense(16, 6, 3);
  const padded = new Float32Array(16 * 10).fill(1e30);
  for (let r = 0; r < 16; r++) padded.set(x.data.subarray(r * 6, r * 6 + 6), 2 + r * 10);
  c1.addDense('blk.1.ffn_up.weight', 1, 1, x);
  c2.addDense('blk.1.ffn_up.weight', 1, 1, { data: padded, offset: 2, ne: [6, 16, 1, 1], nb: [1, 10, 160, 160] });
  assert.deepEqual(c2.stats.get('blk.1.ffn_up.weight')!.values, c1.stats.get('blk.1.ffn_up.weight')!.values);
});

test('ask phase: small batches, non-F32, non-model weights and output.weight (unless asked) are skipped', () => {
  const c = new ImatrixCollector({ chunkSize: 8 });
  assert.equal(c.wants('mul_mat', 'blk.0.attn_q.weight', 16, true), true);
  assert.equal(c.wants('mul_mat', 'blk.0.attn_q.weight', 15, true), false);
  assert.equal(c.wants('mul_mat', 'blk.0.attn_q.weight', 64, false), false);
  assert.equal(c.wants('mul_mat', 'output.weight', 64, true), false);
  assert.equal(c.wants('mul_mat', 'kq', 64, true), false);
  assert.equal(c.wants('mul_mat_id', 'anything', 1, true), true);
  assert.equal(
    new ImatrixCollector({ chunkSize: 8, processOutput: true }).wants('mul_mat', 'output.weight', 64, true),
    true,
  );
});

test('MoE: each token adds to the experts it is routed to, counted per expert', () => {
  const c = new ImatrixCollector({ chunkSize: 4 });
  const nTok = 6,
    used = 2,
    ne0 = 3;
  const x = dense(used * nTok, ne0, 4); // [ne0, used, nTok]
  const routes = [0, 1, 1, 2, 3, 0, 0, 3, 2, 1, 1, 0];
  const ids = Int32Array.from(routes);
  c.addExperts(
    'blk.0.ffn_up_exps.weight',
    4,
    { data: x.data, offset: 0, ne: [ne0, used, nTok, 1], nb: [1, ne0, ne0 * used, ne0 * used * nTok] },
    { data: ids, offset: 0, ne: [used, nTok, 1, 1], nb: [1, used, used * nTok, used * nTok] },
  );
  const e = c.stats.get('blk.0.ffn_up_exps.weight')!;
  const want = [0, 0, 0, 0];
  for (const r of routes) want[r]!++;
  assert.deepEqual(e.counts, want);
  // expert 2: token 1 slot 1 (route index 3) and token 4 slot 0 (route index 8)
  for (let j = 0; j < ne0; j++) {
    const v1 = x.data[(1 * used + 1) * ne0 + j]!,
      v2 = x.data[(4 * used + 0) * ne0 + j]!;
    assert.equal(e.values[2 * ne0 + j], Math.fround(Math.fround(v2 * v2) + Math.fround(v1 * v1)));
  }
});

test('a non-finite activation stops with the tensor named', () => {
  const c = new ImatrixCollector({ chunkSize: 4 });
  const x = dense(16, 4, 5);
  x.data[7] = NaN;
  assert.throws(() => c.addDense('blk.2.attn_v.weight', 1, 1, x), /non-finite activations in blk\.2\.attn_v\.weight/);
});

function sample(
  seed: number,
  names = ['blk.0.attn_k.weight', 'blk.0.ffn_down.weight', 'blk.1.attn_k.weight'],
): ImatrixCollector {
  const c = new ImatrixCollector({ chunkSize: 16 });
  for (const [i, n] of names.entries()) c.addDense(n, 1, 1, dense(16 * (i + 2), 8, seed + i));
  const x = dense(32, 8, seed + 9);
  c.addExperts(
    'blk.0.ffn_up_exps.weight',
    3,
    { data: x.data, offset: 0, ne: [8, 1, 32, 1], nb: [1, 8, 8, 256] },
    { data: Int32Array.from({ length: 32 }, (_, i) => (i * 7) % 3), offset: 0, ne: [1, 32, 1, 1], nb: [1, 1, 32, 32] },
  );
  return c;
}

test('GGUF writer: llama-imatrix layout, sorted entries, and it reads back exactly (raw, and as llama-quantize divides it)', async () => {
  const c = sample(10);
  const bytes = await encodeImatrixGguf(c, { dataset: 'calib.txt' });
  const raw = await readRawImatrix(new BufferSource(bytes, 'm.gguf'));
  assert.equal(raw.legacy, false);
  assert.deepEqual(raw.datasets, ['calib.txt']);
  assert.equal(raw.chunkSize, 16);
  assert.equal(raw.chunkCount, c.lastChunk);
  assert.deepEqual(
    [...raw.entries.keys()],
    ['blk.0.attn_k.weight', 'blk.0.ffn_down.weight', 'blk.0.ffn_up_exps.weight', 'blk.1.attn_k.weight'],
  );
  for (const [n, e] of c.stats) {
    assert.deepEqual(raw.entries.get(n)!.sums, e.values, n);
    assert.deepEqual(raw.entries.get(n)!.counts, e.counts, n);
  }
  const im = await readImatrix(new BufferSource(bytes, 'm.gguf'));
  const ex = c.stats.get('blk.0.ffn_up_exps.weight')!;
  assert.equal(im.data.get('blk.0.ffn_up_exps.weight')![8 + 3], Math.fround(ex.values[8 + 3]! / ex.counts[1]!));
});

test('legacy .dat writer: (sum/count)·ncall as llama-imatrix, read back by the legacy reader', async () => {
  const c = sample(20);
  const bytes = encodeImatrixDat(c, { dataset: 'calib.txt' });
  const im = await readImatrix(new BufferSource(bytes, 'm.dat'));
  assert.equal(im.provenance.format, 'legacy');
  assert.deepEqual(im.provenance.datasets, ['calib.txt']);
  assert.equal(im.provenance.chunkCount, c.lastChunk);
  const e = c.stats.get('blk.0.attn_k.weight')!;
  const ncall = Math.ceil(e.counts[0]! / 16);
  const stored = Math.fround(Math.fround(e.values[5]! / e.counts[0]!) * ncall);
  assert.equal(im.data.get('blk.0.attn_k.weight')![5], Math.fround(stored / ncall));
});

test('merging: sums and counts add (weighted by counts), datasets are kept in order', async () => {
  const a = sample(30),
    b = sample(40);
  const ra = await readRawImatrix(new BufferSource(await encodeImatrixGguf(a, { dataset: 'a.txt' })));
  const rb = await readRawImatrix(new BufferSource(await encodeImatrixGguf(b, { dataset: 'b.txt' })));
  const m = new ImatrixCollector({ chunkSize: 16 });
  m.merge(ra);
  m.merge(rb);
  assert.deepEqual(m.datasets, ['a.txt', 'b.txt']);
  for (const [n, e] of m.stats) {
    const ea = a.stats.get(n)!,
      eb = b.stats.get(n)!;
    assert.deepEqual(
      e.counts,
      ea.counts.map((x, i) => x + eb.counts[i]!),
      n,
    );
    for (let j = 0; j < e.values.length; j++) assert.equal(e.values[j], Math.fround(ea.values[j]! + eb.values[j]!));
  }
  assert.equal(m.lastChunk, Math.floor(Math.max(...[...m.stats.values()].flatMap((e) => e.counts)) / 16));
});

test('merging matrices of different models is refused, naming the first mismatched tensor', async () => {
  const a = sample(1);
  const b = new ImatrixCollector({ chunkSize: 16 });
  b.addDense('blk.0.attn_k.weight', 1, 1, dense(16, 8, 2));
  b.addDense('blk.0.ffn_down.weight', 1, 1, dense(16, 12, 3)); // other width
  const ra = await readRawImatrix(new BufferSource(await encodeImatrixGguf(a, { dataset: '' })));
  const rb = await readRawImatrix(new BufferSource(await encodeImatrixGguf(b, { dataset: '' })));
  assert.throws(
    () => checkSameModel(ra, 'a.gguf', rb, 'b.gguf'),
    /cannot merge a\.gguf and b\.gguf: blk\.0\.ffn_down\.weight has 8 values in one and 12/,
  );
  const m = new ImatrixCollector({ chunkSize: 16 });
  m.merge(ra);
  assert.throws(() => m.merge(rb), /blk\.0\.ffn_down\.weight has 12 values here and 8 before/);
});

test('statistics: sum, min, max, mean, std, active share of the mean squares', () => {
  const c = new ImatrixCollector({ chunkSize: 4 });
  c.stats.set('blk.3.attn_q.weight', { values: Float32Array.from([4, 8, 0, 12]), counts: [4] });
  const [s] = computeStatistics(c.stats);
  assert.equal(s!.layer, 3);
  assert.equal(s!.name, 'attn_q');
  assert.equal(s!.sum, 6); // means 1, 2, 0, 3
  assert.equal(s!.min, 0);
  assert.equal(s!.max, 3);
  assert.equal(s!.mean, 1.5);
  assert.equal(s!.std, Math.fround(Math.sqrt(14 / 4 - 2.25)));
  assert.equal(s!.active, 0.75);
  assert.equal(s!.elements, 4);
});

test('the WebAssembly SIMD accumulation gives the scalar loop’s floats, bit for bit', () => {
  const shapes: [number, number, number][] = [
    [256, 512, 256],
    [768, 37, 768],
    [7, 33, 9],
    [6, 16, 10],
    [1, 17, 3],
  ];
  for (const [cols, rows, stride] of shapes) {
    const r = rand(cols * 31 + rows);
    const data = Float32Array.from({ length: 5 + (rows - 1) * stride + cols }, () => r() * 1e3);
    const x: StridedView<Float32Array> = { data, offset: 5, ne: [cols, rows, 1, 1], nb: [1, stride, 0, 0] };
    const fast = new ImatrixCollector({ chunkSize: 16 }),
      scalar = new ImatrixCollector({ chunkSize: 16, scalar: true });
    for (let k = 0; k < 3; k++) {
      fast.addDense('blk.0.ffn_down.weight', 1, 1, x);
      scalar.addDense('blk.0.ffn_down.weight', 1, 1, x);
    }
    const a = fast.stats.get('blk.0.ffn_down.weight')!,
      b = scalar.stats.get('blk.0.ffn_down.weight')!;
    assert.deepEqual(Buffer.from(a.values.buffer), Buffer.from(b.values.buffer), `${cols}×${rows}/${stride}`);
    assert.deepEqual(a.counts, b.counts);
  }
});

test('activations written into the kernel’s own memory are summed in place, also when the sums need it to grow', () => {
  const k = sumSqKernel();
  if (!k) return; // no WebAssembly SIMD here: the scalar loop runs, tested above
  for (const [cols, rows] of [
    [256, 64],
    [20000, 2], // the sums do not fit after the input: memory.grow moves the input along
  ] as const) {
    const src = dense(rows, cols, cols);
    const ref = new ImatrixCollector({ chunkSize: 1, scalar: true });
    ref.addDense('blk.0.ffn_down.weight', 1, 1, src);
    const c = new ImatrixCollector({ chunkSize: 1 });
    const inp = k.input(rows * cols);
    inp.set(src.data);
    c.addDense('blk.0.ffn_down.weight', 1, 1, { ...src, data: inp });
    assert.deepEqual(c.stats.get('blk.0.ffn_down.weight')!.values, ref.stats.get('blk.0.ffn_down.weight')!.values);
  }
});
