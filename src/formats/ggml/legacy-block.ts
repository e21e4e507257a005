// Shared plumbing of the legacy 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): argument
// checks, FP16 stores, and the per-row importance weights ggml's quantize_row_*_impl build.
import { LowbitError } from '../../errors.js';
import { fp32ToFp16 } from '../half.js';

export const QK = 32;
const fround = Math.fround;

/** Rejects shapes ggml would assert on (or silently misread) before any byte is written. */
export function checkQuantizeArgs(
  name: string, typeSize: number, src: Float32Array, dst: Uint8Array,
  nRows: number, nPerRow: number, imatrix: Float32Array | null,
): void {
  if (!Number.isSafeInteger(nPerRow) || nPerRow <= 0 || nPerRow % QK !== 0) {
    throw new LowbitError(`${name}: row length ${nPerRow} is not a positive multiple of ${QK}`);
  }
  if (!Number.isSafeInteger(nRows) || nRows < 0) throw new LowbitError(`${name}: bad row count ${nRows}`);
  if (src.length < nRows * nPerRow) {
    throw new LowbitError(`${name}: ${nRows} rows of ${nPerRow} need ${nRows * nPerRow} floats, got ${src.length}`);
  }
  const need = nRows * (nPerRow / QK) * typeSize;
  if (dst.length < need) throw new LowbitError(`${name}: output needs ${need} bytes, got ${dst.length}`);
  if (imatrix && imatrix.length < nPerRow) {
    throw new LowbitError(`${name}: importance matrix has ${imatrix.length} entries, row length is ${nPerRow}`);
  }
}

export function checkDequantizeArgs(name: string, typeSize: number, src: Uint8Array, dst: Float32Array, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n % QK !== 0) {
    throw new LowbitError(`${name}: element count ${n} is not a multiple of ${QK}`);
  }
  const need = (n / QK) * typeSize;
  if (src.length < need) throw new LowbitError(`${name}: ${n} values need ${need} bytes, got ${src.length}`);
  if (dst.length < n) throw new LowbitError(`${name}: output holds ${dst.length} floats, need ${n}`);
}

/** GGML_FP32_TO_FP16 stored little-endian at dst[o], dst[o+1]. */
export function storeFp16(dst: Uint8Array, o: number, v: number): void {
  const h = fp32ToFp16(v);
  dst[o] = h & 0xff;
  dst[o + 1] = h >>> 8;
}

/** sigma2 = (Σ x²) / n_per_row over one row, accumulated in float32 in ggml's order. */
export function rowSigma2(x: Float32Array, off: number, nPerRow: number): number {
  const fround = Math.fround;
  let sum = 0;
  for (let j = 0; j < nPerRow; j++) {
    const v = x[off + j]!;
    sum = fround(sum + fround(v * v));
  }
  return fround(sum / nPerRow);
}

/** weight[j] = qw[j] * sqrtf(sigma2 + x[j]²) for one block of 32. */
export function blockWeights(
  x: Float32Array, xOff: number, qw: Float32Array, qwOff: number, sigma2: number, out: Float32Array,
): void {
  const fround = Math.fround;
  for (let j = 0; j < QK; j++) {
    const v = x[xOff + j]!;
    out[j] = fround(qw[qwOff + j]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
  }
}

// Block scans. ggml walks the 32 values in order with data-dependent branches; the same answers
// come faster from independent Math.max/Math.min lanes (no loop-carried branch), falling back to
// ggml's literal loop whenever order could matter: NaNs, ±0 sign ties, ±Inf, equal ±amax.

/** quantize_row_q8_0_ref's amax = MAX(amax, fabsf(v)) over x[i..i+32). */
export function blockAmax(x: Float32Array, i: number): number {
  let m0 = 0, m1 = 0, m2 = 0, m3 = 0;
  for (let j = i; j < i + 32; j += 4) {
    m0 = Math.max(m0, Math.abs(x[j]!));
    m1 = Math.max(m1, Math.abs(x[j + 1]!));
    m2 = Math.max(m2, Math.abs(x[j + 2]!));
    m3 = Math.max(m3, Math.abs(x[j + 3]!));
  }
  const m = Math.max(Math.max(m0, m1), Math.max(m2, m3));
  if (m === m) return m;
  let amax = 0;
  for (let j = i; j < i + 32; j++) {
    const a = Math.abs(x[j]!);
    amax = amax > a ? amax : a;
  }
  return amax;
}

/** The Q4_0/Q5_0 `max`: the first value of largest magnitude in x[i..i+32) (+0 if all zero). */
export function blockAbsMaxValue(x: Float32Array, i: number): number {
  let hi0 = -Infinity, hi1 = -Infinity, lo0 = Infinity, lo1 = Infinity;
  for (let j = i; j < i + 32; j += 2) {
    const a = x[j]!;
    const b = x[j + 1]!;
    hi0 = Math.max(hi0, a);
    lo0 = Math.min(lo0, a);
    hi1 = Math.max(hi1, b);
    lo1 = Math.min(lo1, b);
  }
  const hi = Math.max(hi0, hi1);
  const lo = Math.min(lo0, lo1);
  if (hi > -lo) return hi; // only values equal to hi have the largest magnitude
  if (-lo > hi) return lo;
  let amax = 0;
  let max = 0;
  for (let j = i; j < i + 32; j++) {
    const v = x[j]!;
    const a = Math.abs(v);
    if (amax < a) { amax = a; max = v; }
  }
  return max;
}

/** Q4_1/Q5_1's min and max (from FLT_MAX/-FLT_MAX, strict compares) into out[0], out[1]. */
export function blockMinMax(x: Float32Array, i: number, out: Float64Array): void {
  let hi0 = -Infinity, hi1 = -Infinity, lo0 = Infinity, lo1 = Infinity;
  for (let j = i; j < i + 32; j += 2) {
    const a = x[j]!;
    const b = x[j + 1]!;
    hi0 = Math.max(hi0, a);
    lo0 = Math.min(lo0, a);
    hi1 = Math.max(hi1, b);
    lo1 = Math.min(lo1, b);
  }
  let hi = Math.max(hi0, hi1);
  let lo = Math.min(lo0, lo1);
  if (!(lo > -Infinity && hi < Infinity) || lo === 0 || hi === 0) {
    lo = FLT_MAX;
    hi = -FLT_MAX;
    for (let j = i; j < i + 32; j++) {
      const v = x[j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  out[0] = lo;
  out[1] = hi;
}

const FLT_MAX = 3.4028234663852886e38;
