// Q1_0: blocks of 128 weights, an FP16 scale (the block's mean |w|) and one sign bit per weight
// (set for w >= 0, so -0 is +d and NaN is -d): each weight dequantizes to ±d. ggml's quantize_q1_0
// runs the same reference path with or without an imatrix, so the imatrix changes nothing.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table as fp16Table_, fp32ToFp16 as fp32ToFp16_ } from '../half.js';
import { checkDequantize, checkQuantize } from './codec-args.js';

const fround = Math.fround;
const TYPE = ggmlTypeById(GGML_TYPE.Q1_0)!;
// imports bound locally: under tsx each use of an import is a getter call
const fp16Table = fp16Table_;
const fp32ToFp16 = fp32ToFp16_;

export const q1_0: BlockCodec = {
  name: 'Q1_0',
  type: TYPE,
  usesImatrix: false,
  layout: 'Blocks of 128 weights: an FP16 scale (the mean |w|) and one sign bit per weight, each weight ±scale, 1.125 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantize('Q1_0', TYPE, src, dst, nRows, nPerRow, imatrix);
    const nb = (nRows * nPerRow) / 128;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 128, o = i * 18;
      // float32 running sum in index order, as C adds
      let s = 0;
      for (let j = 0; j < 128; j++) s = fround(s + Math.abs(src[x0 + j]!));
      const h = fp32ToFp16(s / 128); // exact division by a power of two, rounded once to float
      dst[o] = h & 255;
      dst[o + 1] = h >>> 8;
      for (let b = 0; b < 16; b++) {
        const x = x0 + 8 * b;
        dst[o + 2 + b] = Number(src[x]! >= 0) | (Number(src[x + 1]! >= 0) << 1)
          | (Number(src[x + 2]! >= 0) << 2) | (Number(src[x + 3]! >= 0) << 3)
          | (Number(src[x + 4]! >= 0) << 4) | (Number(src[x + 5]! >= 0) << 5)
          | (Number(src[x + 6]! >= 0) << 6) | (Number(src[x + 7]! >= 0) << 7);
      }
    }
  },
  dequantize(src, dst, n) {
    checkDequantize('Q1_0', TYPE, src, dst, n);
    for (let i = 0; i < n / 128; i++) {
      const o = i * 18, y0 = i * 128;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      const nd = -d;
      for (let b = 0; b < 16; b++) {
        const q = src[o + 2 + b]!, y = y0 + 8 * b;
        dst[y] = q & 1 ? d : nd;
        dst[y + 1] = q & 2 ? d : nd;
        dst[y + 2] = q & 4 ? d : nd;
        dst[y + 3] = q & 8 ? d : nd;
        dst[y + 4] = q & 16 ? d : nd;
        dst[y + 5] = q & 32 ? d : nd;
        dst[y + 6] = q & 64 ? d : nd;
        dst[y + 7] = q & 128 ? d : nd;
      }
    }
  },
};
