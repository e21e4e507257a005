// TQ2_0 (ternary, BitNet b1.58 / TriLM): super-blocks of 256 values, each -1, 0 or +1 times an FP16
// scale (the block's max |x|), stored as 2-bit codes. ggml ignores the imatrix for this format.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table as fp16Table_, fp32ToFp16 as fp32ToFp16_ } from '../half.js';
import { LowbitError } from '../../errors.js';
import { TRITS, ternaryAmax as ternaryAmax_, ternaryCodes as ternaryCodes_ } from './tq1_0.js';

const fround = Math.fround;
// imports bound locally: under tsx each use of an import is a getter call
const fp16Table = fp16Table_;
const fp32ToFp16 = fp32ToFp16_;
const ternaryAmax = ternaryAmax_;
const ternaryCodes = ternaryCodes_;
const LV3 = new Float32Array(3); // a block's -d, 0·d, d

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
      ternaryCodes(src, x0, d, id);
      for (let j = 0; j < 64; j += 32) {
        const t = 4 * j;
        for (let m = 0; m < 32; m++) {
          dst[o + j + m] = (TRITS[t + m]! & 3) | ((TRITS[t + m + 32]! & 3) << 2) | ((TRITS[t + m + 64]! & 3) << 4) | ((TRITS[t + m + 96]! & 3) << 6);
        }
      }
    }
  },
  dequantize(src, dst, n) {
    if (n % 256 !== 0) throw new LowbitError(`TQ2_0 needs a value count divisible by 256, got ${n}`);
    for (let i = 0; i < n / 256; i++) {
      const o = i * 66;
      const d = fp16Table[src[o + 64]! | (src[o + 65]! << 8)]!;
      // code 3 (never written by ggml) is 2·d
      LV3[0] = fround(-1 * d); LV3[1] = fround(0 * d); LV3[2] = d;
      const v3 = fround(2 * d);
      let y = i * 256;
      for (let j = 0; j < 64; j += 32) {
        for (let l = 0; l < 8; l += 2) {
          for (let m = 0; m < 32; m++) { const c = (src[o + j + m]! >> l) & 3; dst[y++] = c === 3 ? v3 : LV3[c]!; }
        }
      }
    }
  },
};
