// Q2_0: blocks of 64 weights, an FP16 scale d (the block's max |w|) and 2-bit codes 0..3 for
// -d, 0, +d, +2d (ggml writes only 0..2: round(w/d) + 1, clamped). ggml's quantize_q2_0 runs the
// same reference path with or without an imatrix, so the imatrix changes nothing.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16BitsTable, fp32BitsToFp16 } from '../half.js';

const fround = Math.fround;
const LV4 = new Float32Array(4); // a block's values for codes 0..3: -d, 0·d, d, 2d
const LV4I = new Int32Array(LV4.buffer);
const F1 = new Float32Array(1);
const I1 = new Int32Array(F1.buffer);
const SIGN = 0x80000000 | 0;

/**
 * The code C computes as clamp((int)roundf(p) + 1, 0, 3) for p = w·id in float32, on x86-64:
 * roundf rounds halves away from zero, and the float → int conversion (cvttss2si) gives INT_MIN
 * for NaN and for |p| >= 2^31, which the clamp turns into 0 (an infinite 1/d happens for a
 * denormal block max: then every weight gets code 0).
 */
function code(p: number): number {
  return Number(p > -0.5) + Number(p >= 0.5) + Number(p >= 1.5) - 3 * Number(p >= 2147483648);
}

// fround(p) >= 0.5 exactly when p >= 0.5 - 2^-26 (the tie rounds to 0.5, whose mantissa is even),
// and by symmetry fround(p) <= -0.5 exactly when -p >= 0.5 - 2^-26
const HALF = 0.5 - 2 ** -26;

/** The bits of the least float32 >= t, for t > 0 (Inf's bits above every finite float). */
function ceilBits(t: number): number {
  F1[0] = t;
  return F1[0]! < t ? I1[0]! + 1 : I1[0]!;
}

/** max |x| over n values from x0, NaN skipped (C's `if (a > amax) amax = a`). */
export function amaxSkipNaN(src: Float32Array, x0: number, n: number): number {
  let amax = 0;
  for (let j = x0; j < x0 + n; j++) {
    const a = Math.abs(src[j]!);
    if (a > amax) amax = a;
  }
  return amax;
}

export const q2_0 = defineCodec({
  name: 'Q2_0',
  typeId: GGML_TYPE.Q2_0,
  imatrix: 'ignored',
  kernels: { quant: 'q2_0_quant', dequant: 'q2_0_dequant' },
  layout:
    'Blocks of 64 weights: an FP16 scale (the max |w|) and 2-bit codes for -1, 0, +1, +2 times the scale, 2.25 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nb = (nRows * nPerRow) / 64;
    // the weights' float32 bits as int32: |w| orders as its bits do, so the max and the code
    // thresholds are integer compares, without float32 → float64 conversions
    const u = new Int32Array(src.buffer, src.byteOffset, nb * 64);
    for (let i = 0; i < nb; i++) {
      const x0 = i * 64,
        o = i * 18;
      let m = 0;
      for (let j = x0; j < x0 + 64; j++) {
        const a = u[j]! & 0x7fffffff,
          e = a - m;
        m += e & ~(e >> 31);
      } // branch-free max
      const nan = m > 0x7f800000; // NaN bits are above Inf's; C's max skips them
      if (nan) {
        F1[0] = amaxSkipNaN(src, x0, 64);
        m = I1[0]!;
      }
      const h = fp32BitsToFp16(m);
      dst[o] = h & 255;
      dst[o + 1] = h >>> 8;
      I1[0] = m;
      const amax = F1[0]!;
      const id = amax > 0 ? fround(1 / amax) : 0;
      if (nan || !(id > 0 && id < Infinity)) {
        // NaN weights, or an all-zero, infinite or denormal max: C's path literally
        for (let b = 0; b < 16; b++) {
          const x = x0 + 4 * b;
          dst[o + 2 + b] =
            code(fround(src[x]! * id)) |
            (code(fround(src[x + 1]! * id)) << 2) |
            (code(fround(src[x + 2]! * id)) << 4) |
            (code(fround(src[x + 3]! * id)) << 6);
        }
        continue;
      }
      // Here |w·id| <= amax·id < 1.5, so code() needs only its half thresholds: p = w·id is exact
      // in float64, and code = 1 + [p >= HALF] - [-p >= HALF]. p >= HALF exactly when w >= HALF/id:
      // the float64 quotient errs by < 2^-52 relative, while a product of two floats that is not
      // HALF is > 2^-49 relative away from it (and the quotient is exact when it equals w), so
      // comparing w with the quotient decides the same; for float32 w that is comparing its bits
      // (as int32) with t, those of the least float32 at or above the quotient. With the sign bit
      // flipped, a negative w's bits are its magnitude's and a positive w's are a negative int32,
      // so (w ^ SIGN) >= t is -w >= the quotient (and -0 stays at code 1).
      const t = ceilBits(HALF / id);
      for (let b = 0; b < 16; b++) {
        const x = x0 + 4 * b;
        const w0 = u[x]!,
          w1 = u[x + 1]!,
          w2 = u[x + 2]!,
          w3 = u[x + 3]!;
        // four codes 1 + up - down, each 0..2, so the fields add without carries: 0x55 + ups - downs
        dst[o + 2 + b] =
          0x55 +
          (+(w0 >= t) | (+(w1 >= t) << 2) | (+(w2 >= t) << 4) | (+(w3 >= t) << 6)) -
          (+((w0 ^ SIGN) >= t) | (+((w1 ^ SIGN) >= t) << 2) | (+((w2 ^ SIGN) >= t) << 4) | (+((w3 ^ SIGN) >= t) << 6));
      }
    }
  },
  dequantize(src, dst, n) {
    const out = new Int32Array(dst.buffer, dst.byteOffset, n); // values copied as bits
    for (let i = 0; i < n / 64; i++) {
      const o = i * 18,
        y0 = i * 64;
      const db = fp16BitsTable[src[o]! | (src[o + 1]! << 8)]! | 0;
      if ((db & 0x7fffffff) > 0x7f800000) {
        // ((int)q - 1) * NaN is that NaN, quieted, whatever q (x86 keeps the NaN operand's sign)
        const qn = db | 0x400000;
        LV4I[0] = qn;
        LV4I[1] = qn;
        LV4I[2] = qn;
        LV4I[3] = qn;
      } else {
        I1[0] = db;
        const d = F1[0]!;
        // ((int)q - 1) * d in float32; code 3 (never written by ggml) is 2·d
        LV4[0] = -d;
        LV4[1] = 0 * d;
        LV4[2] = d;
        LV4[3] = fround(2 * d);
        if ((db & 0x7fffffff) === 0x7f800000) LV4I[1] = 0xffc00000 | 0; // 0·Inf: x86's default NaN
      }
      for (let b = 0; b < 16; b++) {
        const q = src[o + 2 + b]!,
          y = y0 + 4 * b;
        out[y] = LV4I[q & 3]!;
        out[y + 1] = LV4I[(q >> 2) & 3]!;
        out[y + 2] = LV4I[(q >> 4) & 3]!;
        out[y + 3] = LV4I[q >> 6]!;
      }
    }
  },
});
