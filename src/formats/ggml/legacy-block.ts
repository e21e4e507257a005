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
  for (let j = 0; j < QK; j++) {
    const v = x[xOff + j]!;
    out[j] = fround(qw[qwOff + j]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
  }
}
