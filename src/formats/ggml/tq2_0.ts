// TQ2_0 (ternary, BitNet b1.58 / TriLM): super-blocks of 256 values, each -1, 0 or +1 times an FP16
// scale (the block's max |x|), stored as 2-bit codes. ggml ignores the imatrix for this format.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { TRITS, fastTrits, halfThreshold, ternaryAmax, ternaryCodes } from './tq1_0.js';

const fround = Math.fround;
const LV4 = new Float32Array(4); // a block's values for codes 0..3: -d, 0·d, d, 2d

export const tq2_0 = defineCodec({
  name: 'TQ2_0',
  typeId: GGML_TYPE.TQ2_0,
  imatrix: 'ignored',
  kernels: { quant: 'tq2_0_quant', dequant: 'tq2_0_dequant' },
  layout:
    'Super-blocks of 256 weights, each -1, 0 or +1 times one FP16 scale (the max |w|): 2-bit codes, 4 per byte, 2.06 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nb = (nRows * nPerRow) / 256;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 256,
        o = i * 66;
      const d = ternaryAmax(src, x0);
      const id = d !== 0 ? fround(1 / d) : 0; // C's `d ? 1/d : 0` takes 1/d for NaN
      const h = fp32ToFp16(d);
      dst[o + 64] = h & 255;
      dst[o + 65] = h >>> 8;
      // byte j+m holds values m, m+32, m+64, m+96 of each 128-value half, 2 bits each from the bottom
      if (fastTrits(src, x0, d, id)) {
        // ternaryCodes' threshold compare, fused with the packing
        const t = halfThreshold(id),
          mt = -t;
        for (let j = 0; j < 64; j += 32) {
          const xj = x0 + 4 * j;
          for (let m = 0; m < 32; m++) {
            const v0 = src[xj + m]!,
              v1 = src[xj + m + 32]!,
              v2 = src[xj + m + 64]!,
              v3 = src[xj + m + 96]!;
            dst[o + j + m] =
              (1 + Number(v0 >= t) - Number(v0 <= mt)) |
              ((1 + Number(v1 >= t) - Number(v1 <= mt)) << 2) |
              ((1 + Number(v2 >= t) - Number(v2 <= mt)) << 4) |
              ((1 + Number(v3 >= t) - Number(v3 <= mt)) << 6);
          }
        }
        continue;
      }
      ternaryCodes(src, x0, d, id);
      for (let j = 0; j < 64; j += 32) {
        const t = 4 * j;
        for (let m = 0; m < 32; m++) {
          dst[o + j + m] =
            (TRITS[t + m]! & 3) |
            ((TRITS[t + m + 32]! & 3) << 2) |
            ((TRITS[t + m + 64]! & 3) << 4) |
            ((TRITS[t + m + 96]! & 3) << 6);
        }
      }
    }
  },
  dequantize(src, dst, n) {
    for (let i = 0; i < n / 256; i++) {
      const o = i * 66;
      const d = fp16Table[src[o + 64]! | (src[o + 65]! << 8)]!;
      // code 3 (never written by ggml) is 2·d
      LV4[0] = fround(-1 * d);
      LV4[1] = fround(0 * d);
      LV4[2] = d;
      LV4[3] = fround(2 * d);
      // byte m of each 32-byte half holds values m, m+32, m+64, m+96 of its 128
      for (let j = 0; j < 2; j++) {
        const y = i * 256 + 128 * j,
          q0 = o + 32 * j;
        for (let m = 0; m < 32; m++) {
          const b = src[q0 + m]!;
          dst[y + m] = LV4[b & 3]!;
          dst[y + m + 32] = LV4[(b >> 2) & 3]!;
          dst[y + m + 64] = LV4[(b >> 4) & 3]!;
          dst[y + m + 96] = LV4[b >> 6]!;
        }
      }
    }
  },
});
