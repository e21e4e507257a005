// IQ2_XS: super-blocks of 256 weights, 74 bytes (2.3125 bits per weight): an FP16 scale d, 32 uint16
// (per 8 weights: a 9-bit index into a 512-point grid of 8-vectors with entries {8, 25, 43} and a
// 7-bit sign pattern whose eighth sign makes the count of negatives even), then eight bytes of two
// 4-bit scales (one per 16 weights). Value = d·(0.5 + s)/4 · grid · sign.
// Quantization is ggml's quantize_row_iq2_xs_impl (iq2-row16.ts, the row driver shared with IQ2_S),
// which needs an importance matrix (ggml asserts without one; lowbit refuses with a LowbitError).
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { GROUP_MAX_EPS } from './search.js';
import { GRID_LEVELS, iqGrid, KSIGNS_IQ2XS as KSIGNS } from './iq2-grids.js';
import { quantizeRowIq2x16, type Iq2Row16 } from './iq2-row16.js';

const fround = Math.fround;

const DEQ = new Float64Array(16);

const ROW: Iq2Row16 = {
  name: 'IQ2_XS',
  grid: 512,
  typeSize: 74,
  evenSigns: true,
  eps: GROUP_MAX_EPS,
  sigmaScale: 1,
  dScale: 1,
  scalesAt: 66,
};

export const iq2_xs = defineCodec({
  name: 'IQ2_XS',
  typeId: GGML_TYPE.IQ2_XS,
  imatrix: 'required',
  kernels: { quantImatrix: 'iq2_xs_quant_imatrix', dequant: 'iq2_xs_dequant' },
  layout:
    'Super-blocks of 256 weights: an FP16 scale, per 8 weights a 9-bit index into a 512-point grid of 8-vectors plus 7 sign bits, and a 4-bit scale per 16 weights, 2.31 bits per weight (needs an imatrix).',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const rb = (nPerRow / 256) * 74;
    for (let r = 0; r < nRows; r++) quantizeRowIq2x16(ROW, src, r * nPerRow, dst, r * rb, nPerRow, imatrix!);
  },
  dequantize(src, dst, n) {
    const codes = iqGrid(512).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 74 * i;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const sc = src[o + 66 + ib]!;
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
          const q = o + 2 + 2 * (4 * ib + l);
          const qv = src[q]! | (src[q + 1]! << 8);
          const c = codes[qv & 511]!;
          const signs = KSIGNS[qv >> 9]!;
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
