// llama-imatrix --show-statistics (compute_statistics, compute_cossim): per tensor, over the mean
// squared activations (sum / count per expert row): Σ, min, max, mean, standard deviation, share of
// active columns (> 1e-5), entropy, share of z-scores above 1, cosine similarity with the same
// tensor one layer up. float32 arithmetic as llama.cpp's. Browser-safe.
import type { ImatrixEntry } from './collector.js';

export interface TensorStatistics {
  tensor: string;
  /** block number, or -1 */
  layer: number;
  /** short name (attn_q, ffn_down ...) */
  name: string;
  sum: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** share of columns with a mean square above 1e-5 */
  active: number;
  elements: number;
  entropy: number;
  /** entropy / log2(elements) */
  entropyNorm: number;
  /** share of columns more than one standard deviation above the mean */
  zd: number;
  /** cosine similarity of the sums with the same tensor in the previous block (0 when none) */
  cossim: number;
}

export const STAT_SORT_KEYS = [
  'name',
  'tensor',
  'layer',
  'sum',
  'min',
  'max',
  'mean',
  'std',
  'active',
  'entropy',
  'zd',
  'cossim',
] as const;
export type StatSortKey = (typeof STAT_SORT_KEYS)[number];

/** process_tensor_name: layer after "blk", name before "weight". */
function splitName(input: string): { layer: string; name: string } {
  const parts = input.split('.');
  let layer = '',
    name = '';
  for (let i = 0; i < parts.length; i++)
    if (parts[i] === 'blk' && i + 1 < parts.length) {
      layer = parts[i + 1]!;
      break;
    }
  for (let i = 0; i < parts.length; i++)
    if (parts[i] === 'weight' && i > 0) {
      name = parts[i - 1]!;
      break;
    }
  return { layer: layer || '-', name: name || input };
}

export function computeStatistics(stats: ReadonlyMap<string, ImatrixEntry>): TensorStatistics[] {
  const f = Math.fround;
  const out: TensorStatistics[] = [];
  for (const [tensor, e] of stats) {
    if (e.counts.length === 0 || e.values.length % e.counts.length !== 0) continue;
    const nMat = e.counts.length,
      row = e.values.length / nMat;
    const act: number[] = [];
    for (let i = 0; i < nMat; i++) {
      const c = e.counts[i]!;
      if (c === 0) continue;
      for (let j = 0; j < row; j++) act.push(f(e.values[i * row + j]! / f(c)));
    }
    if (!act.length) continue;
    let total = 0,
      sq = 0,
      max = -Infinity,
      min = Infinity;
    for (const a of act) {
      total = f(total + a);
      sq = f(sq + f(a * a));
      if (a > max) max = a;
      if (a < min) min = a;
    }
    const mean = f(total / act.length);
    const variance = f(f(sq / act.length) - f(mean * mean));
    const std = f(Math.sqrt(Math.max(0, variance)));
    let inactive = 0;
    for (const a of act) if (Math.abs(a) <= f(1e-5)) inactive++;
    let entropy = 0;
    if (total > 0)
      for (const a of act) {
        const p = f(a / total);
        if (p > 0) entropy = f(entropy - f(p * f(Math.log2(p))));
      }
    let z = 0;
    if (std > 0) for (const a of act) if (f(f(a - mean) / std) > 1) z++;
    const { layer, name } = splitName(tensor);
    const blk = /^\d+$/.test(layer) ? Number(layer) : -1;
    out.push({
      tensor,
      layer: blk,
      name,
      sum: total,
      min,
      max,
      mean,
      std,
      active: f(1 - f(inactive / act.length)),
      elements: act.length,
      entropy,
      entropyNorm: act.length > 1 ? entropy / Math.log2(act.length) : 0,
      zd: z / act.length,
      cossim: 0,
    });
  }
  // cosine similarity with blk.(n-1) of the same tensor, over the raw sums
  const byName = new Map(out.map((s) => [s.tensor, s]));
  for (const s of out) {
    const m = /blk\.(\d+)\./.exec(s.tensor);
    if (!m) continue;
    const prevName =
      s.tensor.slice(0, m.index! + 4) + String(Number(m[1]) - 1) + s.tensor.slice(m.index! + 4 + m[1]!.length);
    const a = stats.get(s.tensor)!.values,
      bEntry = stats.get(prevName);
    if (!byName.has(prevName) || !bEntry) continue;
    const b = bEntry.values;
    let dp = 0,
      ma = 0,
      mb = 0;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      dp = f(dp + f(a[i]! * b[i]!));
      ma = f(ma + f(a[i]! * a[i]!));
      mb = f(mb + f(b[i]! * b[i]!));
    }
    s.cossim = f(dp / f(f(Math.sqrt(ma)) * f(Math.sqrt(mb))));
  }
  return out;
}

/** llama-imatrix's order (short name, then Σ descending), or by one column (numbers descending, names ascending). */
export function sortStatistics(rows: TensorStatistics[], key: StatSortKey | 'default' = 'default'): TensorStatistics[] {
  const r = [...rows];
  if (key === 'default') return r.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : b.sum - a.sum));
  if (key === 'name' || key === 'tensor') return r.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
  if (key === 'layer') return r.sort((a, b) => a.layer - b.layer || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return r.sort((a, b) => (b[key] as number) - (a[key] as number));
}

/** Weighted per-layer averages (μΣ(Act²), μZD, μCosSim), weights = elements. */
export function layerStatistics(
  rows: readonly TensorStatistics[],
): { layer: number; sum: number; zd: number; cossim: number }[] {
  const m = new Map<number, { b: number; z: number; c: number; n: number }>();
  for (const s of rows) {
    const w = m.get(s.layer) ?? { b: 0, z: 0, c: 0, n: 0 };
    w.b += s.elements * s.sum;
    w.z += s.elements * s.zd;
    w.c += s.elements * s.cossim;
    w.n += s.elements;
    m.set(s.layer, w);
  }
  return [...m]
    .filter(([l, w]) => l >= 0 && w.n > 0)
    .sort((a, b) => a[0] - b[0])
    .map(([layer, w]) => ({ layer, sum: w.b / w.n, zd: w.z / w.n, cossim: w.c / w.n }));
}
