// Shared plumbing of the legacy 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): the codec
// definition (legacyCodec), 4/5-bit packing and unpacking, FP16 stores, and the
// per-row importance weights ggml's quantize_row_*_impl build. Each format file keeps only its
// own arithmetic (scale choice, rounding, imatrix search).
import type { BlockCodec } from '../codec.js';
import { defineCodec } from '../define-codec.js';
import { ggmlTypeById } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import type { BlockKernelName, RowKernelName } from '../wasm/kernels.js';
import { makeQkx3Quants, makeQxQuants } from './search.js';

export const QK = 32;
const fround = Math.fround;

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
  x: Float32Array,
  xOff: number,
  qw: Float32Array,
  qwOff: number,
  sigma2: number,
  out: Float32Array,
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
  let m0 = 0,
    m1 = 0,
    m2 = 0,
    m3 = 0;
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

/**
 * Min and max of x[i..i+32) into laneMM[0], laneMM[1], in two independent lanes (faster than one
 * chain). Math.min/max propagate NaN and order -0 < +0: callers fall back to ggml's in-order loop
 * whenever that could matter.
 */
const laneMM = new Float64Array(2);
function laneMinMax(x: Float32Array, i: number): void {
  let hi0 = -Infinity,
    hi1 = -Infinity,
    lo0 = Infinity,
    lo1 = Infinity;
  for (let j = i; j < i + 32; j += 2) {
    const a = x[j]!;
    const b = x[j + 1]!;
    hi0 = Math.max(hi0, a);
    lo0 = Math.min(lo0, a);
    hi1 = Math.max(hi1, b);
    lo1 = Math.min(lo1, b);
  }
  laneMM[0] = Math.min(lo0, lo1);
  laneMM[1] = Math.max(hi0, hi1);
}

/** The Q4_0/Q5_0 `max`: the first value of largest magnitude in x[i..i+32) (+0 if all zero). */
export function blockAbsMaxValue(x: Float32Array, i: number): number {
  laneMinMax(x, i);
  const lo = laneMM[0]!,
    hi = laneMM[1]!;
  if (hi > -lo) return hi; // only values equal to hi have the largest magnitude
  if (-lo > hi) return lo;
  let amax = 0;
  let max = 0;
  for (let j = i; j < i + 32; j++) {
    const v = x[j]!;
    const a = Math.abs(v);
    if (amax < a) {
      amax = a;
      max = v;
    }
  }
  return max;
}

/** Q4_1/Q5_1's min and max (from FLT_MAX/-FLT_MAX, strict compares) into out[0], out[1]. */
export function blockMinMax(x: Float32Array, i: number, out: Float64Array): void {
  laneMinMax(x, i);
  let lo = laneMM[0]!,
    hi = laneMM[1]!;
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

/** What differs between the legacy codecs; legacyCodec() supplies everything else. */
export interface LegacyCodecSpec {
  name: 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0';
  /** its WebAssembly kernels: blocks without an imatrix, rows with one (absent: no imatrix path), dequantize */
  kernels: { quant: BlockKernelName; quantImatrix?: RowKernelName; dequant: BlockKernelName };
  typeId: number;
  layout: string;
  /** quantize_row_*_ref over n values (the no-imatrix path) */
  quantizeRef(x: Float32Array, y: Uint8Array, n: number): void;
  /** quantize_row_*_impl for one row; absent when ggml ignores the imatrix (Q8_0) */
  quantizeRowImatrix?: (
    x: Float32Array,
    xOff: number,
    y: Uint8Array,
    yOff: number,
    nPerRow: number,
    qw: Float32Array,
  ) => void;
  dequantizeRef(src: Uint8Array, dst: Float32Array, n: number): void;
}

/**
 * The codec definition of a legacy format: the reference runs whole (without an imatrix) or row by
 * row (with one). The spec's functions are called once per call (or per row), never per element,
 * so the hot loops stay in the format files, monomorphic.
 */
export function legacyCodec(spec: LegacyCodecSpec): BlockCodec {
  const { quantizeRef, quantizeRowImatrix } = spec;
  const typeSize = ggmlTypeById(spec.typeId)!.typeSize;
  return defineCodec({
    name: spec.name,
    typeId: spec.typeId,
    layout: spec.layout,
    imatrix: quantizeRowImatrix ? 'used' : 'ignored',
    kernels: spec.kernels,
    quantize(src, dst, nRows, nPerRow, imatrix) {
      if (!imatrix || !quantizeRowImatrix) {
        quantizeRef(src, dst, nRows * nPerRow);
        return;
      }
      const rowBytes = (nPerRow / QK) * typeSize;
      for (let r = 0; r < nRows; r++) quantizeRowImatrix(src, r * nPerRow, dst, r * rowBytes, nPerRow, imatrix);
    },
    dequantize: spec.dequantizeRef,
  });
}

// Packing. Codes arrive as ints whose low byte is ggml's uint8_t code, so q4_0's (int8_t) casts
// and q5_1's unclamped codes pack as C's uint8_t stores do. The per-pair helpers are small enough
// for V8 to inline, so the reference loops keep one pass with no scratch buffer.

/** Q4_0/Q4_1: weight j in the low nibble, weight j+16 in the high nibble of one byte. */
export function nibblePair(q0: number, q1: number): number {
  return (q0 & 0xff) | (q1 << 4);
}

/** Q5_0/Q5_1: stores the low nibbles of weights j, j+16 at y[qs+j]; returns their 5th bits as qh bits. */
export function q5Pair(y: Uint8Array, qs: number, j: number, q0: number, q1: number): number {
  y[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
  return (((q0 & 0x10) >>> 4) << j) | (((q1 & 0x10) >>> 4) << (j + 16));
}

export function storeU32(y: Uint8Array, o: number, v: number): void {
  y[o] = v;
  y[o + 1] = v >>> 8;
  y[o + 2] = v >>> 16;
  y[o + 3] = v >>> 24;
}

/** Q4_0/Q4_1 codes L[0..32) packed at y[o..o+16). */
export function packNibbles(L: Uint8Array, y: Uint8Array, o: number): void {
  for (let j = 0; j < 16; j++) y[o + j] = nibblePair(L[j]!, L[j + 16]!);
}

/** Q5_0/Q5_1 codes L[0..32): 4 bytes qh at y[qhOff] (bit j = 5th bit of weight j), nibbles at y[qsOff]. */
export function packQ5(L: Uint8Array, y: Uint8Array, qhOff: number, qsOff: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) qh |= q5Pair(y, qsOff, j, L[j]!, L[j + 16]!);
  storeU32(y, qhOff, qh);
}

// Importance-weighted rows (quantize_row_q{4,5}_{0,1}_impl). The 4- and 5-bit variants differ
// only in nmax and packing; pack5 picks the packing once per block, not per element.
const weight = new Float32Array(QK);
const Ls = new Int8Array(QK);
const LsU = new Uint8Array(Ls.buffer); // make_qx_quants codes are 0..2·nmax-1: same bytes either view
const L = new Uint8Array(QK);
const Laux = new Uint8Array(QK);
const theMin = new Float32Array(1);

/** Q4_0 (nmax 8) / Q5_0 (nmax 16): make_qx_quants(32, nmax, …, rmse_type 1, weights) per block. */
export function imatrixRowSymmetric(
  nmax: number,
  typeSize: number,
  pack5: boolean,
  x: Float32Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
  nPerRow: number,
  qw: Float32Array,
): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += typeSize) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQxQuants(QK, nmax, x, xb, Ls, 0, 1, weight, 0);
    storeFp16(y, o, d);
    if (pack5) packQ5(LsU, y, o + 2, o + 6);
    else packNibbles(LsU, y, o + 2);
  }
}

