// The activations' second moments for --encoder gptq (src/imatrix/hessian.ts): Σ x xᵀ equal to the
// plain sum over every row of a strided input; tensors fed the same input (q/k/v, gate/up) share one
// matrix; a shared input that stops being shared, and a model too large, fail with one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HessianAccumulator, gptqPassGroups } from '../../src/imatrix/hessian.js';
import { syrkKernel } from '../../src/imatrix/syrk.js';
import { ImatrixCollector, type StridedView } from '../../src/imatrix/collector.js';
import { LowbitError } from '../../src/errors.js';
import { rng, gaussian } from '../support/oracle.js';

/** rows of d values, [d, ne1, ne2, 1], with a padded row stride */
function view(seed: number, d: number, ne1: number, ne2: number): StridedView<Float32Array> {
  const r = rng(seed);
  const stride = d + 3;
  const data = Float32Array.from({ length: 5 + stride * ne1 * ne2 }, () => gaussian(r));
  return { data, offset: 5, ne: [d, ne1, ne2, 1], nb: [1, stride, stride * ne1, stride * ne1 * ne2] };
}

function naive(views: StridedView<Float32Array>[], d: number): Float64Array {
  const s = new Float64Array(d * d);
  for (const v of views)
    for (let i2 = 0; i2 < v.ne[2]; i2++)
      for (let i1 = 0; i1 < v.ne[1]; i1++) {
        const o = v.offset + i1 * v.nb[1] + i2 * v.nb[2];
        for (let i = 0; i < d; i++)
          for (let j = i; j < d; j++) s[i * d + j] = s[i * d + j]! + v.data[o + i]! * v.data[o + j]!;
      }
  return s;
}

test('Σ x xᵀ over every row of strided inputs, rows counted', () => {
  const h = new HessianAccumulator();
  const d = 19;
  const vs = [view(1, d, 7, 2), view(2, d, 5, 1), view(3, d, 1, 3)];
  for (const v of vs) h.add('blk.0.ffn_down.weight', v);
  const m = h.get('blk.0.ffn_down.weight')!;
  assert.equal(m.rows, 14 + 5 + 3);
  const want = naive(vs, d);
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++)
      assert.ok(Math.abs(m.sum[i * d + j]! - want[i * d + j]!) <= 1e-9 * (1 + Math.abs(want[i * d + j]!)), `${i},${j}`);
  assert.equal(h.get('blk.0.attn_q.weight'), null);
});

test('tensors fed the same input share one matrix; another input gets its own', () => {
  const h = new HessianAccumulator();
  const a = view(4, 8, 6, 1),
    b = view(5, 8, 6, 1);
  for (let step = 0; step < 2; step++) {
    h.add('blk.0.attn_q.weight', a, 'in-a');
    h.add('blk.0.attn_k.weight', a, 'in-a');
    h.add('blk.0.attn_v.weight', a, 'in-a');
    h.add('blk.0.attn_output.weight', b, 'in-b');
  }
  assert.equal(h.get('blk.0.attn_k.weight'), h.get('blk.0.attn_q.weight'));
  assert.equal(h.get('blk.0.attn_v.weight'), h.get('blk.0.attn_q.weight'));
  assert.notEqual(h.get('blk.0.attn_output.weight'), h.get('blk.0.attn_q.weight'));
  assert.equal(h.get('blk.0.attn_q.weight')!.rows, 12);
  assert.deepEqual(h.get('blk.0.attn_q.weight')!.sum, naive([a, a], 8));
  assert.equal(h.byteSize, 2 * 8 * 8 * 8);
  assert.deepEqual(h.names(), [
    'blk.0.attn_k.weight',
    'blk.0.attn_output.weight',
    'blk.0.attn_q.weight',
    'blk.0.attn_v.weight',
  ]);
  // a shared input that changes is refused, not silently summed wrong
  assert.throws(
    () => h.add('blk.0.attn_k.weight', b, 'in-b'),
    /blk\.0\.attn_k\.weight: its input is no longer the one blk\.0\.attn_q\.weight/,
  );
});

test('a size limit: one line naming the tensor', () => {
  const h = new HessianAccumulator({ maxBytes: 1000 });
  assert.throws(
    () => h.add('blk.3.ffn_down.weight', view(6, 16, 2, 1)),
    (e: unknown) => e instanceof LowbitError && /blk\.3\.ffn_down.*--encoder gptq/.test(e.message),
  );
});

test('the imatrix collector feeds it dense inputs only, and its sums stay llama-imatrix’s', () => {
  const h = new HessianAccumulator();
  const c = new ImatrixCollector({ chunkSize: 4, hessian: h });
  const plain = new ImatrixCollector({ chunkSize: 4 });
  const v = view(7, 12, 4, 1);
  c.addDense('blk.0.ffn_up.weight', 1, 1, v, 'x');
  plain.addDense('blk.0.ffn_up.weight', 1, 1, v);
  assert.deepEqual(c.stats.get('blk.0.ffn_up.weight'), plain.stats.get('blk.0.ffn_up.weight'));
  assert.equal(h.get('blk.0.ffn_up.weight')!.rows, 4);
  // a weight of several matrices (ne2 > 1): no single Σ x xᵀ
  c.addDense('blk.0.other.weight', 2, 1, view(8, 12, 4, 2), 'y');
  assert.equal(h.get('blk.0.other.weight'), null);
});

test('gptqPassGroups: whole layers in file order, each group within the budget, an oversized layer alone', () => {
  const w = (l: number, d: number) => [
    { name: `blk.${l}.attn_q.weight`, d },
    { name: `blk.${l}.ffn_down.weight`, d: 2 * d },
  ];
  // a layer of d = 10: 10² · 8 + 20² · 8 = 4000 bytes
  const weights = [...w(0, 10), ...w(1, 10), ...w(2, 10), ...w(3, 40), ...w(4, 10)];
  assert.deepEqual(
    gptqPassGroups(weights, 8000).map((g) => g.map((n) => n.split('.')[1])),
    [
      ['0', '0', '1', '1'],
      ['2', '2'],
      ['3', '3'],
      ['4', '4'],
    ],
  );
  assert.equal(gptqPassGroups(weights, 1e9).length, 1);
  assert.deepEqual(gptqPassGroups([], 100), []);
});

test('the WebAssembly kernel sums the same doubles as the JavaScript loop (zero rows, −0, odd sizes)', () => {
  assert.ok(syrkKernel(), 'WebAssembly SIMD is available in Node 20');
  for (const [d, rows, ne2] of [
    [7, 5, 1],
    [256, 130, 1],
    [33, 3, 2],
    [768, 9, 1],
  ] as const) {
    const v = view(d + rows, d, rows, ne2);
    for (let j = 0; j < d; j++) v.data[v.offset + j] = 0; // a row of zeros
    v.data[v.offset + v.nb[1]] = -0;
    const a = new HessianAccumulator({ scalar: true }),
      b = new HessianAccumulator();
    for (let k = 0; k < 2; k++) {
      a.add('t', v);
      b.add('t', v);
    }
    const [sa, sb] = [a.get('t')!.sum, b.get('t')!.sum];
    for (let i = 0; i < sa.length; i++) assert.ok(Object.is(sa[i], sb[i]), `d ${d} at ${i}: ${sa[i]} vs ${sb[i]}`);
  }
});
