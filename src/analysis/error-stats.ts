// Streaming error metrics between a reference tensor and its approximation (e.g. a dequantized
// quantized tensor). Accumulates in float64 so any number of chunks can be fed in with bounded memory.
import { LowbitError } from '../errors.js';

export interface ErrorStats {
  /** elements compared */
  count: number;
  /** root of the mean squared difference */
  rmse: number;
  /** largest |ref - test| */
  maxAbs: number;
  /** signal-to-quantization-noise ratio: 10·log10(Σref² / Σ(ref-test)²); Infinity when identical */
  sqnrDb: number;
  /** cosine similarity of the two vectors; 1 when both are all zero */
  cosine: number;
  /** root of the mean square of the reference (scale of the signal, to read the RMSE against) */
  refRms: number;
}

export class ErrorAccumulator {
  count = 0;
  sumSqErr = 0;
  sumSqRef = 0;
  sumSqTest = 0;
  dot = 0;
  maxAbs = 0;
  /** elements where either side was NaN or infinite (kept out of the sums) */
  nonFinite = 0;

  add(ref: ArrayLike<number>, test: ArrayLike<number>): void {
    if (ref.length !== test.length) throw new LowbitError(`length mismatch: ${ref.length} vs ${test.length}`);
    let se = 0,
      sr = 0,
      st = 0,
      d = 0,
      mx = this.maxAbs,
      bad = 0;
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i]!,
        t = test[i]!;
      if (!Number.isFinite(r) || !Number.isFinite(t)) {
        bad++;
        continue;
      }
      const e = r - t;
      se += e * e;
      sr += r * r;
      st += t * t;
      d += r * t;
      const a = Math.abs(e);
      if (a > mx) mx = a;
    }
    this.count += ref.length - bad;
    this.nonFinite += bad;
    this.sumSqErr += se;
    this.sumSqRef += sr;
    this.sumSqTest += st;
    this.dot += d;
    this.maxAbs = mx;
  }

  /** Fold another accumulator in (totals over many tensors). */
  merge(o: ErrorAccumulator): void {
    this.count += o.count;
    this.nonFinite += o.nonFinite;
    this.sumSqErr += o.sumSqErr;
    this.sumSqRef += o.sumSqRef;
    this.sumSqTest += o.sumSqTest;
    this.dot += o.dot;
    this.maxAbs = Math.max(this.maxAbs, o.maxAbs);
  }

  result(): ErrorStats {
    return statsFromSums(this);
  }
}

function statsFromSums(a: ErrorAccumulator): ErrorStats {
  const n = a.count;
  const denom = Math.sqrt(a.sumSqRef) * Math.sqrt(a.sumSqTest);
  return {
    count: n,
    rmse: n ? Math.sqrt(a.sumSqErr / n) : 0,
    maxAbs: a.maxAbs,
    sqnrDb: sqnrDb(a.sumSqRef, a.sumSqErr),
    // two zero vectors are the same vector; one zero and one not are orthogonal by convention
    cosine: denom > 0 ? Math.max(-1, Math.min(1, a.dot / denom)) : a.sumSqRef === a.sumSqTest ? 1 : 0,
    refRms: n ? Math.sqrt(a.sumSqRef / n) : 0,
  };
}

/** 10·log10(signal/noise); +Infinity for zero noise, -Infinity for zero signal with noise. */
export function sqnrDb(signalPower: number, noisePower: number): number {
  if (noisePower === 0) return Infinity;
  if (signalPower === 0) return -Infinity;
  return 10 * Math.log10(signalPower / noisePower);
}

/** One-shot metrics of two whole arrays. */
export function errorStats(ref: ArrayLike<number>, test: ArrayLike<number>): ErrorStats {
  const acc = new ErrorAccumulator();
  acc.add(ref, test);
  return acc.result();
}
