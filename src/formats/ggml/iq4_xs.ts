// IQ4_XS: super-blocks of 256 values: an FP16 scale, eight 6-bit signed sub-scales (one per 32
// values) and 4-bit indices into ggml's 16 non-linear levels. Honours the imatrix as ggml does.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { IQ4NL_VALUES, quantizeIq4XsBlock } from './iq4-common.js';

const fround = Math.fround;
const VF = Float64Array.from(IQ4NL_VALUES);

export const iq4_xs = defineCodec({
  name: 'IQ4_XS',
  typeId: GGML_TYPE.IQ4_XS,
  imatrix: 'used',
  kernels: { dequant: 'iq4_xs_dequant' },
  layout:
    'Super-blocks of 256 weights: an FP16 scale, eight 6-bit sub-scales (one per 32 weights) and 4-bit indices into 16 fixed non-linear levels, 4.25 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const nb = nPerRow / 256;
    for (let row = 0; row < nRows; row++) {
      for (let ib = 0; ib < nb; ib++) {
        quantizeIq4XsBlock(src, row * nPerRow + ib * 256, dst, (row * nb + ib) * 136, imatrix, ib * 256);
      }
    }
  },
  dequantize(src, dst, n) {
    for (let ibl = 0; ibl < n / 256; ibl++) {
      const o = ibl * 136;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      const scalesH = src[o + 2]! | (src[o + 3]! << 8);
      for (let ib = 0; ib < 8; ib++) {
        const ls = ((src[o + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
        const dl = fround(d * (ls - 32));
        const q0 = o + 8 + 16 * ib,
          y = ibl * 256 + 32 * ib;
        for (let j = 0; j < 16; j++) {
          const q = src[q0 + j]!;
          dst[y + j] = fround(dl * VF[q & 15]!);
          dst[y + j + 16] = fround(dl * VF[q >> 4]!);
        }
      }
    }
  },
});
