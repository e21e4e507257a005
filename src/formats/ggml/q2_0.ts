// Q2_0: blocks of 64 weights, an FP16 scale d (the block's max |w|) and 2-bit codes 0..3 for
// -d, 0, +d, +2d (ggml writes only 0..2: round(w/d) + 1, clamped). ggml's quantize_q2_0 runs the
// same reference path with or without an imatrix, so the imatrix changes nothing.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table as fp16Table_, fp32ToFp16 as fp32ToFp16_ } from '../half.js';
import { checkDequantize, checkQuantize } from './codec-args.js';

const fround = Math.fround;
const TYPE = ggmlTypeById(GGML_TYPE.Q2_0)!;
// imports bound locally: under tsx each use of an import is a getter call
const fp16Table = fp16Table_;
const fp32ToFp16 = fp32ToFp16_;
const LV4 = new Float32Array(4); // a block's values for codes 0..3: -d, 0·d, d, 2d

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
// and fround(p) > -0.5 exactly when p > -0.5 + 2^-26
const POS_HALF = 0.5 - 2 ** -26;
const NEG_HALF = -0.5 + 2 ** -26;

export const q2_0: BlockCodec = {
  name: 'Q2_0',
  type: TYPE,
  usesImatrix: false,
  layout: 'Blocks of 64 weights: an FP16 scale (the max |w|) and 2-bit codes for -1, 0, +1, +2 times the scale, 2.25 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantize('Q2_0', TYPE, src, dst, nRows, nPerRow, imatrix);
    const nb = (nRows * nPerRow) / 64;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 64, o = i * 18;
      let amax = 0;
      for (let j = x0; j < x0 + 64; j++) { const a = Math.abs(src[j]!); amax = a > amax ? a : amax; } // NaN skipped, as C's a > amax
      const id = amax > 0 ? fround(1 / amax) : 0;
      const h = fp32ToFp16(amax);
      dst[o] = h & 255;
      dst[o + 1] = h >>> 8;
      if (id === Infinity) { // a denormal max: the general path (C's INT_MIN cases)
        for (let b = 0; b < 16; b++) {
          const x = x0 + 4 * b;
          dst[o + 2 + b] = code(fround(src[x]! * id)) | (code(fround(src[x + 1]! * id)) << 2)
            | (code(fround(src[x + 2]! * id)) << 4) | (code(fround(src[x + 3]! * id)) << 6);
        }
        continue;
      }
      // |w·id| <= amax·id < 1.5 (or NaN), so code() needs only its two half thresholds, and those
      // are taken on the exact float64 product against FLOAT32 rounding's cut points
      for (let b = 0; b < 16; b++) {
        const x = x0 + 4 * b;
        const p0 = src[x]! * id, p1 = src[x + 1]! * id, p2 = src[x + 2]! * id, p3 = src[x + 3]! * id;
        dst[o + 2 + b] = (+(p0 > NEG_HALF) + +(p0 >= POS_HALF))
          | ((+(p1 > NEG_HALF) + +(p1 >= POS_HALF)) << 2)
          | ((+(p2 > NEG_HALF) + +(p2 >= POS_HALF)) << 4)
          | ((+(p3 > NEG_HALF) + +(p3 >= POS_HALF)) << 6);
      }
    }
  },
  dequantize(src, dst, n) {
    checkDequantize('Q2_0', TYPE, src, dst, n);
    for (let i = 0; i < n / 64; i++) {
      const o = i * 18, y0 = i * 64;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      LV4[0] = -d; LV4[1] = 0 * d; LV4[2] = d; LV4[3] = fround(2 * d);
      for (let b = 0; b < 16; b++) {
        const q = src[o + 2 + b]!, y = y0 + 4 * b;
        dst[y] = LV4[q & 3]!;
        dst[y + 1] = LV4[(q >> 2) & 3]!;
        dst[y + 2] = LV4[(q >> 4) & 3]!;
        dst[y + 3] = LV4[q >> 6]!;
      }
    }
  },
};
