// The target search in two stages, for speed. Measuring every candidate type on every sampled row
// is the search's whole cost (twenty types, the i-quants' searches slow), yet the allocation only
// hinges on a few types per tensor: the one it picks and its neighbours by size.
//
// Stage 1: every candidate on a deterministic subsample of the sampled rows (evenly spaced, about
// 2^14 weights, at least 16 rows). A first allocation on those estimates picks a type per tensor.
// Stage 2: the types around that pick on the tensor's size/error front (the pick and its
// neighbour on each side) are measured again on all the sampled rows. Every other candidate keeps
// its stage-1 estimate, scaled by the tensor's ratio of full to subsampled error over the measured
// ones, so the two kinds stay comparable. The final allocation runs on these. The rows, and so the
// result, depend on the inputs only.
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
  const choice = pick(first);
  const out: TensorMeasure[] = [];
  for (let k = 0; k < free.length; k++) {
    const m = first[k]!;
    const rows = full[k];
    if (!rows) {
      out.push(m);
      continue;
    }
    const c = m.candidates;
    const front = paretoFront(c);
    let at = front.indexOf(choice[k]!);
    if (at < 0) {
      // not on the front (it cannot be, but stay safe): the front point nearest in bytes
      const b = c[choice[k]!]!.bytes;
      at = front.reduce(
        (best, i, j) => (Math.abs(c[i]!.bytes - b) < Math.abs(c[front[best]!]!.bytes - b) ? j : best),
        0,
      );
    }
    const near = front.slice(Math.max(0, at - NEIGHBOURS), at + NEIGHBOURS + 1).map((i) => c[i]!.type);
    const exact = await measure(free[k]!, near, rows);
    const byType = new Map(exact.candidates.map((x) => [x.type, x]));
    // the tensor's full / subsampled error over the re-measured types (the source type's is 0)
    let sumFull = 0,
      sumSub = 0;
    for (const x of c) {
      const e = byType.get(x.type);
      if (e && x.nsr > 0) {
        sumFull += e.nsr;
        sumSub += x.nsr;
      }
    }
    const ratio = sumSub > 0 ? sumFull / sumSub : 1;
    const candidates = c.map((x) => {
      const e = byType.get(x.type);
      const nsr = e ? e.nsr : x.nsr * ratio;
      return { ...x, nsr, error: nsr };
    });
    out.push({ ...m, rows: rows.length, candidates, chosen: -1 });
  }
  return out;
}
