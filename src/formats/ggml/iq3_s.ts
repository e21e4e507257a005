// IQ3_S: super-blocks of 256 values, 110 bytes: an FP16 scale d, 64 low bytes of grid indices
// (one per group of four values, into the 512-point grid of iq3-grids.ts), 8 bytes of their 9th
// bits, 32 bytes of signs (one bit per value) and eight 4-bit sub-scales s (d·(1 + 2s) per 32
// values). ggml's quantize_row_iq3_s_impl (block size 32), imatrix honoured.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { KGRID_512, gridLevels, iq3Grid512, put8 } from './iq3-grids.js';
import { WEIGHT, XVAL, gridIndex, searchBlock, setWeights, sigma2Of, tooLarge } from './iq3-search.js';
import { nearestInt } from './search.js';

const fround = Math.fround;

const BLOCK = 110;
const QS = 2,
  QH = 66,
  SIGNS = 74,
  SCALES = 106; // byte offsets in a block

/** iq3s_grid as level numbers (0..7), 4 per grid index; the values are 2l + 1. */
const GRIDL = gridLevels(KGRID_512);
const DV = new Float64Array(8); // fround(db · (2l + 1)) for the current 32 values

const SCALE = new Float64Array(8);
const BSIGNS = new Uint8Array(4);

function quantizeBlock(
  x: Float32Array,
  off: number,
  dst: Uint8Array,
  dOff: number,
  qw: Float32Array | null,
  qwOff: number,
): void {
  const g = iq3Grid512();
  dst.fill(0, dOff, dOff + BLOCK);
  const sigma2 = sigma2Of(x, off);
  // as in ggml, the qs and signs cursors advance only past 32-blocks that are not all zero, while
  // the 9th index bits (qh) go by block number
  let qs = dOff + QS,
    signs = dOff + SIGNS;
  let maxScale = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xo = off + 32 * ib;
    setWeights(x, xo, qw, qwOff + 32 * ib, sigma2);
    for (let k = 0; k < 4; k++) {
      let s = 0;
      for (let i = 0; i < 8; i++) {
        const v = x[xo + 8 * k + i]!;
        if (v >= 0) XVAL[8 * k + i] = v;
        else {
          XVAL[8 * k + i] = -v;
          s |= 1 << i;
        }
      }
      BSIGNS[k] = s;
    }
    let max = XVAL[0]!;
    for (let i = 1; i < 32; i++) {
      const v = XVAL[i]!;
      max = max > v ? max : v;
    } // ggml's MAX
    if (max === 0) {
      SCALE[ib] = 0;
      continue;
    }
    let scale = searchBlock(g, max, 9, false, false, 'IQ3_S');
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) BSIGNS[k] = ~BSIGNS[k]! & 255;
    }
    let qh = 0;
    for (let k = 0; k < 8; k++) {
      const gi = gridIndex(g, k);
      dst[qs + k] = gi & 255;
      qh |= (gi >> 8) << k;
    }
    dst[dOff + QH + ib] = qh;
    qs += 8;
    for (let k = 0; k < 4; k++) dst[signs + k] = BSIGNS[k]!;
    signs += 4;
    if (!(scale >= 0)) tooLarge('IQ3_S');
    SCALE[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) return;
  const d = fround(maxScale / 31);
  const h = fp32ToFp16(fround(d * fround(1.033)));
  dst[dOff] = h & 255;
  dst[dOff + 1] = h >>> 8;
  const id = fround(1 / d);
  for (let ib = 0; ib < 8; ib += 2) {
    let l1 = nearestInt(fround(0.5 * fround(fround(id * SCALE[ib]!) - 1)));
    l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
    let l2 = nearestInt(fround(0.5 * fround(fround(id * SCALE[ib + 1]!) - 1)));
    l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
    dst[dOff + SCALES + (ib >> 1)] = l1 | (l2 << 4);
  }
}

export const iq3_s = defineCodec({
  name: 'IQ3_S',
  typeId: GGML_TYPE.IQ3_S,
  imatrix: 'used',
  kernels: { quant: 'iq3_s_quant', quantImatrix: 'iq3_s_quant_imatrix', dequant: 'iq3_s_dequant' },
  refused: () => tooLarge('IQ3_S'),
  layout:
    'Super-blocks of 256 weights: an FP16 scale, one 9-bit index per 4 weights into a 512-point grid of 3-bit magnitudes, one sign bit per weight and a 4-bit sub-scale per 32 weights, 3.44 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const nb = nPerRow / 256;
    for (let row = 0; row < nRows; row++) {
      for (let ib = 0; ib < nb; ib++) {
        quantizeBlock(src, row * nPerRow + ib * 256, dst, (row * nb + ib) * BLOCK, imatrix, ib * 256);
      }
    }
  },
  dequantize(src, dst, n) {
    for (let ibl = 0; ibl < n / 256; ibl++) {
      const o = ibl * BLOCK;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      for (let ib = 0; ib < 8; ib++) {
        const sc = src[o + SCALES + (ib >> 1)]!;
        const db = fround(d * (1 + 2 * (ib & 1 ? sc >> 4 : sc & 15)));
        // each value is fround(db·grid value)·(±1): 8 distinct magnitudes per 32 values
        for (let l = 0; l < 8; l++) DV[l] = fround(db * (2 * l + 1));
        const qh = src[o + QH + ib]!;
        const qo = o + QS + 8 * ib,
          so = o + SIGNS + 4 * ib;
        let y = ibl * 256 + 32 * ib;
        for (let l = 0; l < 4; l++) {
          const sg = 8 * src[so + l]!;
          const g1 = 4 * (src[qo + 2 * l]! | (((qh >> (2 * l)) & 1) << 8));
          const g2 = 4 * (src[qo + 2 * l + 1]! | (((qh >> (2 * l + 1)) & 1) << 8));
          put8(dst, y, DV, GRIDL, g1, g2, sg);
          y += 8;
        }
      }
    }
  },
});
