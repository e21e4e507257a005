// IQ2_S: super-blocks of 256 weights, 82 bytes (2.5625 bits per weight): an FP16 scale d, 32 bytes of
// low index bits and 32 bytes of sign patterns (one each per 8 weights: a 10-bit index into a
// 1024-point grid of 8-vectors with entries {8, 25, 43, 62}, 8 free signs), 8 bytes of the index
// high bits, then 8 bytes of two 4-bit scales (one per 16 weights). Value = d·(0.5 + s)/4 · grid · sign.
// Quantization is ggml's quantize_row_iq2_s_impl (iq2-row16.ts, the row driver shared with IQ2_XS),
// with or without an importance matrix (without one the weights are sigma²/4 + x²).
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { GRID_LEVELS, iqGrid } from './iq2-grids.js';
import { quantizeRowIq2x16, type Iq2Row16 } from './iq2-row16.js';

const fround = Math.fround;

const DEQ = new Float64Array(16);

const ROW: Iq2Row16 = {
  name: 'IQ2_S',
  grid: 1024,
  typeSize: 82,
  evenSigns: false,
  eps: fround(1e-8), // GROUP_MAX_EPS_IQ2_S
  sigmaScale: 2,
  dScale: fround(0.9875),
  scalesAt: 74,
};

export const iq2_s = defineCodec({
  name: 'IQ2_S',
  typeId: GGML_TYPE.IQ2_S,
  imatrix: 'used',
  kernels: { quant: 'iq2_s_quant', quantImatrix: 'iq2_s_quant_imatrix', dequant: 'iq2_s_dequant' },
  layout:
    'Super-blocks of 256 weights: an FP16 scale, per 8 weights a 10-bit index into a 1024-point grid of 8-vectors plus 8 sign bits, and a 4-bit scale per 16 weights, 2.56 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const rb = (nPerRow / 256) * 82;
    for (let r = 0; r < nRows; r++) quantizeRowIq2x16(ROW, src, r * nPerRow, dst, r * rb, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    const codes = iqGrid(1024).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 82 * i;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const sc = src[o + 74 + ib]!;
        const qh = src[o + 66 + ib]!;
        const db0 = fround(fround(d * (0.5 + (sc & 15))) * 0.25);
        const db1 = fround(fround(d * (0.5 + (sc >> 4))) * 0.25);
        // the four grid magnitudes times each scale, then negated: T[half·8 + sign·4 + level]
        for (let l = 0; l < 4; l++) {
          const v0 = fround(db0 * GRID_LEVELS[l]!),
            v1 = fround(db1 * GRID_LEVELS[l]!);
          T[l] = v0;
          T[4 + l] = -v0;
          T[8 + l] = v1;
          T[12 + l] = -v1;
        }
        for (let l = 0; l < 4; l++) {
          const c = codes[src[o + 2 + 4 * ib + l]! | ((qh << (8 - 2 * l)) & 0x300)]!;
          const signs = src[o + 34 + 4 * ib + l]!;
          const h = l < 2 ? 0 : 8;
          dst[y + 0] = T[h | (((signs >> 0) & 1) << 2) | ((c >> 0) & 3)]!;
          dst[y + 1] = T[h | (((signs >> 1) & 1) << 2) | ((c >> 2) & 3)]!;
          dst[y + 2] = T[h | (((signs >> 2) & 1) << 2) | ((c >> 4) & 3)]!;
          dst[y + 3] = T[h | (((signs >> 3) & 1) << 2) | ((c >> 6) & 3)]!;
          dst[y + 4] = T[h | (((signs >> 4) & 1) << 2) | ((c >> 8) & 3)]!;
          dst[y + 5] = T[h | (((signs >> 5) & 1) << 2) | ((c >> 10) & 3)]!;
          dst[y + 6] = T[h | (((signs >> 6) & 1) << 2) | ((c >> 12) & 3)]!;
          dst[y + 7] = T[h | (((signs >> 7) & 1) << 2) | ((c >> 14) & 3)]!;
          y += 8;
        }
      }
    }
  },
});
