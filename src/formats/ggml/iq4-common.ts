// ggml's quantize_row_iq4_nl_impl, shared by IQ4_NL (one 32-value block per super-block) and IQ4_XS
// (eight 32-value blocks under one FP16 scale with 6-bit sub-scales). Every value is one of the 16
// non-linear levels kvalues_iq4nl times a scale; the scale is searched over 2·ntry+1 candidates.
// Float32 arithmetic is reproduced with Math.fround at every step C rounds to float; scratch
// buffers are module-level so the hot loops allocate nothing.
import { fp32ToFp16 } from '../half.js';
import { GROUP_MAX_EPS, nearestInt } from './search.js';

const fround = Math.fround;

/** ggml's kvalues_iq4nl. */
export const IQ4NL_VALUES: Int8Array = Int8Array.of(
  -127,
  -104,
  -83,
  -65,
  -49,
  -35,
  -22,
  -10,
  1,
  13,
  25,
  38,
  53,
  69,
  89,
  113,
);
const VF = Float64Array.from(IQ4NL_VALUES);

// best_index_int8 returns the upper level when fround(x - lo) < fround(hi - x) fails. Near every
// midpoint of two neighbouring levels both differences are exact in float32 (|x| ≥ 4.5 there, the
// half-gap ≤ 12 fits its precision), and rounding is monotone, so the answer is exactly the count
// of midpoints ≤ x. The midpoints are multiples of 0.5: NMID[floor(2x) + 256] is that count.
const NMID = (() => {
  const t = new Uint8Array(512);
  for (let f = -256; f < 256; f++) {
    let c = 0;
    for (let i = 0; i < 15; i++) if (VF[i]! + VF[i + 1]! <= f) c++;
    t[f + 256] = c;
  }
  return t;
})();

/** best_index_int8(16, kvalues_iq4nl, x) for a float32 x: nearest level index, ties upward. */
export function bestIndexIq4(x: number): number {
  if (x <= -127) return 0;
  if (!(x < 113)) return 15; // also NaN, where C's bisection runs to the top
  return NMID[Math.floor(2 * x) + 256]!;
}

const W = new Float64Array(32); // per-value weights of the current 32-block (float32 values)
const SCALES = new Float64Array(8); // per-block scales of the current super-block
const L = new Uint8Array(256); // level index per value of the current super-block

/**
 * The scale search for one 32-value block at x[off]: returns scales[ib] (0 for an all-zero block).
 * When lOut is given the first pass's level indices are stored there (only the ntry < 0 reference
 * path keeps them).
 */
function blockScale(x: Float32Array, off: number, ntry: number, lOut: Uint8Array | null): number {
  let amax = 0,
    max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[off + j]!;
    const ax = Math.abs(v);
    if (ax > amax) {
      amax = ax;
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  let d = ntry > 0 ? fround(-max / -127) : fround(max / -127);
  let id = fround(1 / d);
  let sumqx = 0,
    sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const xj = x[off + j]!;
    const l = bestIndexIq4(fround(id * xj));
    if (lOut) lOut[j] = l;
    const q = VF[l]!;
    const wq = fround(W[j]! * q);
    sumqx = fround(sumqx + fround(wq * xj));
    sumq2 = fround(sumq2 + fround(wq * q));
  }
  d = sumq2 > 0 ? fround(sumqx / sumq2) : 0;
  let best = fround(d * sumqx);
  for (let itry = -ntry; itry <= ntry; itry++) {
    id = fround((itry - 127) / max);
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = x[off + j]!;
      // bestIndexIq4 inlined by hand: this loop is where IQ4 quantization spends its time
      const al = fround(id * xj);
      const l = al <= -127 ? 0 : !(al < 113) ? 15 : NMID[Math.floor(2 * al) + 256]!;
      const q = VF[l]!;
      const wq = fround(W[j]! * q);
      sumqx = fround(sumqx + fround(wq * xj));
      sumq2 = fround(sumq2 + fround(wq * q));
    }
    if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
      d = fround(sumqx / sumq2);
      best = fround(d * sumqx);
    }
  }
  return d;
}

/** Fills W for the 32-block at x[off]: x² without an imatrix, else qw·sqrt(sigma2 + x²). */
function setWeights(x: Float32Array, off: number, qw: Float32Array | null, qwOff: number, sigma2: number): void {
  if (qw) {
    for (let j = 0; j < 32; j++) {
      const v = x[off + j]!;
      W[j] = fround(qw[qwOff + j]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
    }
  } else {
    for (let j = 0; j < 32; j++) {
      const v = x[off + j]!;
      W[j] = fround(v * v);
    }
  }
}

function sigma2Of(x: Float32Array, off: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    const v = x[off + j]!;
    s = fround(s + fround(v * v));
  }
  return fround(s * fround(2 / n));
}