/** Q4_1 (nmax 15) / Q5_1 (nmax 31): make_qkx3_quants(32, nmax, …, -0.9f, 0.05f, 36, false) per block. */
export function imatrixRowAffine(
  nmax: number,
  typeSize: number,
  pack5: boolean,
  x: Float32Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
  nPerRow: number,
  qw: Float32Array,
): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += typeSize) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQkx3Quants(QK, nmax, x, xb, weight, 0, L, 0, theMin, 0, Laux, 0, -0.9, 0.05, 36, false);
    storeFp16(y, o, d);
    storeFp16(y, o + 2, -theMin[0]!);
    if (pack5) packQ5(L, y, o + 4, o + 8);
    else packNibbles(L, y, o + 4);
  }
}

// Dequantizing. weight = (q + bias)·d + m with m = -0 for the formats without a minimum: adding
// -0 leaves every float (±0, NaN, ±Inf included) unchanged, so Q4_0/Q5_0 keep ggml's (q - k)·d
// exactly, and for Q4_1/Q5_1 q·d is exact in double, so the one rounding of q·d + m to float32
// equals C's two float ops.

/** dequantize_row_q4_0 (bias -8, no minimum) and dequantize_row_q4_1 (bias 0, FP16 minimum). */
export function dequantizeNibbles(
  src: Uint8Array,
  dst: Float32Array,
  n: number,
  typeSize: number,
  bias: number,
  hasMin: boolean,
): void {
  const fp16 = fp16Table;
  const qs = hasMin ? 4 : 2;
  for (let i = 0, o = 0; i < n; i += QK, o += typeSize) {
    const d = fp16[src[o]! | (src[o + 1]! << 8)]!;
    const m = hasMin ? fp16[src[o + 2]! | (src[o + 3]! << 8)]! : -0;
    const q = o + qs;
    for (let j = 0; j < 16; j++) {
      const b = src[q + j]!;
      dst[i + j] = ((b & 0x0f) + bias) * d + m;
      dst[i + j + 16] = ((b >>> 4) + bias) * d + m;
    }
  }
}

/** dequantize_row_q5_0 (bias -16, no minimum) and dequantize_row_q5_1 (bias 0, FP16 minimum). */
export function dequantizeQ5(
  src: Uint8Array,
  dst: Float32Array,
  n: number,
  typeSize: number,
  bias: number,
  hasMin: boolean,
): void {
  const fp16 = fp16Table; // bound locally (see above)
  const qhOff = hasMin ? 4 : 2;
  for (let i = 0, o = 0; i < n; i += QK, o += typeSize) {
    const d = fp16[src[o]! | (src[o + 1]! << 8)]!;
    const m = hasMin ? fp16[src[o + 2]! | (src[o + 3]! << 8)]! : -0;
    const h = o + qhOff;
    const qh = src[h]! | (src[h + 1]! << 8) | (src[h + 2]! << 16) | (src[h + 3]! << 24);
    const qs = h + 4;
    for (let j = 0; j < 16; j++) {
      const b = src[qs + j]!;
      dst[i + j] = (((b & 0x0f) | (((qh >>> j) << 4) & 0x10)) + bias) * d + m;
      dst[i + j + 16] = (((b >>> 4) | ((qh >>> (j + 12)) & 0x10)) + bias) * d + m;
    }
  }
}
