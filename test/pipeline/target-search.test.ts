// The target search's speed-ups keep its results where they claim to: the sampled rows quantized
// on worker threads give the bytes the codec gives row by row on the calling thread (experts and
// importances included), and the two-stage measurement re-measures exactly the types around the
// first pick on all sampled rows, scaling the others by the measured ratio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSampled } from '../../src/pipeline/target-encode.js';
import { measureStaged, subsample, STAGE1_WEIGHTS } from '../../src/pipeline/target-staged.js';
import type { TensorMeasure } from '../../src/pipeline/target.js';
import type { PlannedTensor } from '../../src/plan/plan.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { GGML_TYPE as T } from '../../src/formats/ggml-types.js';
import { NodeRowWorkerPool } from '../../src/node/workers.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

test('sampled rows: the same bytes on 3 threads as row by row on one, experts and importances included', async () => {
  const n = 256,
    nRows = 96,
    rowsPerExpert = 32; // 3 experts
  const r = rng(5);
  const rows = [0, 3, 7, 31, 32, 33, 50, 63, 64, 80, 95];
  const w = new Float32Array(rows.length * n).map(() => r() * (1 + 3 * Math.abs(r())));
  const im = new Float32Array(3 * n).map(() => 0.1 + Math.abs(r()));
  const types = [T.Q4_K, T.Q2_K, T.IQ2_XS, T.IQ3_S, T.IQ4_XS, T.Q8_0, T.F16];
  const pool = new NodeRowWorkerPool(3, 0);
  try {
    for (const withIm of [true, false]) {
      const s = { w, n, rows, rowsPerExpert, im: withIm ? im : null };
      const tt = withIm ? types : types.filter((t) => !codecByTypeId(t)!.requiresImatrix);
      const pooled = await encodeSampled(s, tt, pool);
      const inline = await encodeSampled(s, tt);
      assert.deepEqual([...pooled.keys()], tt);
      for (const type of tt) {
        const codec = codecByTypeId(type)!;
        const rb = (n / codec.type.blockSize) * codec.type.typeSize;
        const one = new Uint8Array(rows.length * rb);
        for (let i = 0; i < rows.length; i++) {
          const e = Math.floor(rows[i]! / rowsPerExpert);
          codec.quantize(
            w.subarray(i * n, (i + 1) * n),
            one.subarray(i * rb, (i + 1) * rb),
            1,
            n,
            withIm ? im.subarray(e * n, (e + 1) * n) : null,
          );
        }
        assert.deepEqual(pooled.get(type), one, `${codec.type.ggmlName} on threads (imatrix ${withIm})`);
        assert.deepEqual(inline.get(type), one, `${codec.type.ggmlName} inline (imatrix ${withIm})`);
      }
    }
    assert.ok(nRows > rows[rows.length - 1]!);
  } finally {
    await pool.close();
  }
});

test('stage 1 rows: evenly spaced among the sampled ones, about STAGE1_WEIGHTS weights, at least 16 rows', () => {
  const all = Array.from({ length: 1000 }, (_, i) => 3 * i);
  const s = subsample(all, 256);
  assert.equal(s.length, STAGE1_WEIGHTS / 256);
  assert.ok(s.every((x) => all.includes(x)));
  assert.deepEqual(
    s,
    [...new Set(s)].sort((a, b) => a - b),
  );
  assert.deepEqual(subsample(all, 256), s, 'deterministic');
  assert.equal(subsample(all, 1 << 20).length, 16);
  assert.deepEqual(subsample([1, 2, 3], 256), [1, 2, 3]);
});

test('stage 2 re-measures the first pick and its front neighbours on all sampled rows; the rest scaled', async () => {
  // candidate types 1..6 (bytes 100·k); error per type known; measured on a subsample it is 2x
  const trueErr = [0, 0.5, 0.3, 0.2, 0.12, 0.05, 0.01];
  const types = [1, 2, 3, 4, 5, 6];
  const calls: { name: string; types: number[]; rows: number }[] = [];
  const t = (name: string) => ({ name }) as PlannedTensor;
  const measure = async (pt: PlannedTensor, ts: readonly number[], rows: readonly number[] | undefined) => {
    const full = rows!.length === 400;
    calls.push({ name: pt.name, types: [...ts], rows: rows!.length });
    const candidates = ts.map((type) => {
      const nsr = trueErr[type]! * (full ? 1 : 2);
      return { type, bytes: 100 * type, error: nsr, nsr };
    });
    return { name: pt.name, rows: rows!.length, nRows: 400, imatrix: false, candidates, chosen: -1 } as TensorMeasure;
  };
  const out = await measureStaged(
    [t('a'), t('b')],
    types,
    (pt) => ({ rows: Array.from({ length: pt.name === 'a' ? 400 : 10 }, (_, i) => i), rowLength: 256 }),
    measure,
    (ms) => ms.map(() => 2), // the first pick: type 3 (index 2) in both
  );
  // a: subsampled, then types 2, 3, 4 on all rows; b: all 10 rows already, measured once
  assert.deepEqual(
    calls.map((c) => [c.name, c.types, c.rows]),
    [
      ['a', types, STAGE1_WEIGHTS / 256],
      ['b', types, 10],
      ['a', [2, 3, 4], 400],
    ],
  );
  const a = out[0]!;
  assert.equal(a.rows, 400);
  for (const c of a.candidates) assert.ok(Math.abs(c.nsr - trueErr[c.type]!) < 1e-12, `type ${c.type}: ${c.nsr}`);
  assert.equal(out[1]!.candidates[0]!.nsr, 2 * trueErr[1]!, 'b keeps its one measurement');
});

test('stage 2 goes on until the pick and its front neighbours are all measured on all sampled rows', async () => {
  const trueErr = [0, 0.5, 0.3, 0.2, 0.12, 0.05, 0.01];
  const types = [1, 2, 3, 4, 5, 6];
  const calls: number[][] = [];
  const measure = async (pt: PlannedTensor, ts: readonly number[], rows: readonly number[] | undefined) => {
    const full = rows!.length === 400;
    if (full) calls.push([...ts]);
    const candidates = ts.map((type) => {
      const nsr = trueErr[type]! * (full ? 1 : 2);
      return { type, bytes: 100 * type, error: nsr, nsr };
    });
    return { name: pt.name, rows: rows!.length, nRows: 400, imatrix: false, candidates, chosen: -1 } as TensorMeasure;
  };
  // the first allocation picks type 2; on the refined errors it moves to type 5, then stays
  let round = 0;
  const out = await measureStaged(
    [{ name: 'a' } as PlannedTensor],
    types,
    () => ({ rows: Array.from({ length: 400 }, (_, i) => i), rowLength: 256 }),
    measure,
    () => [round++ === 0 ? 1 : 4],
  );
  assert.deepEqual(calls, [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  for (const c of out[0]!.candidates) assert.ok(Math.abs(c.nsr - trueErr[c.type]!) < 1e-12, `type ${c.type}`);
});
