// TQ1_0 (ternary, BitNet b1.58 / TriLM): super-blocks of 256 values, each -1, 0 or +1 times an FP16
// scale (the block's max |x|). Trits are packed 5 per byte (3^5 = 243 ≤ 256) for 240 values and 4
// per byte for the last 16, stored as a fixed-point fraction so a multiply by 3 pops the top trit.
// ggml ignores the imatrix for this format.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';

const fround = Math.fround;

/**
 * The block's max |x| as ggml's MAX(amax, fabsf(v)) macro computes it: a NaN resets it, so after
 * a NaN it is the max of the later values only (NaN if last), and may be below earlier |x|.
 */
export function ternaryAmax(x: Float32Array, off: number): number {
  let amax = 0;
  for (let j = 0; j < 256; j++) {
    const a = Math.abs(x[off + j]!);
    amax = amax > a ? amax : a;
  }
  return amax;
}

/**
 * lroundf(x·id) + 1 as ggml's int: 0, 1, 2 for -1, 0, +1. lroundf rounds half away from zero;
 * for NaN/±Inf/overflow it yields LONG_MIN on x86-64, whose +1 truncated to int is 1.
 */
export function ternaryCode(x: number, id: number): number {
  const v = fround(x * id);
  // the usual case, |v| ≤ 1 (NaN gives 1 too)
  if (v < 0.5) {
    if (v > -0.5) return 1;
    if (v > -1.5) return 0;
  } else if (v < 1.5) return 2;
  if (!(Math.abs(v) < 9.223372036854776e18)) return 1;
  const r = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
  // only the low 32 bits reach the int; add 1 after taking them (r + 1 in float64 drops the 1
  // once |r| ≥ 2^53, where C's long arithmetic keeps it)
  return ((r | 0) + 1) | 0;
}

const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);

/**
 * For a finite 0 < id: the least float t > 0 with fround(t·id) ≥ 0.5. fround(x·id) is monotone in
 * x, so lroundf(x·id) is +1 exactly when x ≥ t and -1 exactly when x ≤ -t.
 */
export function halfThreshold(id: number): number {
  F[0] = 0.5 / id;
  while (fround(F[0]! * id) >= 0.5) U[0] = U[0]! - 1;
  while (fround(F[0]! * id) < 0.5) U[0] = U[0]! + 1;
  return F[0]!;
}

/**
 * Whether the block of 256 values at x[off], whose ternaryAmax is d, takes the threshold path: a
 * finite max with a finite 1/max and no NaN (after a NaN, d may be below earlier |x|), so every
 * |x·id| ≤ 1 + 2^-24 and lroundf can only give -1, 0 or 1.
 */
export function fastTrits(x: Float32Array, off: number, d: number, id: number): boolean {
  if (!(d < Infinity && id > 0 && id < Infinity)) return false;
  for (let j = 0; j < 256; j++) {
    const v = x[off + j]!;
    if (v !== v) return false;
  }
  return true;
}

/** The trit code (0, 1, 2) of v against the threshold t; Number(bool) compiles branch-free. */
function trit(v: number, t: number): number {
  return 1 + Number(v >= t) - Number(v <= -t);
}

/** Module scratch: the trit codes (0, 1, 2 for -1, 0, +1) of the current super-block. */
export const TRITS = new Uint8Array(256);

/** Fills TRITS with ggml's lroundf(x·id) + 1 for the 256 values at x[off], d = the block max. */
export function ternaryCodes(x: Float32Array, off: number, d: number, id: number): void {
  if (fastTrits(x, off, d, id)) {
    // |x| ≤ d, so |x·id| stays below 1.5: a threshold compare is all lroundf does here
    const t = halfThreshold(id);
    for (let j = 0; j < 256; j++) TRITS[j] = trit(x[off + j]!, t);
  } else {
    for (let j = 0; j < 256; j++) TRITS[j] = ternaryCode(x[off + j]!, id) & 0xff;
  }
}

// UNPACK[5·b + n]: trit n (from the top) of packed byte b, as ggml reads it: ((b·3^n mod 256)·3) >> 8
const UNPACK = (() => {
  const t = new Uint8Array(256 * 5);
  for (let b = 0; b < 256; b++) for (let n = 0, p = 1; n < 5; n++, p *= 3) t[5 * b + n] = (((b * p) & 0xff) * 3) >> 8;
  return t;
})();
/** Module scratch: a block's three dequantized values, -d, 0·d, d. */
export const LV3 = new Float32Array(3);

