// Q3_K: 256-weight super-blocks of sixteen 16-weight sub-blocks with 6-bit signed scales and a
// fp16 super-scale; symmetric 3-bit levels. Byte-identical to ggml's quantize_q3_K
// (quantize_row_q3_K_ref without an imatrix, quantize_row_q3_K_impl with one) and dequantize_row_q3_K.
// Block: hmask[32] (3rd bits) | qs[64] (low 2 bits) | scales[12] (packed 6-bit) | d (fp16).
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { makeQxQuants, nearestInt } from './search.js';
import { QK_K, getHalf, kQuantCodec, makeQ3, putHalf } from './search-k.js';
import { imatrixWeights, packLevels2, sumSquares } from './kquant-scales.js';

const fround = Math.fround;
const TYPE_SIZE = 110;
const NAME = 'Q3_K';

const L = new Int8Array(QK_K);
// the same bytes unsigned: after the hmask split the levels are 0..3, packed by the shared 2-bit packer
const Lu = new Uint8Array(L.buffer);
const scales = new Float32Array(16);
const weights = new Float32Array(16);
const sw = new Float32Array(16);
const ls = new Int8Array(16);
const sc6 = new Int8Array(16);
const lut = new Float32Array(16);

/**
 * The 12 scale bytes at s: scale j (6 bits, stored +32) has its low nibble in byte j (j < 8) or
 * the high nibble of byte j-8, and its top 2 bits in byte 8 + j%4 at bit 2*(j/4).
 */
export function putScale6(dst: Uint8Array, s: number, j: number, l: number): void {
  if (j < 8) dst[s + j] = l & 0xf;
  else dst[s + j - 8] = dst[s + j - 8]! | ((l & 0xf) << 4);
  dst[s + 8 + (j & 3)] = dst[s + 8 + (j & 3)]! | ((l >> 4) << (2 * (j >> 2)));
}

export function unpackScales6(src: Uint8Array, s: number, out: Int8Array): void {
  for (let j = 0; j < 16; j++) {
    const lo = j < 8 ? src[s + j]! & 0xf : src[s + j - 8]! >> 4;
    out[j] = (lo | (((src[s + 8 + (j & 3)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
  }
}

/** Re-rounds every weight against the final scales, then splits levels into hmask and 2-bit qs. */
export function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  const d0 = fp16Table[getHalf(dst, o + 108)]!;
  unpackScales6(dst, o + 96, sc6);
  for (let j = 0; j < 16; j++) {
    const d = fround(d0 * sc6[j]!);
    if (d === 0) continue;
    const base = xo + 16 * j;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(x[base + ii]! / d));
      L[16 * j + ii] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4;
    }
  }
  // the high bit of level j goes to hmask[j % 32], bit j / 32
  for (let m = 0; m < 32; m++) {
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const j = 32 * k + m;
      const l = L[j]!;
      if (l > 3) {
        h |= 1 << k;
        L[j] = l - 4;
      }
    }
    dst[o + m] = h;
  }
  packLevels2(Lu, dst, o + 32);
}

function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  let maxScale = 0,
    amax = 0;
  for (let j = 0; j < 16; j++) {
    const s = makeQ3(16, 4, x, xo + 16 * j, L, 16 * j);
    scales[j] = s;
    const a = Math.abs(s);
    if (a > amax) {
      amax = a;
      maxScale = s;
    }
  }
  dst.fill(0, o + 96, o + 108);
  if (maxScale !== 0) {
    const iscale = fround(-32 / maxScale);
    for (let j = 0; j < 16; j++) {
      const l8 = (nearestInt(fround(iscale * scales[j]!)) << 24) >> 24; // C stores into int8_t first
      putScale6(dst, o + 96, j, (l8 < -32 ? -32 : l8 > 31 ? 31 : l8) + 32);
    }
    putHalf(dst, o + 108, fp32ToFp16(fround(1 / iscale)));
  } else {
    putHalf(dst, o + 108, 0);
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
  const sigma2 = fround(fround(2 * sumSquares(x, xo, QK_K)) / QK_K);
  for (let j = 0; j < 16; j++) {
    const base = xo + 16 * j;
    sw[j] = imatrixWeights(x, base, qw, qo + 16 * j, sigma2, 16, weights);
    scales[j] = makeQxQuants(16, 4, x, base, L, 16 * j, 1, weights, 0);
  }
  dst.fill(0, o + 96, o + 108);
  const dBlock = makeQxQuants(16, 32, scales, 0, ls, 0, 1, sw, 0);
  for (let j = 0; j < 16; j++) putScale6(dst, o + 96, j, ls[j]!);
  putHalf(dst, o + 108, fp32ToFp16(dBlock));
  finishBlock(x, xo, dst, o);
}

/** TS fallback; kQuantCodec checks the shapes and tries the WASM kernel first. */
function dequantize(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * TYPE_SIZE;
    const dAll = fp16Table[getHalf(src, o + 108)]!;
    unpackScales6(src, o + 96, sc6);
    let y = b * QK_K;
    let q = o + 32;
    const hm = o;
    let m = 1,
      is = 0;
    for (let n0 = 0; n0 < QK_K; n0 += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        // lut[k] = dl·(k - 4) for the 3-bit code k = low 2 bits | high bit << 2
        let dl = fround(dAll * sc6[is++]!);
        for (let k = 0; k < 8; k++) lut[k] = dl * (k - 4);
        dl = fround(dAll * sc6[is++]!);
        for (let k = 0; k < 8; k++) lut[8 + k] = dl * (k - 4);
        for (let l = 0; l < 16; l++) {
          dst[y + l] = lut[((src[q + l]! >> shift) & 3) | (src[hm + l]! & m ? 4 : 0)]!;
          dst[y + 16 + l] = lut[8 + (((src[q + 16 + l]! >> shift) & 3) | (src[hm + 16 + l]! & m ? 4 : 0))]!;
        }
        y += 32;
        m <<= 1;
      }
      q += 32;
    }
  }
}

export const q3_K = kQuantCodec({
  name: NAME,
  typeId: GGML_TYPE.Q3_K,
  kernels: { quant: 'q3_K_quant', quantImatrix: 'q3_K_quant_imatrix', dequant: 'q3_K_dequant' },
  layout:
    '256-weight super-blocks: fp16 scale, sixteen 16-weight sub-blocks with signed 6-bit scales, symmetric 3-bit levels (2 low bits + 1 high bit plane); 3.4375 bits per weight.',
  quantizeBlockRef,
  quantizeBlockImatrix,
  dequantize,
});
