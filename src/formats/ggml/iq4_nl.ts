// IQ4_NL: blocks of 32 values, an FP16 scale and 32 4-bit indices into ggml's 16 non-linear levels
// (kvalues_iq4nl). Quantization follows ggml's importance-weighted scale search (imatrix honoured).
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { IQ4NL_VALUES, quantizeIq4NlBlock } from './iq4-common.js';

const fround = Math.fround;
const VF = Float64Array.from(IQ4NL_VALUES);

export const iq4_nl = defineCodec({
  name: 'IQ4_NL',
  typeId: GGML_TYPE.IQ4_NL,
  imatrix: 'used',
  kernels: { dequant: 'iq4_nl_dequant' },
  layout:
    'Blocks of 32 weights: an FP16 scale and 32 4-bit indices into 16 fixed non-linear levels (-127…113), 4.5 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const nb = nPerRow / 32;
    for (let row = 0; row < nRows; row++) {
      for (let ib = 0; ib < nb; ib++) {
        quantizeIq4NlBlock(src, row * nPerRow + ib * 32, dst, (row * nb + ib) * 18, imatrix, ib * 32);
      }
    }
  },
  dequantize(src, dst, n) {
    for (let ib = 0; ib < n / 32; ib++) {
      const o = ib * 18,
        y = ib * 32;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j]!;
        dst[y + j] = fround(d * VF[q & 15]!);
        dst[y + j + 16] = fround(d * VF[q >> 4]!);
      }
    }
  },
});