/** PACK[q] = ceil(q · 256 / 243), C's ((uint16_t)q * 256 + 242) / 243: the stored byte of base-3 q */
const PACK = (() => {
  const t = new Uint8Array(256);
  for (let q = 0; q < 256; q++) t[q] = Math.floor((q * 256 + 242) / 243);
  return t;
})();

export const tq1_0 = defineCodec({
  name: 'TQ1_0',
  typeId: GGML_TYPE.TQ1_0,
  imatrix: 'ignored',
  kernels: { quant: 'tq1_0_quant', dequant: 'tq1_0_dequant' },
  layout:
    'Super-blocks of 256 weights, each -1, 0 or +1 times one FP16 scale (the max |w|): trits packed 5 per byte (4 in the last 4 bytes), 1.69 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nb = (nRows * nPerRow) / 256;
    for (let i = 0; i < nb; i++) {
      const x = i * 256;
      const o = i * 54;
      const d = ternaryAmax(src, x);
      const id = d !== 0 ? fround(1 / d) : 0; // C's `d ? 1/d : 0` takes 1/d for NaN
      const h = fp32ToFp16(d);
      dst[o + 52] = h & 255;
      dst[o + 53] = h >>> 8;
      if (fastTrits(src, x, d, id)) {
        // ternaryCodes' threshold compare fused with the packing; trits are 0..2, so no wrap
        const t = halfThreshold(id);
        for (let m = 0; m < 32; m++) {
          const p = x + m;
          dst[o + m] =
            PACK[
              (((trit(src[p]!, t) * 3 + trit(src[p + 32]!, t)) * 3 + trit(src[p + 64]!, t)) * 3 +
                trit(src[p + 96]!, t)) *
                3 +
                trit(src[p + 128]!, t)
            ]!;
        }
        for (let m = 0; m < 16; m++) {
          const p = x + 160 + m;
          dst[o + 32 + m] =
            PACK[
              (((trit(src[p]!, t) * 3 + trit(src[p + 16]!, t)) * 3 + trit(src[p + 32]!, t)) * 3 +
                trit(src[p + 48]!, t)) *
                3 +
                trit(src[p + 64]!, t)
            ]!;
        }
        for (let j = 0; j < 4; j++) {
          const p = x + 240 + j;
          dst[o + 48 + j] =
            PACK[
              (((trit(src[p]!, t) * 3 + trit(src[p + 4]!, t)) * 3 + trit(src[p + 8]!, t)) * 3 + trit(src[p + 12]!, t)) *
                3
            ]!;
        }
        continue;
      }
      ternaryCodes(src, x, d, id);
      // qs[0..32): values m + 32n, n = 0..4 (160 values)
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 5; n++) q = (q * 3 + TRITS[m + n * 32]!) & 0xff;
        dst[o + m] = PACK[q]!;
      }
      // qs[32..48): the next 80 values, 160 + m + 16n
      for (let m = 0; m < 16; m++) {
        let q = 0;
        for (let n = 0; n < 5; n++) q = (q * 3 + TRITS[160 + m + n * 16]!) & 0xff;
        dst[o + 32 + m] = PACK[q]!;
      }
      // qh[0..4): the last 16 values, 240 + j + 4m, 4 trits shifted up to the top of 5
      for (let j = 0; j < 4; j++) {
        let q = 0;
        for (let m = 0; m < 4; m++) q = (q * 3 + TRITS[240 + j + m * 4]!) & 0xff;
        dst[o + 48 + j] = PACK[(q * 3) & 0xff]!;
      }
    }
  },
  dequantize(src, dst, n) {
    for (let i = 0; i < n / 256; i++) {
      const o = i * 54;
      const d = fp16Table[src[o + 52]! | (src[o + 53]! << 8)]!;
      LV3[0] = fround(-1 * d);
      LV3[1] = fround(0 * d);
      LV3[2] = d; // 0·d is -0 or NaN for some d
      const y = i * 256;
      for (let m = 0; m < 32; m++) {
        const u = 5 * src[o + m]!;
        for (let n5 = 0; n5 < 5; n5++) dst[y + 32 * n5 + m] = LV3[UNPACK[u + n5]!]!;
      }
      for (let m = 0; m < 16; m++) {
        const u = 5 * src[o + 32 + m]!;
        for (let n5 = 0; n5 < 5; n5++) dst[y + 160 + 16 * n5 + m] = LV3[UNPACK[u + n5]!]!;
      }
      for (let j = 0; j < 4; j++) {
        const u = 5 * src[o + 48 + j]!;
        for (let n4 = 0; n4 < 4; n4++) dst[y + 240 + 4 * n4 + j] = LV3[UNPACK[u + n4]!]!;
      }
    }
  },
});
