// Fixed-range histograms, fed in chunks. Used for weight distributions and for where quantized
// weights land (their dequantized values pile up on the format's levels).
import { LowbitError } from '../errors.js';

export interface HistogramData {
  min: number;
  max: number;
  /** counts per equal-width bin over [min, max]; values outside are clamped into the end bins */
  counts: number[];
  /** total values added (non-finite ones are skipped) */
  total: number;
}

export class Histogram {
  readonly counts: Float64Array;
  total = 0;
  private readonly scale: number;

  constructor(
    readonly min: number,
    readonly max: number,
    readonly bins: number,
  ) {
    if (!(bins >= 1) || !Number.isInteger(bins)) throw new LowbitError(`bins must be a positive integer, got ${bins}`);
    if (!(max >= min) || !Number.isFinite(min) || !Number.isFinite(max))
      throw new LowbitError(`bad histogram range [${min}, ${max}]`);
    this.counts = new Float64Array(bins);
    this.scale = max > min ? bins / (max - min) : 0;
  }

  add(values: ArrayLike<number>): void {
    const last = this.bins - 1;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) continue;
      let b = Math.floor((v - this.min) * this.scale);
      if (b < 0) b = 0;
      else if (b > last) b = last;
      this.counts[b]!++;
      this.total++;
    }
  }

  /** centre of bin i */
  binCenter(i: number): number {
    return this.min + (i + 0.5) * ((this.max - this.min) / this.bins);
  }

  data(): HistogramData {
    return { min: this.min, max: this.max, counts: Array.from(this.counts), total: this.total };
  }
}

/** Range of the finite values in an array (for choosing histogram bounds); [0, 0] when none. */
export function finiteRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * The distinct values a quantized block decodes to, most frequent first: for one block of a block
 * format these are exactly the levels its codes map to (the "landing points").
 */
export function distinctValues(values: ArrayLike<number>, limit = 1024): { value: number; count: number }[] {
  const m = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    m.set(v, (m.get(v) ?? 0) + 1);
    if (m.size > limit) break;
  }
  return [...m].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value - b.value);
}
