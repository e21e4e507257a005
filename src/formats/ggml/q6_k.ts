// Q6_K: 256-weight super-blocks of sixteen 16-weight sub-blocks with signed 8-bit scales and a
// fp16 super-scale; symmetric 6-bit levels. Byte-identical to ggml's quantize_q6_K
// (quantize_row_q6_K_ref / quantize_row_q6_K_impl) and dequantize_row_q6_K.
// Block: ql[128] (low nibbles) | qh[64] (high 2 bits) | scales[16] (int8) | d (fp16).
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { GROUP_MAX_EPS, makeQxQuants, nearestInt } from './search.js';
import { QK_K, getHalf, kQuantCodec, putHalf } from './search-k.js';

const fround = Math.fround;
const TYPE_SIZE = 210;
const NAME = 'Q6_K';

const L = new Int8Array(QK_K);
const scales = new Float32Array(16);
const sc8 = new Int8Array(16);

/** One block; qw is the imatrix (null on the reference path) starting at qo for this block. */
function quantizeBlock(
  x: Float32Array,
  xo: number,
  qw: Float32Array | null,
  qo: number,
  dst: Uint8Array,
  o: number,
): void {
  let maxScale = 0,
    maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, qw, qo + 16 * ib);
    scales[ib] = scale;
    const abs = Math.abs(scale);
    if (abs > maxAbsScale) {
      maxAbsScale = abs;
      maxScale = scale;
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    dst.fill(0, o, o + TYPE_SIZE);
    return;
  }
  const iscale = fround(-128 / maxScale);
  const dh = fp32ToFp16(fround(1 / iscale));
  putHalf(dst, o + 208, dh);
  for (let ib = 0; ib < 16; ib++) {
    const l = nearestInt(fround(iscale * scales[ib]!));
    sc8[ib] = l < 127 ? l : 127; // int8 store wraps like C's
    dst[o + 192 + ib] = sc8[ib]! & 255;
  }
  finishBlock(x, xo, dst, o);
}

/** Re-rounds every weight against the block's fp16 d and int8 scales and packs the 6-bit levels. */
export function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  const d0 = fp16Table[getHalf(dst, o + 208)]!;
  for (let ib = 0; ib < 16; ib++) sc8[ib] = (dst[o + 192 + ib]! << 24) >> 24;
  for (let j = 0; j < 16; j++) {
    const d = fround(d0 * sc8[j]!);
    if (d === 0) continue;
    const base = xo + 16 * j;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(x[base + ii]! / d));
      L[16 * j + ii] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
    }
  }
  let ql = o,
    qh = o + 128;
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      const a = L[j + l]!,
        b = L[j + l + 32]!,
        c = L[j + l + 64]!,
        e = L[j + l + 96]!;
      dst[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
      dst[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
      dst[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
    }
    ql += 64;
    qh += 32;
  }
}

// ggml's _ref and _impl share one body for Q6_K (make_qx_quants takes the weights or null)
function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  quantizeBlock(x, xo, null, 0, dst, o);
}

function quantizeBlockImatrix(
  x: Float32Array,
  xo: number,
  qw: Float32Array,
  qo: number,
  dst: Uint8Array,
  o: number,
): void {
  quantizeBlock(x, xo, qw, qo, dst, o);
}

/** TS fallback; kQuantCodec checks the shapes and tries the WASM kernel first. */
function dequantize(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * TYPE_SIZE;
    const d = fp16Table[getHalf(src, o + 208)]!;
    let ql = o,
      qh = o + 128,
      sc = o + 192,
      y = b * QK_K;
    for (let half = 0; half < 2; half++) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        dst[y + l] = fround(d * ((src[sc + is]! << 24) >> 24)) * q1;
        dst[y + l + 32] = fround(d * ((src[sc + is + 2]! << 24) >> 24)) * q2;
        dst[y + l + 64] = fround(d * ((src[sc + is + 4]! << 24) >> 24)) * q3;
        dst[y + l + 96] = fround(d * ((src[sc + is + 6]! << 24) >> 24)) * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

export const q6_K = kQuantCodec({
  name: NAME,
  typeId: GGML_TYPE.Q6_K,
  kernels: { quant: 'q6_K_quant', quantImatrix: 'q6_K_quant_imatrix', dequant: 'q6_K_dequant' },
  layout:
    '256-weight super-blocks: fp16 scale, sixteen 16-weight sub-blocks with signed 8-bit scales, symmetric 6-bit levels (4 low bits + 2 high bits); 6.5625 bits per weight.',
  quantizeBlockRef,
  quantizeBlockImatrix,
  dequantize,
});
