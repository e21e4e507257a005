// The target search in two stages, for speed. Measuring every candidate type on every sampled row
// is the search's whole cost (twenty types, the i-quants' searches slow), yet the allocation only
// hinges on a few types per tensor: the one it picks and its neighbours by size.
//
// Stage 1: every candidate on a deterministic subsample of the sampled rows (evenly spaced, about
// 2^13 weights, at least 16 rows). A first allocation on those estimates picks a type per tensor.
// Stage 2: the types around that pick on the tensor's size/error front (the pick and its
// neighbour on each side) are measured again on all the sampled rows. Every other candidate keeps
// its stage-1 estimate, scaled by the tensor's ratio of full to subsampled error over the measured
// ones, so the two kinds stay comparable. The allocation runs again on these; where its pick or a
// front neighbour of it is still an estimate, that is measured on all sampled rows too, until none
// is (so the predicted error of the result is exact). The rows, and so the result, depend on the inputs only.
import type { PlannedTensor } from '../plan/plan.js';
import { paretoFront } from '../plan/allocate.js';
import type { TensorMeasure } from './target.js';

/** Weights per tensor in stage 1 (at least STAGE1_MIN_ROWS rows). */
export const STAGE1_WEIGHTS = 1 << 13;
const STAGE1_MIN_ROWS = 16;
/** Front neighbours of the first pick measured exactly, on each side. */
const NEIGHBOURS = 1;

/** Stage 1's rows: evenly spaced among the sampled rows (all of them when there are few). */
export function subsample(rows: readonly number[], rowLength: number): number[] {
  const k = Math.min(rows.length, Math.max(STAGE1_MIN_ROWS, Math.ceil(STAGE1_WEIGHTS / Math.max(1, rowLength))));
  if (k >= rows.length) return [...rows];
  return Array.from({ length: k }, (_, i) => rows[Math.floor(((i + 0.5) * rows.length) / k)]!);
}

export type MeasureFn = (
  t: PlannedTensor,
  types: readonly number[],
  rows: readonly number[] | undefined,
) => Promise<TensorMeasure>;

/**
 * Measures the free tensors in two stages (above). `sampled` gives a tensor's full row sample and
 * row length; `pick` is the allocation (index into each measure's candidates, in order).
 */
export async function measureStaged(
  free: readonly PlannedTensor[],
  types: readonly number[],
  sampled: (t: PlannedTensor) => { rows: number[]; rowLength: number },
  measure: MeasureFn,
  pick: (measures: TensorMeasure[]) => number[],
): Promise<TensorMeasure[]> {
  const first: TensorMeasure[] = [];
  const full: (number[] | null)[] = [];
  for (const t of free) {
    const s = sampled(t);
    const sub = subsample(s.rows, s.rowLength);
    full.push(sub.length < s.rows.length ? s.rows : null);
    first.push(await measure(t, types, sub));
  }
  if (full.every((f) => f === null)) return first;
  // per tensor: the types measured on all sampled rows so far, and their full-sample errors
  const exact = free.map(() => new Map<number, { nsr: number; probeNsr?: number }>());
  const build = (): TensorMeasure[] =>
    first.map((m, k) => {
      const rows = full[k];
      if (!rows) return m;
      const ex = exact[k]!;
      // the tensor's full / subsampled error over the re-measured types (the source type's is 0)
      let sumFull = 0,
        sumSub = 0;
      for (const x of m.candidates)
        if (ex.has(x.type) && x.nsr > 0) {
          sumFull += ex.get(x.type)!.nsr;
          sumSub += x.nsr;
        }
      const ratio = sumSub > 0 ? sumFull / sumSub : 1;
      const candidates = m.candidates.map((x) => {
        const e = ex.get(x.type);
        const nsr = e ? e.nsr : x.nsr * ratio;
        // --encoder gptq: the probe type's ggml error (sensitivity scale), likewise
        const probeNsr = e ? e.probeNsr : x.probeNsr !== undefined ? x.probeNsr * ratio : undefined;
        return { ...x, nsr, error: nsr, ...(probeNsr !== undefined ? { probeNsr } : {}) };
      });
      return { ...m, rows: rows.length, candidates, chosen: -1 };
    });
  const refine = async (k: number, want: readonly number[]) => {
    const types = want.filter((t) => !exact[k]!.has(t));
    if (!types.length) return;
    for (const x of (await measure(free[k]!, types, full[k]!)).candidates)
      exact[k]!.set(x.type, { nsr: x.nsr, ...(x.probeNsr !== undefined ? { probeNsr: x.probeNsr } : {}) });
  };
  // the pick and its neighbours on the tensor's size/error front (types, in front order)
  const around = (m: TensorMeasure, pickIndex: number) => {
    const c = m.candidates;
    const front = paretoFront(c);
    let at = front.indexOf(pickIndex);
    if (at < 0) {
      // not on the front (it cannot be, but stay safe): the front point nearest in bytes
      const b = c[pickIndex]!.bytes;
      at = front.reduce(
        (best, i, j) => (Math.abs(c[i]!.bytes - b) < Math.abs(c[front[best]!]!.bytes - b) ? j : best),
        0,
      );
    }
    const near = front.slice(Math.max(0, at - NEIGHBOURS), at + NEIGHBOURS + 1).map((i) => c[i]!.type);
    return near.includes(c[pickIndex]!.type) ? near : [...near, c[pickIndex]!.type];
  };
  // stage 2: the first pick and its front neighbours; then again until the pick of every tensor and
  // its neighbours are all measured on all sampled rows (each round measures at least one more type)
  let ms = first;
  for (;;) {
    const choice = pick(ms);
    let more = false;
    for (let k = 0; k < free.length; k++) {
      if (!full[k]) continue;
      const want = around(ms[k]!, choice[k]!).filter((t) => !exact[k]!.has(t));
      if (want.length) {
        more = true;
        await refine(k, want);
      }
    }
    if (!more) return ms;
    ms = build();
  }
}
