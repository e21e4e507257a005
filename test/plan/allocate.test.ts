// The budget split of --target-size: never over the budget, the same answer for the same inputs,
// and close to the exact optimum (brute force over every combination on small instances).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, lowerHull, paretoFront, parseByteSize, type AllocItem } from '../../src/plan/allocate.js';
import { rng } from '../support/oracle.js';
import { LowbitError } from '../../src/errors.js';

/** Random tensors whose error falls with bytes roughly as 2^-2b, with noise (so fronts are not all convex). */
function instance(seed: number, nItems: number, nCands: number): AllocItem[] {
  const r = rng(seed);
  return Array.from({ length: nItems }, (_, k) => {
    const n = 256 * (1 + Math.floor(r() * 8));
    const s = 0.2 + r() * 5;
    return {
      name: `t${k}`,
      candidates: Array.from({ length: nCands }, (_, i) => {
        const bpw = 2 + i * (6 / nCands) + r() * 0.5;
        return { type: i, bytes: Math.round((n * bpw) / 8), error: s * 2 ** (-2 * bpw) * (0.7 + 0.6 * r()) };
      }),
    };
  });
}

function bruteForce(items: AllocItem[], budget: number): number {
  let best = Infinity;
  const rec = (k: number, bytes: number, err: number) => {
    if (bytes > budget || err >= best) return;
    if (k === items.length) {
      best = err;
      return;
    }
    for (const c of items[k]!.candidates) rec(k + 1, bytes + c.bytes, err + c.error);
  };
  rec(0, 0, 0);
  return best;
}

test('allocate never exceeds the budget, and comes close to the exact optimum', () => {
  let worst = 1,
    sumRatio = 0,
    n = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const items = instance(seed, 5, 5);
    const min = items.reduce((s, it) => s + Math.min(...it.candidates.map((c) => c.bytes)), 0);
    const max = items.reduce((s, it) => s + Math.max(...it.candidates.map((c) => c.bytes)), 0);
    for (const f of [0.1, 0.35, 0.6, 0.85]) {
      const budget = Math.round(min + f * (max - min));
      const r = allocate(items, budget);
      assert.ok(r.bytes <= budget, `seed ${seed}: ${r.bytes} > ${budget}`);
      const bytes = r.choice.reduce((s, c, k) => s + items[k]!.candidates[c]!.bytes, 0);
      assert.equal(bytes, r.bytes);
      const opt = bruteForce(items, budget);
      assert.ok(r.error >= opt - 1e-15, 'cannot beat the optimum');
      const ratio = r.error / opt;
      worst = Math.max(worst, ratio);
      sumRatio += ratio;
      n++;
    }
  }
  // the grid DP rounds bytes up, so it is not always the exact optimum, but close
  assert.ok(sumRatio / n < 1.01, `mean error / optimum ${(sumRatio / n).toFixed(4)}`);
  assert.ok(worst < 1.05, `worst error / optimum ${worst.toFixed(4)}`);
});

test('allocate is deterministic and independent of nothing but its inputs; ties go to the earlier tensor', () => {
  const items = instance(7, 40, 8);
  const budget = items.reduce((s, it) => s + it.candidates[3]!.bytes, 0);
  const a = allocate(items, budget),
    b = allocate(structuredClone(items), budget);
  assert.deepEqual(a, b);
  // two identical tensors and room for one upgrade: the first gets it
  const same: AllocItem[] = [0, 1].map((k) => ({
    name: `t${k}`,
    candidates: [
      { type: 1, bytes: 100, error: 1 },
      { type: 2, bytes: 200, error: 0.5 },
    ],
  }));
  assert.deepEqual(allocate(same, 300).choice, [1, 0]);
});

test('allocate: too small a budget is an error; a budget above everything takes the best of each', () => {
  const items = instance(3, 4, 4);
  const min = items.reduce((s, it) => s + Math.min(...it.candidates.map((c) => c.bytes)), 0);
  assert.throws(
    () => allocate(items, min - 1),
    (e) => e instanceof LowbitError && /too small/.test(e.message),
  );
  const r = allocate(items, 1e12);
  for (const [k, it] of items.entries())
    assert.equal(it.candidates[r.choice[k]!]!.error, Math.min(...it.candidates.map((c) => c.error)));
});

test('Pareto front and lower hull', () => {
  const c = [
    { type: 0, bytes: 10, error: 10 },
    { type: 1, bytes: 20, error: 4 },
    { type: 2, bytes: 25, error: 5 }, // 2 dominated by 1
    { type: 3, bytes: 30, error: 3.5 },
    { type: 4, bytes: 40, error: 1 },
    { type: 5, bytes: 40, error: 0.9 },
  ];
  assert.deepEqual(paretoFront(c), [0, 1, 3, 5]);
  assert.deepEqual(lowerHull(c, paretoFront(c)), [0, 1, 5]); // 3 lies above the 1 -> 5 chord
});

test('parseByteSize', () => {
  assert.equal(parseByteSize('2.1GB'), 2_100_000_000);
  assert.equal(parseByteSize('750MiB'), 750 * 1024 * 1024);
  assert.equal(parseByteSize('123456'), 123456);
  assert.equal(parseByteSize('2k'), 2000);
  for (const bad of ['', 'GB', '-1MB', '1.5XB', 'i', '0']) assert.throws(() => parseByteSize(bad), LowbitError, bad);
});
