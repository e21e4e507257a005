// Block steps the K-quant codecs share: the imatrix weighting of a sub-block, the 2-bit level
// packing (Q2_K, Q3_K), and the Q4_K/Q5_K sub-block scale+min selection, which differ only in
// the level count and ggml's search constants. Plain functions over offsets and module scratch,
// so the per-element loops stay monomorphic and allocate nothing.
import { fp16Table, fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { QK_K, getHalf, makeQkx2, makeQp, packScaleMinK4, putHalf, unpackScaleMinK4 } from './search-k.js';

const fround = Math.fround;
const TENTH = fround(0.1);
const M09 = fround(-0.9);
const P005 = fround(0.05);

/** Σ x² over x[xo..xo+n) in float32, as the _impl functions form it before sigma2. */
export function sumSquares(x: Float32Array, xo: number, n: number): number {
  let s = 0;
  for (let l = 0; l < n; l++) {
    const v = x[xo + l]!;
    s = fround(s + fround(v * v));
  }
  return s;
}

/**
 * weights[l] = qw[qo+l]·sqrt(sigma2 + x²) for one n-weight sub-block at x[xo..]; returns their
 * float32 sum (the sub-block's weight in the make_qp_quants scale search).
 */
export function imatrixWeights(
  x: Float32Array,
  xo: number,
  qw: Float32Array,
  qo: number,
  sigma2: number,
  n: number,
  weights: Float32Array,
): number {
  let sumw = 0;
  for (let l = 0; l < n; l++) {
    const v = x[xo + l]!;
    const w = fround(qw[qo + l]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
    weights[l] = w;
    sumw = fround(sumw + w);
  }
  return sumw;
}

/** qs[j/4 + l] holds 2-bit levels j+l, j+l+32, j+l+64, j+l+96 for j = 0, 128 (Q2_K and Q3_K's low bits). */
export function packLevels2(L: Uint8Array, dst: Uint8Array, q: number): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[q + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

// Q4_K/Q5_K scratch, one block at a time
const weights = new Float32Array(32);
const scales = new Float32Array(8);
const mins = new Float32Array(8);
const sw = new Float32Array(8);
const ls = new Uint8Array(8);
const lm = new Uint8Array(8);
const sc = new Uint8Array(8);
const mm = new Uint8Array(8);

/**
 * quantize_row_q{4,5}_K_ref's scale step: make_qkx2_quants per 32-weight sub-block (weights
 * av_x + |x|), then 6-bit scales/mins relative to the largest. Writes d, dmin and the 12 scale
 * bytes at dst[o..o+16); leaves provisional levels in L.
 */
export function scaleMinRefK4(
  x: Float32Array,
  xo: number,
  nmax: number,
  rmin: number,
  nstep: number,
  L: Uint8Array,
  dst: Uint8Array,
  o: number,
): void {
  let maxScale = 0,
    maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const base = xo + 32 * j;
    const avX = fround(Math.sqrt(fround(sumSquares(x, base, 32) / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[base + l]!);
    makeQkx2(32, nmax, x, base, weights, L, 32 * j, rmin, TENTH, nstep, false, scales, mins, j);
    const s = scales[j]!,
      m = mins[j]!;
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // C stores nearest_int into a uint8_t before MIN(63, ·)
    const a = nearestInt(fround(invScale * scales[j]!)) & 255;
    const b = nearestInt(fround(invMin * mins[j]!)) & 255;
    ls[j] = a < 63 ? a : 63;
    lm[j] = b < 63 ? b : 63;
  }
  packScaleMinK4(dst, o + 4, ls, lm);
  putHalf(dst, o, fp32ToFp16(fround(maxScale / 63)));
  putHalf(dst, o + 2, fp32ToFp16(fround(maxMin / 63)));
}

/**
 * quantize_row_q{4,5}_K_impl's scale step: imatrix-weighted make_qkx3_quants per sub-block, then
 * make_qp_quants over the scales and over the mins. clamp63: Q5_K clamps the uint8 levels (a
 * negative level wrapped to 255 becomes 63); Q4_K does not.
 */
export function scaleMinImatrixK4(
  x: Float32Array,
  xo: number,
  qw: Float32Array,
  qo: number,
  nmax: number,
  clamp63: boolean,
  L: Uint8Array,
  dst: Uint8Array,
  o: number,
): void {
  const sigma2 = fround(fround(2 * sumSquares(x, xo, QK_K)) / QK_K);
  for (let j = 0; j < 8; j++) {
    const base = xo + 32 * j;
    sw[j] = imatrixWeights(x, base, qw, qo + 32 * j, sigma2, 32, weights);
    // make_qkx3_quants with weights given is make_qkx2_quants' arithmetic (see search-k.ts)
    makeQkx2(32, nmax, x, base, weights, L, 32 * j, M09, P005, 36, false, scales, mins, j);
  }
  const dBlock = makeQp(8, 63, scales, ls, sw);
  const mBlock = makeQp(8, 63, mins, lm, sw);
  if (clamp63) {
    for (let j = 0; j < 8; j++) {
      if (ls[j]! > 63) ls[j] = 63;
      if (lm[j]! > 63) lm[j] = 63;
    }
  }
  packScaleMinK4(dst, o + 4, ls, lm);
  putHalf(dst, o, fp32ToFp16(dBlock));
  putHalf(dst, o + 2, fp32ToFp16(mBlock));
}

/** Re-rounds every weight of the block to 0..nmax against the final fp16 d/dmin and 6-bit scales/mins, into L. */
export function relevelK4(x: Float32Array, xo: number, nmax: number, L: Uint8Array, dst: Uint8Array, o: number): void {
  const d0 = fp16Table[getHalf(dst, o)]!;
  const dmin0 = fp16Table[getHalf(dst, o + 2)]!;
  unpackScaleMinK4(dst, o + 4, sc, mm);
  for (let j = 0; j < 8; j++) {
    const d = fround(d0 * sc[j]!);
    if (d === 0) continue;
    const dm = fround(dmin0 * mm[j]!);
    const base = xo + 32 * j;
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(x[base + ii]! + dm) / d));
      L[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
}
