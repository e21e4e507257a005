// --refine's measured local search (src/plan/refine.ts) with judges whose answers are known: it never
// leaves the budget, keeps only moves the judge measured as better, is deterministic, stays within
// its number of judged choices, and finds what the predicted errors missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, type AllocItem } from '../../src/plan/allocate.js';
import { refineChoice } from '../../src/plan/refine.js';
import { rng } from '../support/oracle.js';

/** Tensors whose predicted error falls as 2^-2·bpw; `truth` holds each one's real weight (unknown to the search). */
function instance(seed: number, n: number): { items: AllocItem[]; truth: number[] } {
  const r = rng(seed);
  const items: AllocItem[] = [];
  const truth: number[] = [];
  for (let k = 0; k < n; k++) {
    const elems = 256 * (1 + Math.floor(r() * 6));
    items.push({
      name: `t${k}`,
      candidates: [2.5, 3.5, 4.5, 5.5, 6.5, 8.5].map((bpw, i) => ({
        type: i,
        bytes: Math.round((elems * bpw) / 8),
        error: 2 ** (-2 * bpw),
      })),
    });
    // real sensitivities differ by up to 30x between tensors
    truth.push(0.2 + 6 * r() ** 2);
  }
  return { items, truth };
}

const additiveJudge = (items: AllocItem[], w: number[]) => async (c: readonly number[]) =>
  c.reduce((s, i, k) => s + w[k]! * items[k]!.candidates[i]!.error, 0);
const bytesOf = (items: AllocItem[], c: readonly number[]) =>
  c.reduce((s, i, k) => s + items[k]!.candidates[i]!.bytes, 0);

test('refine: within the budget, only measured gains kept, and closer to the real optimum than the prediction', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const { items, truth } = instance(seed, 12);
    const min = bytesOf(
      items,
      items.map(() => 0),
    );
    const max = bytesOf(
      items,
      items.map(() => 5),
    );
    const budget = Math.round(min + (max - min) * (0.3 + 0.08 * seed));
    const start = allocate(items, budget).choice;
    const judge = additiveJudge(items, truth);
    const calls: number[] = [];
    const r = await refineChoice(items, start, budget, async (c) => {
      const v = await judge(c);
      calls.push(v);
      return v;
    });
    assert.ok(r.bytes <= budget, `seed ${seed}: ${r.bytes} > ${budget}`);
    assert.equal(r.bytes, bytesOf(items, r.choice));
    assert.equal(r.klStart, await judge(start));
    assert.equal(r.kl, await judge(r.choice));
    assert.ok(r.evals <= 4 * items.length + 8 && r.evals === calls.length);
    // each kept move measured lower than the choice before it, in order
    let prev = r.klStart;
    for (const m of r.moves) {
      assert.equal(m.klBefore, prev);
      assert.ok(m.klAfter < m.klBefore);
      prev = m.klAfter;
    }
    assert.equal(prev, r.kl);
    // the real optimum (the allocator is exact enough on the true errors): refine closes most of the gap
    const trueItems = items.map((it, k) => ({
      ...it,
      candidates: it.candidates.map((c) => ({ ...c, error: c.error * truth[k]! })),
    }));
    const best = await judge(allocate(trueItems, budget).choice);
    assert.ok(r.moves.length > 0, `seed ${seed}: no move kept`);
    assert.ok(r.kl - best <= 0.5 * (r.klStart - best), `seed ${seed}: ${r.klStart} -> ${r.kl}, optimum ${best}`);
  }
});

test('refine: the same answer for the same inputs; nothing kept when the prediction was right; the evaluation cap holds', async () => {
  const { items, truth } = instance(9, 10);
  const budget = Math.round(
    bytesOf(
      items,
      items.map(() => 2),
    ) * 1.05,
  );
  const start = allocate(items, budget).choice;
  const a = await refineChoice(items, start, budget, additiveJudge(items, truth));
  const b = await refineChoice(items, start, budget, additiveJudge(items, truth));
  assert.deepEqual(a, b);
  // a judge that agrees with the predicted errors: the allocator's choice is already the best trade
  const same = await refineChoice(
    items,
    start,
    budget,
    additiveJudge(
      items,
      items.map(() => 1),
    ),
  );
  assert.deepEqual(same.choice, start);
  assert.equal(same.moves.length, 0);
  const capped = await refineChoice(items, start, budget, additiveJudge(items, truth), { maxEvals: 7 });
  assert.ok(capped.evals <= 7);
  assert.ok(capped.kl <= capped.klStart);
});