function packNibbles(dst: Uint8Array, qsOff: number, n: number): void {
  for (let i = 0; i < n / 32; i++) {
    for (let j = 0; j < 16; j++) dst[qsOff + 16 * i + j] = L[32 * i + j]! | (L[32 * i + 16 + j]! << 4);
  }
}

function putHalf(dst: Uint8Array, off: number, h: number): void {
  dst[off] = h & 255;
  dst[off + 1] = h >>> 8;
}

/**
 * One IQ4_NL block (ggml's chunk path, ntry = 7): 32 values at x[off] → 18 bytes at dst[dOff]
 * (FP16 scale, 16 bytes of nibbles). qw is the imatrix slice for this block, or null.
 */
export function quantizeIq4NlBlock(
  x: Float32Array,
  off: number,
  dst: Uint8Array,
  dOff: number,
  qw: Float32Array | null,
  qwOff: number,
): void {
  const sigma2 = qw ? sigma2Of(x, off, 32) : 0;
  setWeights(x, off, qw, qwOff, sigma2);
  const s = blockScale(x, off, 7, null);
  putHalf(dst, dOff, fp32ToFp16(s));
  const id = s !== 0 ? fround(1 / s) : 0; // C's `s ? 1/s : 0` is true for NaN, hence !== 0
  for (let j = 0; j < 32; j++) L[j] = bestIndexIq4(fround(id * x[off + j]!));
  packNibbles(dst, dOff + 2, 32);
}

/**
 * quantize_row_iq4_nl_ref (ntry = -1, no imatrix): one scale pass, keeping the first pass's levels.
 * As in C, an all-zero block leaves the level buffer as the previous block of the same call left
 * it (all-zero levels, index 0, before any block wrote it here; in C that memory is uninitialised).
 */
export function quantizeRowIq4NlRef(x: Float32Array, dst: Uint8Array, n: number): void {
  L.fill(0, 0, 32);
  for (let ib = 0; ib < n / 32; ib++) {
    const off = ib * 32,
      dOff = ib * 18;
    setWeights(x, off, null, 0, 0);
    const s = blockScale(x, off, -1, L);
    putHalf(dst, dOff, fp32ToFp16(s));
    packNibbles(dst, dOff + 2, 32);
  }
}

/**
 * One IQ4_XS super-block (ntry = 7): 256 values at x[off] → 136 bytes at dst[dOff]: FP16 d,
 * u16 scales_h (2 high bits of each 6-bit sub-scale), 4 bytes scales_l (low nibbles), 128 bytes qs.
 */
export function quantizeIq4XsBlock(
  x: Float32Array,
  off: number,
  dst: Uint8Array,
  dOff: number,
  qw: Float32Array | null,
  qwOff: number,
): void {
  const sigma2 = qw ? sigma2Of(x, off, 256) : 0;
  let maxScale = 0,
    amaxScale = 0;
  for (let ib = 0; ib < 8; ib++) {
    setWeights(x, off + 32 * ib, qw, qwOff + 32 * ib, sigma2);
    const s = blockScale(x, off + 32 * ib, 7, null);
    SCALES[ib] = s;
    const a = Math.abs(s);
    if (a > amaxScale) {
      amaxScale = a;
      maxScale = s;
    }
  }
  const d = fround(-maxScale / 32);
  putHalf(dst, dOff, fp32ToFp16(d));
  const id = d !== 0 ? fround(1 / d) : 0;
  let scalesH = 0;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(fround(id * SCALES[ib]!));
    l = Math.max(-32, Math.min(31, l));
    const dl = fround(d * l);
    const idl = dl !== 0 ? fround(1 / dl) : 0;
    const xo = off + 32 * ib;
    for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndexIq4(fround(idl * x[xo + j]!));
    l += 32;
    const sl = dOff + 4 + (ib >> 1);
    if ((ib & 1) === 0) dst[sl] = l & 0xf;
    else dst[sl]! |= (l & 0xf) << 4;
    scalesH |= (l >> 4) << (2 * ib);
  }
  putHalf(dst, dOff + 2, scalesH);
  packNibbles(dst, dOff + 8, 256);
}
