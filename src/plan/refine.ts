// --refine: after the search (src/plan/allocate.ts) has chosen each free tensor's type from
// predicted errors, move bytes between tensors judged by a measurement of the whole model (the
// real engine's KL on calibration documents: src/eval/refine-engine.ts). Pure and browser-safe: the
// judge comes in as a function.
//
// Method (a measured local search on the candidates' Pareto fronts):
// 1. judge the search's choice; then, for every tensor, the choice with only that tensor one step
//    up its front (more bytes, less predicted error) and one step down: each step's measured gain
//    or loss and its bytes;
// 2. compound moves: one step up paid for by the steps down that lose the least per byte saved
//    (at most MAX_DOWNS of them, never the same tensor), or a step down that measured no loss;
//    kept when the budget holds and the measured parts add up to a gain;
// 3. the move predicted best is judged as a whole; it is kept only when the whole model's KL is
//    lower, then the moved tensors' steps are measured again from their new types; a move judged
//    no better is not tried again. Until no move is predicted to gain or the evaluations run out.
// Nothing is fitted: every number comes from the judge. Ties go to the earlier tensor: the result
// depends on the inputs (and the judge) only.
import { paretoFront, type AllocItem } from './allocate.js';

/** steps down that may pay for one step up */
export const MAX_DOWNS = 3;

export interface RefineOptions {
  /** judge evaluations at most (default 4 per tensor + 8) */
  maxEvals?: number;
  /** after each judged choice: the judge's value of the choice kept so far (the first: the start) */
  onProgress?: (evals: number, maxEvals: number, kl: number) => void;
}

export interface RefineMove {
  /** item index -> its new candidate index */
  steps: { item: number; from: number; to: number }[];
  klBefore: number;
  klAfter: number;
}

export interface RefineResult {
  choice: number[];
  bytes: number;
  /** the judge's value of the search's choice and of the refined one */
  klStart: number;
  kl: number;
  evals: number;
  moves: RefineMove[];
}

interface Step {
  item: number;
  to: number;
  /** measured KL change (negative: better) and byte change */
  dKl: number;
  dBytes: number;
}

export async function refineChoice(
  items: readonly AllocItem[],
  start: readonly number[],
  budget: number,
  judge: (choice: readonly number[]) => Promise<number>,
  opts: RefineOptions = {},
): Promise<RefineResult> {
  const fronts = items.map((it) => paretoFront(it.candidates));
  const choice = [...start];
  const maxEvals = opts.maxEvals ?? 4 * items.length + 8;
  const bytesOf = (c: readonly number[]) => c.reduce((s, i, k) => s + items[k]!.candidates[i]!.bytes, 0);
  let evals = 0;
  let kl = Infinity;
  const run = async (c: readonly number[]) => {
    evals++;
    const v = await judge(c);
    opts.onProgress?.(evals, maxEvals, kl === Infinity ? v : kl);
    return v;
  };
  kl = await run(choice);
  const klStart = kl;
  const moves: RefineMove[] = [];
  // per item: its measured step up and step down from the current choice (null: none on its front)
  const up: (Step | null)[] = items.map(() => null);
  const down: (Step | null)[] = items.map(() => null);
  const measureSteps = async (k: number) => {
    up[k] = down[k] = null;
    const f = fronts[k]!;
    const p = f.indexOf(choice[k]!);
    if (p < 0) return; // not on its front (a fixed or unusual choice): left as it is
    for (const [dir, q] of [
      ['up', p + 1],
      ['down', p - 1],
    ] as const) {
      if (q < 0 || q >= f.length || evals >= maxEvals) continue;
      const c = [...choice];
      c[k] = f[q]!;
      const v = await run(c);
      const s: Step = {
        item: k,
        to: f[q]!,
        dKl: v - kl,
        dBytes: items[k]!.candidates[f[q]!]!.bytes - items[k]!.candidates[choice[k]!]!.bytes,
      };
      if (dir === 'up') up[k] = s;
      else down[k] = s;
    }
  };
  for (let k = 0; k < items.length && evals < maxEvals; k++) await measureSteps(k);

  const tried = new Set<string>();
  while (evals < maxEvals) {
    const bytes = bytesOf(choice);
    const downs = down
      .filter((s): s is Step => !!s)
      .sort((a, b) => a.dKl / -a.dBytes - b.dKl / -b.dBytes || a.item - b.item);
    const cands: { steps: Step[]; predicted: number }[] = [];
    // a step down that measured no loss
    for (const d of downs) if (d.dKl < 0) cands.push({ steps: [d], predicted: d.dKl });
    for (const u of up) {
      if (!u || u.dKl >= 0) continue;
      const steps = [u];
      let b = bytes + u.dBytes,
        predicted = u.dKl;
      for (const d of downs) {
        if (b <= budget || steps.length > MAX_DOWNS) break;
        if (d.item === u.item) continue;
        steps.push(d);
        b += d.dBytes;
        predicted += d.dKl;
      }
      if (b <= budget && predicted < 0) cands.push({ steps, predicted });
    }
    const key = (m: { steps: Step[] }) => m.steps.map((s) => `${s.item}:${s.to}`).join(',');
    const next = cands
      .filter((m) => !tried.has(key(m)))
      .sort((a, b) => a.predicted - b.predicted || a.steps[0]!.item - b.steps[0]!.item)[0];
    if (!next) break;
    tried.add(key(next));
    const c = [...choice];
    for (const s of next.steps) c[s.item] = s.to;
    const v = await run(c);
    if (v < kl) {
      moves.push({
        steps: next.steps.map((s) => ({ item: s.item, from: choice[s.item]!, to: s.to })),
        klBefore: kl,
        klAfter: v,
      });
      for (const s of next.steps) choice[s.item] = s.to;
      kl = v;
      for (const s of next.steps) await measureSteps(s.item);
    }
  }
  return { choice, bytes: bytesOf(choice), klStart, kl, evals, moves };
}
