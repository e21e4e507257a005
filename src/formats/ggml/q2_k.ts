// Q2_K: 256-weight super-blocks of sixteen 16-weight sub-blocks, each with a 4-bit scale and a
// 4-bit min; 2-bit levels. Byte-identical to ggml's quantize_q2_K (quantize_row_q2_K_ref without
// an imatrix, quantize_row_q2_K_impl with one) and dequantize_row_q2_K.
// Block: scales[16] (low nibble scale, high nibble min) | qs[64] (2-bit levels) | d (fp16) | dmin (fp16).
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { QK_K, getHalf, kQuantCodec, makeQkx2, makeQp, putHalf } from './search-k.js';
import { imatrixWeights, packLevels2, sumSquares } from './kquant-scales.js';

const fround = Math.fround;
const TYPE_SIZE = 84;
const NAME = 'Q2_K';
const TENTH = fround(0.1);
const M09 = fround(-0.9);
const P005 = fround(0.05);

const L = new Uint8Array(QK_K);
const weights = new Float32Array(16);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const sw = new Float32Array(16);
const ls = new Uint8Array(16);
const lm = new Uint8Array(16);

/** Re-rounds every weight against the final fp16 d/dmin and 4-bit scales, packs 4 levels a byte. */
export function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  const d0 = fp16Table[getHalf(dst, o + 80)]!;
  const dmin0 = fp16Table[getHalf(dst, o + 82)]!;
  for (let j = 0; j < 16; j++) {
    const s = dst[o + j]!;
    const d = fround(d0 * (s & 0xf));
    if (d === 0) continue;
    const dm = fround(dmin0 * (s >> 4));
    const base = xo + 16 * j;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(fround(x[base + ii]! + dm) / d));
      L[16 * j + ii] = l < 0 ? 0 : l > 3 ? 3 : l;
    }
  }
  packLevels2(L, dst, o + 16);
}

function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  let maxScale = 0,
    maxMin = 0;
  for (let j = 0; j < 16; j++) {
    const base = xo + 16 * j;
    for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[base + l]!);
    makeQkx2(16, 3, x, base, weights, L, 16 * j, -0.5, TENTH, 15, true, scales, mins, j);
    const s = scales[j]!,
      m = mins[j]!;
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  if (maxScale > 0) {
    const iscale = fround(15 / maxScale);
    for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fround(iscale * scales[j]!));
    putHalf(dst, o + 80, fp32ToFp16(fround(maxScale / 15)));
  } else {
    for (let j = 0; j < 16; j++) dst[o + j] = 0;
    putHalf(dst, o + 80, 0);
  }
  if (maxMin > 0) {
    const iscale = fround(15 / maxMin);
    for (let j = 0; j < 16; j++) dst[o + j] = dst[o + j]! | (nearestInt(fround(iscale * mins[j]!)) << 4);
    putHalf(dst, o + 82, fp32ToFp16(fround(maxMin / 15)));
  } else {
    putHalf(dst, o + 82, 0);
  }
  finishBlock(x, xo, dst, o);
}

function quantizeBlockImatrix(
  x: Float32Array,
  xo: number,
  qw: Float32Array,
  qo: number,
  dst: Uint8Array,
  o: number,
): void {
  const sigma2 = fround(sumSquares(x, xo, QK_K) / QK_K);
  for (let j = 0; j < 16; j++) {
    const base = xo + 16 * j;
    sw[j] = imatrixWeights(x, base, qw, qo + 16 * j, sigma2, 16, weights);
    // make_qkx3_quants with weights given is make_qkx2_quants' arithmetic (see search-k.ts)
    makeQkx2(16, 3, x, base, weights, L, 16 * j, M09, P005, 36, false, scales, mins, j);
  }
  const dm = makeQp(16, 15, scales, ls, sw);
  const mm = makeQp(16, 15, mins, lm, sw);
  putHalf(dst, o + 80, fp32ToFp16(dm));
  putHalf(dst, o + 82, fp32ToFp16(mm));
  for (let j = 0; j < 16; j++) dst[o + j] = ls[j]! | (lm[j]! << 4);
  finishBlock(x, xo, dst, o);
}

/** TS fallback; kQuantCodec checks the shapes and tries the WASM kernel first. */
function dequantize(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * TYPE_SIZE;
    const d = fp16Table[getHalf(src, o + 80)]!;
    const min = fp16Table[getHalf(src, o + 82)]!;
    let y = b * QK_K;
    let q = o + 16;
    let is = o;
    for (let n0 = 0; n0 < QK_K; n0 += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        let s = src[is++]!;
        let dl = fround(d * (s & 0xf)),
          ml = fround(min * (s >> 4));
        const a0 = fround(dl * 0) - ml,
          a1 = fround(dl) - ml,
          a2 = fround(dl * 2) - ml,
          a3 = fround(dl * 3) - ml;
        for (let l = 0; l < 16; l++) {
          const k = (src[q + l]! >> shift) & 3;
          dst[y + l] = k < 2 ? (k ? a1 : a0) : k === 2 ? a2 : a3;
        }
        s = src[is++]!;
        dl = fround(d * (s & 0xf));
        ml = fround(min * (s >> 4));
        const b0 = fround(dl * 0) - ml,
          b1 = fround(dl) - ml,
          b2 = fround(dl * 2) - ml,
          b3 = fround(dl * 3) - ml;
        for (let l = 0; l < 16; l++) {
          const k = (src[q + 16 + l]! >> shift) & 3;
          dst[y + 16 + l] = k < 2 ? (k ? b1 : b0) : k === 2 ? b2 : b3;
        }
        y += 32;
      }
      q += 32;
    }
  }
}

export const q2_K = kQuantCodec({
  name: NAME,
  typeId: GGML_TYPE.Q2_K,
  kernels: { quant: 'q2_K_quant', quantImatrix: 'q2_K_quant_imatrix', dequant: 'q2_K_dequant' },
  layout:
    '256-weight super-blocks: fp16 scale and fp16 min-scale, sixteen 16-weight sub-blocks with a 4-bit scale and 4-bit min each, 2-bit levels; 2.625 bits per weight.',
  quantizeBlockRef,
  quantizeBlockImatrix,
  dequantize,
});
