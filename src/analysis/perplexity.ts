// Perplexity and KL divergence exactly the way llama.cpp's llama-perplexity computes them
// (tools/perplexity/perplexity.cpp, `--kl-divergence-base` then `--kl-divergence`):
//
// - The text is tokenized once (with BOS when the vocabulary adds one) and cut into
//   floor(nTokens / nCtx) chunks of nCtx tokens; at least 2·nCtx tokens are needed.
// - Each chunk is evaluated from an empty KV cache, its first token replaced by BOS.
// - Only the second half is scored: the logits at positions first = floor(nCtx/2) … nCtx-2
//   predict tokens first+1 … nCtx-1, so every scored token has at least nCtx/2 tokens of context.
// - Perplexity is exp(mean NLL) over the scored tokens.
// - For KL the reference model's log-probabilities are stored as llama-perplexity stores them in its
//   base file: per position a float scale and minimum and one uint16 per vocabulary entry, over at
//   most 16 nats below the top. KL(ref ‖ model) = Σ p_ref·(log p_ref − log p_model) over entries
//   with log p_ref > −16; "same top" compares the argmax of both (first index wins a tie).
// - Mean with ± uncertainty, percentiles by linear interpolation of the sorted per-position values.
//
// C float arithmetic is mirrored with Math.fround so results track the C tool closely (expf/log
// may still differ from the C library by an ulp). Browser-safe: plain arrays in, numbers out.
import { LowbitError } from '../errors.js';

const f = Math.fround;

/** How many uint16 llama-perplexity stores per scored position: 2 floats of header + the vocab, padded to even. */
export function logProbStride(nVocab: number): number {
  return 2 * Math.floor((nVocab + 1) / 2) + 4;
}

export interface PerplexityChunk {
  /** the nCtx tokens to evaluate, first one already replaced by BOS when the model adds BOS */
  tokens: number[];
  /** first position whose logits are scored (floor(nCtx/2)) */
  first: number;
}

/**
 * Cut a token stream into llama-perplexity's chunks. `tokens` is the whole text tokenized as the tool
 * does it (BOS prepended when the model adds one); bos is the BOS token or null when the model adds none.
 */
export function perplexityChunks(
  tokens: readonly number[],
  nCtx: number,
  bos: number | null,
  maxChunks = Infinity,
): PerplexityChunk[] {
  if (!Number.isInteger(nCtx) || nCtx < 4)
    throw new LowbitError(`context must be an integer of at least 4, got ${nCtx}`);
  if (tokens.length < 2 * nCtx) {
    throw new LowbitError(
      `need at least ${2 * nCtx} tokens to evaluate perplexity with a context of ${nCtx}; the text has ${tokens.length}`,
    );
  }
  const n = Math.min(Math.floor(tokens.length / nCtx), maxChunks);
  const first = Math.floor(nCtx / 2);
  const out: PerplexityChunk[] = [];
  for (let c = 0; c < n; c++) {
    const t = tokens.slice(c * nCtx, (c + 1) * nCtx);
    if (bos !== null) t[0] = bos;
    out.push({ tokens: t, first });
  }
  return out;
}

function expf(x: number): number {
  return f(Math.exp(x));
}

/**
 * NLL of `tok` under `logits` as llama-perplexity's plain perplexity pass computes it
 * (log_softmax: float max, double sum of expf, double log).
 */
