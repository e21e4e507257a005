// --target-size / --target-bpw: choose each free tensor's ggml type so that the file fits a byte
// budget with the least predicted damage. Pure and browser-safe: the measured (bytes, error) pairs
// come in, one choice per tensor goes out.
//
// Method: per tensor, the candidates' Pareto front (more bytes must buy less error) and its lower
// convex hull. Walking every tensor's hull segments in order of error saved per byte (a Lagrangian
// split: it is the solution of min Σ err + λ Σ bytes for the λ where the budget runs out) gives a
// choice that is optimal for its own size. A Lagrangian split can leave a large gap when a few big
// tensors dominate, so a second solution comes from dynamic programming over the fronts (the
// multiple-choice knapsack, exact on a grid of DP_CELLS byte cells, each tensor's bytes rounded
// up, so it never exceeds the budget either). The better of the two is then filled greedily with
// the best remaining upgrades that still fit, so the file ends up as close under the target as
// single-tensor steps allow. Ties go to the earlier tensor and the smaller type id: the result
// depends on the inputs only.
import { LowbitError } from '../errors.js';

export interface Candidate {
  type: number;
  /** bytes in the file, padding included */
  bytes: number;
  /** predicted damage (any additive unit; smaller is better) */
  error: number;
}

export interface AllocItem {
  name: string;
  candidates: readonly Candidate[];
}

export interface AllocResult {
  /** per item (same order): the index into its candidates */
  choice: number[];
  bytes: number;
  error: number;
  /** bytes the cheapest and the richest choice would need */
  minBytes: number;
  maxBytes: number;
}

/** The Pareto front of a tensor's candidates: bytes ascending, error strictly descending. */
export function paretoFront(c: readonly Candidate[]): number[] {
  const idx = c
    .map((_, i) => i)
    .sort((a, b) => c[a]!.bytes - c[b]!.bytes || c[a]!.error - c[b]!.error || c[a]!.type - c[b]!.type);
  const out: number[] = [];
  for (const i of idx) {
    const last = out.length ? c[out[out.length - 1]!]! : null;
    if (last && c[i]!.error >= last.error) continue;
    if (last && c[i]!.bytes === last.bytes) out.pop(); // same size, less error (sorted): replace
    out.push(i);
  }
  return out;
}

/** The lower convex hull of a front (indices into c, bytes ascending). */
export function lowerHull(c: readonly Candidate[], front: readonly number[]): number[] {
  const h: number[] = [];
  for (const i of front) {
    while (h.length >= 2) {
      const a = c[h[h.length - 2]!]!,
        b = c[h[h.length - 1]!]!,
        p = c[i]!;
      // b is above the line a->p (or on it): drop it
      const cross = (b.bytes - a.bytes) * (p.error - a.error) - (b.error - a.error) * (p.bytes - a.bytes);
      if (cross <= 0) h.pop();
      else break;
    }
    h.push(i);
  }
  return h;
}

/**
 * Chooses one candidate per item with Σ bytes ≤ budget, minimising Σ error (Lagrangian walk over
 * the hulls, then an exact greedy fill of what is left). Throws when even the smallest choice does
 * not fit; when everything's richest choice fits, that is the answer.
 */
export function allocate(items: readonly AllocItem[], budget: number): AllocResult {
  const fronts = items.map((it) => {
    if (!it.candidates.length) throw new LowbitError(`tensor ${it.name}: no candidate type`);
    return paretoFront(it.candidates);
  });
  const hulls = items.map((it, k) => lowerHull(it.candidates, fronts[k]!));
  const pos = hulls.map(() => 0); // position on the hull
  const choice = hulls.map((h) => h[0]!);
  const cand = (k: number, i: number) => items[k]!.candidates[i]!;
  let bytes = 0;
  let minBytes = 0,
    maxBytes = 0;
  for (let k = 0; k < items.length; k++) {
    bytes += cand(k, choice[k]!).bytes;
    minBytes += cand(k, choice[k]!).bytes;
    maxBytes += cand(k, fronts[k]![fronts[k]!.length - 1]!).bytes;
  }
  if (minBytes > budget)
    throw new LowbitError(
      `the target is too small: the smallest choice of types needs ${minBytes} bytes of tensor data, the target leaves ${Math.max(0, budget)}`,
    );

  // hull segments by error saved per byte, best first (each tensor's come in its own order: its
  // hull is convex); a max-heap keyed on the next segment of every tensor
  const slope = (k: number) => {
    const h = hulls[k]!,
      p = pos[k]!;
    if (p + 1 >= h.length) return -1;
    const a = cand(k, h[p]!),
      b = cand(k, h[p + 1]!);
    return (a.error - b.error) / (b.bytes - a.bytes);
  };
  const heap = new SegmentHeap();
  for (let k = 0; k < items.length; k++) {
    const s = slope(k);
    if (s >= 0) heap.push(s, k);
  }
  while (heap.size) {
    const { k } = heap.peek()!;
    const h = hulls[k]!;
    const a = cand(k, h[pos[k]!]!),
      b = cand(k, h[pos[k]! + 1]!);
    if (bytes - a.bytes + b.bytes > budget) break; // λ reached: the budget runs out here
    heap.pop();
    bytes += b.bytes - a.bytes;
    pos[k]!++;
    choice[k] = h[pos[k]!]!;
    const s = slope(k);
    if (s >= 0) heap.push(s, k);
  }

  // the DP solution, when it is better
  const dp = knapsack(items, fronts, budget - minBytes);
  if (dp) {
    let e1 = 0,
      e2 = 0;
    for (let k = 0; k < items.length; k++) {
      e1 += cand(k, choice[k]!).error;
      e2 += cand(k, dp[k]!).error;
    }
    if (e2 < e1) {
      for (let k = 0; k < items.length; k++) choice[k] = dp[k]!;
      bytes = 0;
      for (let k = 0; k < items.length; k++) bytes += cand(k, choice[k]!).bytes;
    }
  }

  // exact fill: the best remaining upgrade (error saved per byte) that still fits, until none does
  for (;;) {
    let best = -1,
      bestTo = -1,
      bestRate = 0;
    for (let k = 0; k < items.length; k++) {
      const cur = cand(k, choice[k]!);
      for (const i of fronts[k]!) {
        const c = cand(k, i);
        if (c.bytes <= cur.bytes || c.error >= cur.error || bytes - cur.bytes + c.bytes > budget) continue;
        const rate = (cur.error - c.error) / (c.bytes - cur.bytes);
        if (rate > bestRate) {
          best = k;
          bestTo = i;
          bestRate = rate;
        }
      }
    }
    if (best < 0) break;
    bytes += cand(best, bestTo).bytes - cand(best, choice[best]!).bytes;
    choice[best] = bestTo;
  }
  let error = 0;
  for (let k = 0; k < items.length; k++) error += cand(k, choice[k]!).error;
  return { choice, bytes, error, minBytes, maxBytes };
}

