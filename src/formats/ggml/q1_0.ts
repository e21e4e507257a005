// Q1_0: blocks of 128 weights, an FP16 scale (the block's mean |w|) and one sign bit per weight
// (set for w >= 0, so -0 is +d and NaN is -d): each weight dequantizes to ±d. ggml's quantize_q1_0
// runs the same reference path with or without an imatrix, so the imatrix changes nothing.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16BitsTable, fp32ToFp16 } from '../half.js';

const fround = Math.fround;
const SIGN = 0x80000000 | 0;

export const q1_0 = defineCodec({
  name: 'Q1_0',
  typeId: GGML_TYPE.Q1_0,
  imatrix: 'ignored',
  layout:
    'Blocks of 128 weights: an FP16 scale (the mean |w|) and one sign bit per weight, each weight ±scale, 1.125 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nb = (nRows * nPerRow) / 128;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 128,
        o = i * 18;
      // float32 running sum in index order, as C adds
      let s = 0;
      for (let j = 0; j < 128; j++) s = fround(s + Math.abs(src[x0 + j]!));
      const h = fp32ToFp16(s / 128); // exact division by a power of two, rounded once to float
      dst[o] = h & 255;
      dst[o + 1] = h >>> 8;
      for (let b = 0; b < 16; b++) {
        const x = x0 + 8 * b;
        dst[o + 2 + b] =
          Number(src[x]! >= 0) |
          (Number(src[x + 1]! >= 0) << 1) |
          (Number(src[x + 2]! >= 0) << 2) |
          (Number(src[x + 3]! >= 0) << 3) |
          (Number(src[x + 4]! >= 0) << 4) |
          (Number(src[x + 5]! >= 0) << 5) |
          (Number(src[x + 6]! >= 0) << 6) |
          (Number(src[x + 7]! >= 0) << 7);
      }
    }
  },
  dequantize(src, dst, n) {
    // values copied as float32 bits: d, and -d with the sign bit flipped (as C's negation: NaN
    // payloads kept)
    const out = new Int32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n / 128; i++) {
      const o = i * 18,
        y0 = i * 128;
      let d = fp16BitsTable[src[o]! | (src[o + 1]! << 8)]! | 0;
      if ((d & 0x7fffffff) > 0x7f800000) d |= 0x400000; // ggml's FP16 → float32 gives quiet NaNs
      // bit k clear: flip the sign bit, branch-free (bit k of ~q shifted to bit 31)
      for (let b = 0; b < 16; b++) {
        const nq = ~src[o + 2 + b]!,
          y = y0 + 8 * b;
        out[y] = d ^ (nq << 31);
        out[y + 1] = d ^ ((nq << 30) & SIGN);
        out[y + 2] = d ^ ((nq << 29) & SIGN);
        out[y + 3] = d ^ ((nq << 28) & SIGN);
        out[y + 4] = d ^ ((nq << 27) & SIGN);
        out[y + 5] = d ^ ((nq << 26) & SIGN);
        out[y + 6] = d ^ ((nq << 25) & SIGN);
        out[y + 7] = d ^ ((nq << 24) & SIGN);
      }
    }
  },
});
