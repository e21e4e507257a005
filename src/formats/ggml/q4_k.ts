// Q4_K: 256-weight super-blocks of eight 32-weight sub-blocks, each with a 6-bit scale and 6-bit
// min; 4-bit levels. Byte-identical to ggml's quantize_q4_K (quantize_row_q4_K_ref without an
// imatrix, quantize_row_q4_K_impl with one) and dequantize_row_q4_K.
// Block: d (fp16) | dmin (fp16) | scales[12] (packed 6-bit scales/mins) | qs[128] (nibbles).
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { wasmBlocks, wasmRows } from '../wasm/kernels.js';
import { QK_K, checkKDequant, checkKShape, getHalf, makeQkx2, makeQp, packScaleMinK4, putHalf, unpackScaleMinK4 } from './search-k.js';

const fround = Math.fround;
const TYPE_SIZE = 144;
const NAME = 'Q4_K';
const TENTH = fround(0.1);
const M09 = fround(-0.9);
const P005 = fround(0.05);

// per-block scratch, reused so quantizing allocates nothing
const L = new Uint8Array(QK_K);
const weights = new Float32Array(32);
const scales = new Float32Array(8);
const mins = new Float32Array(8);
const sw = new Float32Array(8);
const ls = new Uint8Array(8);
const lm = new Uint8Array(8);
const sc = new Uint8Array(8);
const mm = new Uint8Array(8);
const lut = new Float32Array(32);

/** Re-rounds every weight against the final fp16 scales/mins and packs the nibbles. */
function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  const d0 = fp16Table[getHalf(dst, o)]!;
  const dmin0 = fp16Table[getHalf(dst, o + 2)]!;
  unpackScaleMinK4(dst, o + 4, sc, mm);
  for (let j = 0; j < 8; j++) {
    const d = fround(d0 * sc[j]!);
    if (d === 0) continue;
    const dm = fround(dmin0 * mm[j]!);
    const base = xo + 32 * j;
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(x[base + ii]! + dm) / d));
      L[32 * j + ii] = l < 0 ? 0 : l > 15 ? 15 : l;
    }
  }
  let q = o + 16;
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; l++) dst[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    q += 32;
  }
}

function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const base = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) { const v = x[base + l]!; sumX2 = fround(sumX2 + fround(v * v)); }
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[base + l]!);
    makeQkx2(32, 15, x, base, weights, L, 32 * j, -1, TENTH, 20, false, scales, mins, j);
    const s = scales[j]!, m = mins[j]!;
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // C stores nearest_int into a uint8_t before MIN(63, ·)
    const a = nearestInt(fround(invScale * scales[j]!)) & 255;
    const b = nearestInt(fround(invMin * mins[j]!)) & 255;
    ls[j] = a < 63 ? a : 63;
    lm[j] = b < 63 ? b : 63;
  }
  packScaleMinK4(dst, o + 4, ls, lm);
  putHalf(dst, o, fp32ToFp16(fround(maxScale / 63)));
  putHalf(dst, o + 2, fp32ToFp16(fround(maxMin / 63)));
  finishBlock(x, xo, dst, o);
}

function quantizeBlockImatrix(x: Float32Array, xo: number, qw: Float32Array, qo: number, dst: Uint8Array, o: number): void {
  let sumX2 = 0;
  for (let l = 0; l < QK_K; l++) { const v = x[xo + l]!; sumX2 = fround(sumX2 + fround(v * v)); }
  const sigma2 = fround(fround(2 * sumX2) / QK_K);
  for (let j = 0; j < 8; j++) {
    const base = xo + 32 * j;
    let sumw = 0;
    for (let l = 0; l < 32; l++) {
      const v = x[base + l]!;
      const w = fround(qw[qo + 32 * j + l]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
      weights[l] = w;
      sumw = fround(sumw + w);
    }
    sw[j] = sumw;
    // make_qkx3_quants with weights given is make_qkx2_quants' arithmetic (see search-k.ts)
    makeQkx2(32, 15, x, base, weights, L, 32 * j, M09, P005, 36, false, scales, mins, j);
  }
  const dBlock = makeQp(8, 63, scales, ls, sw);
  const mBlock = makeQp(8, 63, mins, lm, sw);
  packScaleMinK4(dst, o + 4, ls, lm);
  putHalf(dst, o, fp32ToFp16(dBlock));
  putHalf(dst, o + 2, fp32ToFp16(mBlock));
  finishBlock(x, xo, dst, o);
}

function dequantize(src: Uint8Array, dst: Float32Array, n: number): void {
  checkKDequant(NAME, src, dst, n, TYPE_SIZE);
  if (wasmBlocks('q4_K_dequant', src, dst, n / QK_K, TYPE_SIZE, QK_K * 4)) return;
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * TYPE_SIZE;
    const d = fp16Table[getHalf(src, o)]!;
    const min = fp16Table[getHalf(src, o + 2)]!;
    unpackScaleMinK4(src, o + 4, sc, mm);
    let y = b * QK_K;
    let q = o + 16;
    for (let is = 0; is < 8; is += 2) {
      // the 16 possible outputs of each sub-block, d·sc·q - dmin·m rounded as ggml does
      const d1 = fround(d * sc[is]!), m1 = fround(min * mm[is]!);
      const d2 = fround(d * sc[is + 1]!), m2 = fround(min * mm[is + 1]!);
      for (let k = 0; k < 16; k++) { lut[k] = fround(d1 * k) - m1; lut[16 + k] = fround(d2 * k) - m2; }
      for (let l = 0; l < 32; l++) {
        const v = src[q + l]!;
        dst[y + l] = lut[v & 0xf]!;
        dst[y + 32 + l] = lut[16 + (v >> 4)]!;
      }
      y += 64;
      q += 32;
    }
  }
}

export const q4_K: BlockCodec = {
  name: NAME,
  type: ggmlTypeById(GGML_TYPE.Q4_K)!,
  usesImatrix: true,
  layout: '256-weight super-blocks: fp16 scale and fp16 min-scale, eight 32-weight sub-blocks with 6-bit scale and 6-bit min (12 bytes), 4-bit levels; 4.5 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkKShape(NAME, src, dst, nRows, nPerRow, TYPE_SIZE, imatrix);
    const nbRow = nPerRow / QK_K;
    if (!imatrix) {
      const nb = nRows * nbRow;
      if (wasmBlocks('q4_K_quant', src, dst, nb, 4 * QK_K, TYPE_SIZE)) return;
      for (let b = 0; b < nb; b++) quantizeBlockRef(src, b * QK_K, dst, b * TYPE_SIZE);
      return;
    }
    if (wasmRows('q4_K_quant_imatrix', src, dst, nRows, nPerRow, nbRow * TYPE_SIZE, imatrix)) return;
    for (let r = 0; r < nRows; r++) {
      for (let i = 0; i < nbRow; i++) {
        const b = r * nbRow + i;
        quantizeBlockImatrix(src, b * QK_K, imatrix, i * QK_K, dst, b * TYPE_SIZE);
      }
    }
  },
  dequantize,
};
