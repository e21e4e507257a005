// TQ2_0 (ternary, BitNet b1.58 / TriLM): super-blocks of 256 values, each -1, 0 or +1 times an FP16
// scale (the block's max |x|), stored as 2-bit codes. ggml ignores the imatrix for this format.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { LowbitError } from '../../errors.js';
import { ternaryAmax, ternaryCode } from './tq1_0.js';

const fround = Math.fround;

export const tq2_0: BlockCodec = {
  name: 'TQ2_0',
  type: ggmlTypeById(GGML_TYPE.TQ2_0)!,
  usesImatrix: false,
  layout: 'Super-blocks of 256 weights, each -1, 0 or +1 times one FP16 scale (the max |w|): 2-bit codes, 4 per byte, 2.06 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    if (nPerRow % 256 !== 0) throw new LowbitError(`TQ2_0 needs a row length divisible by 256, got ${nPerRow}`);
    const nb = (nRows * nPerRow) / 256;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 256, o = i * 66;
      const d = ternaryAmax(src, x0);
      const id = d !== 0 ? fround(1 / d) : 0; // C's `d ? 1/d : 0` takes 1/d for NaN
      const h = fp32ToFp16(d);
      dst[o + 64] = h & 255;
      dst[o + 65] = h >>> 8;
      // byte j+m holds values m, m+32, m+64, m+96 of each 128-value half, 2 bits each from the bottom
      for (let j = 0; j < 64; j += 32) {
        const xj = x0 + 4 * j;
        for (let m = 0; m < 32; m++) {
          let q = 0;
          for (let n = 0; n < 4; n++) q += (ternaryCode(src[xj + m + n * 32]!, id) & 3) << (2 * n);
          dst[o + j + m] = q;
        }
      }
    }
  },
  dequantize(src, dst, n) {
    if (n % 256 !== 0) throw new LowbitError(`TQ2_0 needs a value count divisible by 256, got ${n}`);
    for (let i = 0; i < n / 256; i++) {
      const o = i * 66;
      const d = fp16Table[src[o + 64]! | (src[o + 65]! << 8)]!;
      let y = i * 256;
      for (let j = 0; j < 64; j += 32) {
        for (let l = 0; l < 4; l++) {
          for (let m = 0; m < 32; m++) dst[y++] = fround((((src[o + j + m]! >> (2 * l)) & 3) - 1) * d);
        }
      }
    }
  },
};