export function tokenNll(logits: ArrayLike<number>, tok: number): number {
  const n = logits.length;
  let max = f(logits[0]!);
  for (let i = 1; i < n; i++) if (logits[i]! > max) max = f(logits[i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += expf(f(logits[i]! - max));
  return -(f(logits[tok]! - max) - Math.log(sum));
}

/**
 * Store one position's log-probabilities the way llama-perplexity writes its KL base file, into
 * out[offset .. offset + logProbStride(n)). Returns the NLL of `tok` (full precision, as the tool does).
 */
export function encodeBaseLogProbs(logits: ArrayLike<number>, tok: number, out: Uint16Array, offset: number): number {
  const n = logits.length;
  let max = f(logits[0]!),
    min = max;
  for (let i = 1; i < n; i++) {
    const v = logits[i]!;
    if (v > max) max = f(v);
    if (v < min) min = f(v);
  }
  min = Math.max(min, f(max - 16));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += expf(f(logits[i]! - max));
  const logSumExp = f(Math.log(sum));
  const minLogProb = f(f(min - max) - logSumExp);
  const scale = f(f(max - min) / 65535);
  const head = new Float32Array(out.buffer, out.byteOffset + offset * 2, 2);
  head[0] = scale;
  head[1] = minLogProb;
  const q = offset + 4;
  if (scale) {
    const inv = f(1 / scale);
    for (let i = 0; i < n; i++) {
      const v = logits[i]!;
      out[q + i] = v > min ? nearestInt(f(inv * f(v - min))) : 0;
    }
  } else {
    out.fill(0, q, q + n);
  }
  return f(max + logSumExp) - logits[tok]!;
}

/** ggml's nearest_int: round half to even through the float mantissa trick (valid |x| < 2^22). */
function nearestInt(x: number): number {
  NI_F32[0] = f(x + 12582912);
  return (NI_I32[0]! & 0x007fffff) - 0x00400000;
}
const NI_F32 = new Float32Array(1);
const NI_I32 = new Int32Array(NI_F32.buffer);

/** Running sums of llama-perplexity's kl_divergence_result. */
export class KlAccumulator {
  sumNll = 0;
  sumNll2 = 0;
  sumNllBase = 0;
  sumNllBase2 = 0;
  sumNllNllBase = 0;
  sumKld = 0;
  sumKld2 = 0;
  sumPDiff = 0;
  sumPDiff2 = 0;
  sumPDiff4 = 0;
  maxPDiff = 0;
  nSameTop = 0;
  count = 0;
  /** per-position KL values, for percentiles (float, as the tool keeps them) */
  private kld: Float32Array = new Float32Array(1024);
  private pDiff: Float32Array = new Float32Array(1024);

  /**
   * Score one position: `logits` of the model under test, `base` the reference's stored
   * log-probabilities at base[offset..], `tok` the actual next token.
   */
  add(logits: ArrayLike<number>, base: Uint16Array, offset: number, tok: number): { kld: number; pDiff: number } {
    const n = logits.length;
    let max = f(logits[0]!),
      imax = 0;
    for (let i = 1; i < n; i++)
      if (logits[i]! > max) {
        max = f(logits[i]!);
        imax = i;
      }
    let sumExp = 0;
    for (let i = 0; i < n; i++) sumExp += expf(f(logits[i]! - max));
    const logSumExp = f(Math.log(sumExp));
    const head = new Float32Array(base.buffer, base.byteOffset + offset * 2, 2);
    const scale = head[0]!,
      minLogProb = head[1]!;
    const q = offset + 4;

    const nll = f(f(max + logSumExp) - logits[tok]!);
    this.sumNll += nll;
    this.sumNll2 += nll * nll;
    const nllBase = f(-f(f(scale * base[q + tok]!) + minLogProb));
    this.sumNllBase += nllBase;
    this.sumNllBase2 += nllBase * nllBase;
    this.sumNllNllBase += nll * nllBase;

    const top = f(max + logSumExp);
    let sum = 0,
      imaxBase = -1,
      pLogBaseMax = 0;
    for (let i = 0; i < n; i++) {
      const pLogBase = f(f(scale * base[q + i]!) + minLogProb);
      if (i === 0 || pLogBase > pLogBaseMax) {
        pLogBaseMax = pLogBase;
        imaxBase = i;
      }
      if (pLogBase > -16) {
        const pBase = expf(pLogBase);
        sum += f(pBase * f(f(pLogBase - logits[i]!) + top));
      }
    }
    this.sumKld += sum;
    this.sumKld2 += sum * sum;
    this.count++;
    if (imax === imaxBase) this.nSameTop++;

    const pDiff = f(expf(-nll) - expf(-nllBase));
    this.sumPDiff += pDiff;
    const pDiff2 = pDiff * pDiff;
    this.sumPDiff2 += pDiff2;
    this.sumPDiff4 += pDiff2 * pDiff2;
    this.maxPDiff = Math.max(this.maxPDiff, Math.abs(pDiff));

    if (this.count > this.kld.length) {
      const grow = (a: Float32Array) => {
        const b = new Float32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.kld = grow(this.kld);
      this.pDiff = grow(this.pDiff);
    }
    this.kld[this.count - 1] = sum;
    this.pDiff[this.count - 1] = pDiff;
    return { kld: f(sum), pDiff };
  }

  result(): KlResult {
    const n = this.count;
    const logPpl = meanAndUncertainty(this.sumNll, this.sumNll2, n);
    const logPplBase = meanAndUncertainty(this.sumNllBase, this.sumNllBase2, n);
    const kl = meanAndUncertainty(this.sumKld, this.sumKld2, n);
    const sorted = this.kld.slice(0, n).sort();
    const pd = this.pDiff.slice(0, n).sort();
    const pDiffMse = meanAndUncertainty(this.sumPDiff2, this.sumPDiff4, n);
    const sameTop = n ? this.nSameTop / n : 0;
    return {
      count: n,
      perplexity: Math.exp(logPpl.mean),
      perplexityUncertainty: Math.exp(logPpl.mean) * logPpl.uncertainty,
      refPerplexity: Math.exp(logPplBase.mean),
      klMean: kl.mean,
      klUncertainty: kl.uncertainty,
      klMedian: n ? (n % 2 === 0 ? f(0.5 * f(sorted[n / 2]! + sorted[n / 2 - 1]!)) : sorted[(n - 1) / 2]!) : 0,
      klP99: n ? percentile(sorted, 0.99) : 0,
      klMax: n ? sorted[n - 1]! : 0,
      sameTop,
      sameTopUncertainty: n > 1 ? Math.sqrt((sameTop * (1 - sameTop)) / (n - 1)) : 0,
      pDiffRms: Math.sqrt(pDiffMse.mean),
      pDiffMax: this.maxPDiff,
      pDiffMedian: n ? pd[Math.floor(n / 2)]! : 0,
    };
  }
}

export interface KlResult {
  /** scored positions */
  count: number;
  /** PPL(Q): the model under test */
  perplexity: number;
  perplexityUncertainty: number;
  /** PPL(base) from the stored reference log-probabilities */
  refPerplexity: number;
  /** mean KL(ref ‖ model) in nats */
  klMean: number;
  klUncertainty: number;
  klMedian: number;
  /** 99th percentile of the per-position KL */
  klP99: number;
  klMax: number;
  /** share of positions where both models' most likely next token is the same (0-1) */
  sameTop: number;
  sameTopUncertainty: number;
  /** RMS of p_model(tok) - p_ref(tok) */
  pDiffRms: number;
  pDiffMax: number;
  pDiffMedian: number;
}

/** Plain perplexity pass (no reference): llama-perplexity's nll/nll2 sums. */
export class PerplexityAccumulator {
  sumNll = 0;
  sumNll2 = 0;
  count = 0;
  add(logits: ArrayLike<number>, tok: number): number {
    const v = tokenNll(logits, tok);
    this.sumNll += v;
    this.sumNll2 += v * v;
    this.count++;
    return v;
  }
  result(): { count: number; perplexity: number; perplexityUncertainty: number } {
    const m = meanAndUncertainty(this.sumNll, this.sumNll2, this.count);
    return { count: this.count, perplexity: Math.exp(m.mean), perplexityUncertainty: Math.exp(m.mean) * m.uncertainty };
  }
}

/** llama-perplexity's mean ± standard error (zero uncertainty for ≤ 10 samples). */
export function meanAndUncertainty(sum: number, sum2: number, count: number): { mean: number; uncertainty: number } {
  if (count < 1) return { mean: 0, uncertainty: 0 };
  const mean = sum / count;
  const df = sum2 / count - mean * mean;
  return { mean, uncertainty: df > 0 && count > 10 ? Math.sqrt(df / (count - 1)) : 0 };
}

/** llama-perplexity's percentile of sorted values: linear interpolation at fraction·(n-1), in float. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  const n = sorted.length;
  if (n === 0) throw new LowbitError('percentile of no values', 'EINTERNAL');
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[n - 1]!;
  let p = f(f(fraction) * (n - 1));
  const ip = Math.floor(p);
  p = f(p - ip);
  return f(f(f(1 - p) * sorted[ip]!) + f(p * sorted[Math.min(ip + 1, n - 1)]!));
}
