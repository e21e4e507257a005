// Q5_K: 256-weight super-blocks of eight 32-weight sub-blocks, each with a 6-bit scale and 6-bit
// min; 5-bit levels. Byte-identical to ggml's quantize_q5_K (quantize_row_q5_K_ref without an
// imatrix, quantize_row_q5_K_impl with one) and dequantize_row_q5_K.
// Block: d (fp16) | dmin (fp16) | scales[12] (packed 6-bit scales/mins) | qh[32] (5th bits) | qs[128] (low nibbles).
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { QK_K, getHalf, kQuantCodec, unpackScaleMinK4 } from './search-k.js';
import { relevelK4, scaleMinImatrixK4, scaleMinRefK4 } from './kquant-scales.js';

const fround = Math.fround;
const TYPE_SIZE = 176;
const NAME = 'Q5_K';

// per-block scratch, reused so quantizing allocates nothing
const L = new Uint8Array(QK_K);
const sc = new Uint8Array(8);
const mm = new Uint8Array(8);
const lut = new Float32Array(64);

/** Re-rounds every weight against the final fp16 scales/mins and packs the nibbles. */
export function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  relevelK4(x, xo, 31, L, dst, o);
  // sub-block pair n/64 puts its 5th bits in bits 2n/64 and 2n/64+1 of qh[0..32)
  const qh = o + 16;
  let ql = o + 48;
  for (let j = 0; j < 32; j++) dst[qh + j] = 0;
  let m1 = 1,
    m2 = 2;
  for (let n = 0; n < QK_K; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j]!;
      let h = dst[qh + j]!;
      if (l1 > 15) {
        l1 -= 16;
        h |= m1;
      }
      let l2 = L[n + j + 32]!;
      if (l2 > 15) {
        l2 -= 16;
        h |= m2;
      }
      dst[qh + j] = h;
      dst[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}

function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  scaleMinRefK4(x, xo, 31, -0.5, 15, L, dst, o);
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
  // unlike Q4_K, ggml's Q5_K clamps the 6-bit scale levels
  scaleMinImatrixK4(x, xo, qw, qo, 31, true, L, dst, o);
  finishBlock(x, xo, dst, o);
}

/** TS fallback; kQuantCodec checks the shapes and tries the WASM kernel first. */
function dequantize(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * TYPE_SIZE;
    const d = fp16Table[getHalf(src, o)]!;
    const min = fp16Table[getHalf(src, o + 2)]!;
    unpackScaleMinK4(src, o + 4, sc, mm);
    let y = b * QK_K;
    const qh = o + 16;
    let ql = o + 48;
    let u1 = 1,
      u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      // the 32 possible outputs of each sub-block, d·sc·q - dmin·m rounded as ggml does
      const d1 = fround(d * sc[is]!),
        m1 = fround(min * mm[is]!);
      const d2 = fround(d * sc[is + 1]!),
        m2 = fround(min * mm[is + 1]!);
      for (let k = 0; k < 32; k++) {
        lut[k] = fround(d1 * k) - m1;
        lut[32 + k] = fround(d2 * k) - m2;
      }
      for (let l = 0; l < 32; l++) {
        const v = src[ql + l]!,
          h = src[qh + l]!;
        dst[y + l] = lut[(v & 0xf) | (h & u1 ? 16 : 0)]!;
        dst[y + 32 + l] = lut[32 + ((v >> 4) | (h & u2 ? 16 : 0))]!;
      }
      y += 64;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

export const q5_K = kQuantCodec({
  name: NAME,
  typeId: GGML_TYPE.Q5_K,
  kernels: { quant: 'q5_K_quant', quantImatrix: 'q5_K_quant_imatrix', dequant: 'q5_K_dequant' },
  layout:
    '256-weight super-blocks: fp16 scale and fp16 min-scale, eight 32-weight sub-blocks with 6-bit scale and 6-bit min (12 bytes), 5-bit levels (4 low bits + 1 high bit plane); 5.5 bits per weight.',
  quantizeBlockRef,
  quantizeBlockImatrix,
  dequantize,
});
