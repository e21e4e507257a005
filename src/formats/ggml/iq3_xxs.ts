// IQ3_XXS: super-blocks of 256 values, 98 bytes: an FP16 scale d, 64 bytes of grid indices (one
// per group of four values, into the 256-point grid of iq3-grids.ts) and eight u32 words, one per
// 32 values: 4 × 7 sign bits (the 8th sign of each 8 follows from even parity) and a 4-bit scale
// s (sub-scale d·(0.5 + s)·0.5). ggml's quantize_row_iq3_xxs_impl, imatrix honoured.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { IQ3XXS_LEVELS, KGRID_256, KSIGNS, gridLevels, iq3Grid256, put8 } from './iq3-grids.js';
import { LEVELS, WEIGHT, XVAL, gridIndex, searchBlock, setWeights, sigma2Of, tooLarge } from './iq3-search.js';
import { nearestInt } from './search.js';
import { evenSigns8 } from './iq-signs.js';

const fround = Math.fround;

const BLOCK = 98;
const EPS = fround(1e-8); // GROUP_MAX_EPS_IQ3_XXS

/** iq3xxs_grid as level numbers (0..7), 4 per grid index; the values are IQ3XXS_LEVELS[l]. */
const GRIDL = gridLevels(KGRID_256);
const LVF = Float64Array.from(IQ3XXS_LEVELS);
const DV = new Float64Array(8); // fround(db · level value) for the current 32 values

const SCALES = new Float64Array(8);
const SIGNS = new Uint32Array(8); // the 28 sign bits of each 32-block's word
const Q3 = new Uint8Array(64);

function quantizeBlock(
  x: Float32Array,
  off: number,
  dst: Uint8Array,
  dOff: number,
  qw: Float32Array | null,
  qwOff: number,
): void {
  const g = iq3Grid256();
  const sigma2 = sigma2Of(x, off);
  Q3.fill(0);
  SIGNS.fill(0);
  let maxScale = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xo = off + 32 * ib;
    setWeights(x, xo, qw, qwOff + 32 * ib, sigma2);
    let signs = 0;
    for (let k = 0; k < 4; k++) signs |= (evenSigns8(x, xo + 8 * k, WEIGHT, 8 * k, XVAL, 8 * k) & 127) << (7 * k);
    let max = XVAL[0]!;
    for (let i = 1; i < 32; i++) {
      const v = XVAL[i]!;
      max = max > v ? max : v;
    } // ggml's MAX
    if (max < EPS) {
      SCALES[ib] = 0;
      continue;
    }
    let scale = searchBlock(g, max, 15, true, true, 'IQ3_XXS');
    if (scale < 0) {
      scale = -scale;
      signs = ~signs & 0x0fffffff; // each 7-bit field inverted
    }
    for (let k = 0; k < 8; k++) Q3[8 * ib + k] = gridIndex(g, k);
    SIGNS[ib] = signs;
    if (!(scale >= 0)) tooLarge('IQ3_XXS');
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) {
    dst.fill(0, dOff, dOff + BLOCK);
    return;
  }
  const d = fround(maxScale / 31);
  const h = fp32ToFp16(fround(d * fround(1.0125)));
  dst[dOff] = h & 255;
  dst[dOff + 1] = h >>> 8;
  const id = fround(1 / d);
  dst.set(Q3, dOff + 2);
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
    l = l < 0 ? 0 : l > 15 ? 15 : l;
    const w = (SIGNS[ib]! | (l << 28)) >>> 0;
    const o = dOff + 66 + 4 * ib;
    dst[o] = w & 255;
    dst[o + 1] = (w >>> 8) & 255;
    dst[o + 2] = (w >>> 16) & 255;
    dst[o + 3] = w >>> 24;
  }
}

export const iq3_xxs = defineCodec({
  name: 'IQ3_XXS',
  typeId: GGML_TYPE.IQ3_XXS,
  imatrix: 'used',
  kernels: { quant: 'iq3_xxs_quant', quantImatrix: 'iq3_xxs_quant_imatrix', dequant: 'iq3_xxs_dequant' },
  refused: () => tooLarge('IQ3_XXS'),
  layout:
    'Super-blocks of 256 weights: an FP16 scale, one 8-bit index per 4 weights into a 256-point grid of 3-bit magnitudes, and per 32 weights 28 sign bits (even parity gives the rest) and a 4-bit sub-scale, 3.06 bits per weight.',
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
        const so = o + 66 + 4 * ib;
        const aux = (src[so]! | (src[so + 1]! << 8) | (src[so + 2]! << 16) | (src[so + 3]! << 24)) >>> 0;
        const db = fround(fround(d * (0.5 + (aux >>> 28))) * 0.5);
        // each value is fround(db·grid value)·(±1): 8 distinct magnitudes per 32 values
        for (let l = 0; l < 8; l++) DV[l] = fround(db * LVF[l]!);
        const qo = o + 2 + 8 * ib;
        let y = ibl * 256 + 32 * ib;
        for (let l = 0; l < 4; l++) {
          const sg = 8 * KSIGNS[(aux >>> (7 * l)) & 127]!;
          const g1 = 4 * src[qo + 2 * l]!,
            g2 = 4 * src[qo + 2 * l + 1]!;
          put8(dst, y, DV, GRIDL, g1, g2, sg);
          y += 8;
        }
      }
    }
  },
});