/** Byte cells of the dynamic program (its exactness: a tensor's bytes are rounded up to a cell). */
const DP_CELLS = 8192;

/**
 * Multiple-choice knapsack over the fronts: the least Σ error with Σ (bytes − each tensor's
 * smallest) ≤ extra, bytes counted in whole cells rounded up (so the true sum fits too). Returns
 * the choice (candidate indices) or null when the problem is too big for it.
 */
function knapsack(items: readonly AllocItem[], fronts: readonly number[][], extra: number): number[] | null {
  if (extra <= 0 || items.length * (DP_CELLS + 1) > 64e6) return null;
  const cell = Math.max(1, Math.ceil(extra / DP_CELLS));
  const cap = Math.floor(extra / cell);
  let best = new Float64Array(cap + 1); // least error using at most j cells, items so far
  const pick: Uint8Array[] = [];
  for (let k = 0; k < items.length; k++) {
    const f = fronts[k]!;
    if (f.length > 255) return null;
    const c = items[k]!.candidates;
    const base = c[f[0]!]!.bytes;
    const next = new Float64Array(cap + 1).fill(Infinity);
    const p = new Uint8Array(cap + 1);
    for (let i = 0; i < f.length; i++) {
      const cc = c[f[i]!]!;
      const w = Math.ceil((cc.bytes - base) / cell);
      for (let j = w; j <= cap; j++) {
        const v = best[j - w]! + cc.error;
        if (v < next[j]!) {
          next[j] = v;
          p[j] = i;
        }
      }
    }
    pick.push(p);
    best = next;
  }
  const out = new Array<number>(items.length);
  let j = cap;
  for (let k = items.length - 1; k >= 0; k--) {
    const f = fronts[k]!;
    const i = pick[k]![j]!;
    out[k] = f[i]!;
    const c = items[k]!.candidates;
    j -= Math.ceil((c[f[i]!]!.bytes - c[f[0]!]!.bytes) / cell);
  }
  return out;
}

/** Max-heap of (slope, tensor index); equal slopes: the lower index first. */
class SegmentHeap {
  private a: { s: number; k: number }[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): { s: number; k: number } | undefined {
    return this.a[0];
  }
  private above(x: { s: number; k: number }, y: { s: number; k: number }): boolean {
    return x.s > y.s || (x.s === y.s && x.k < y.k);
  }
  push(s: number, k: number): void {
    const a = this.a;
    a.push({ s, k });
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.above(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (!a.length) return;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < a.length && this.above(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.above(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

/** "2.1GB", "750MiB", "123456" (bytes): decimal SI units (k/KB/MB/GB/TB) and binary ones (KiB/MiB/GiB/TiB). */
export function parseByteSize(s: string, what = '--target-size'): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(i?)([bB]?)\s*$/.exec(s);
  if (!m) throw new LowbitError(`${what}: cannot read '${s}' as a size (e.g. 2.1GB, 750MiB, 123456)`);
  const pow = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  const base = m[3] ? 1024 : 1000;
  if (m[3] && !m[2]) throw new LowbitError(`${what}: cannot read '${s}' as a size (e.g. 2.1GB, 750MiB, 123456)`);
  const v = Math.floor(Number(m[1]) * base ** pow);
  if (!Number.isFinite(v) || v <= 0) throw new LowbitError(`${what}: must be a positive size, not '${s}'`);
  return v;
}
