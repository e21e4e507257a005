// Q4_K: 256-weight super-blocks of eight 32-weight sub-blocks, each with a 6-bit scale and 6-bit
// min; 4-bit levels. Byte-identical to ggml's quantize_q4_K (quantize_row_q4_K_ref without an
// imatrix, quantize_row_q4_K_impl with one) and dequantize_row_q4_K.
// Block: d (fp16) | dmin (fp16) | scales[12] (packed 6-bit scales/mins) | qs[128] (nibbles).
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { QK_K, getHalf, kQuantCodec, unpackScaleMinK4 } from './search-k.js';
import { relevelK4, scaleMinImatrixK4, scaleMinRefK4 } from './kquant-scales.js';

const fround = Math.fround;
const TYPE_SIZE = 144;
const NAME = 'Q4_K';

// per-block scratch, reused so quantizing allocates nothing
const L = new Uint8Array(QK_K);
const sc = new Uint8Array(8);
const mm = new Uint8Array(8);
const lut = new Float32Array(32);

/** Re-rounds every weight against the final fp16 scales/mins and packs the nibbles. */
export function finishBlock(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  relevelK4(x, xo, 15, L, dst, o);
  let q = o + 16;
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; l++) dst[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    q += 32;
  }
}

function quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void {
  scaleMinRefK4(x, xo, 15, -1, 20, L, dst, o);
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
  scaleMinImatrixK4(x, xo, qw, qo, 15, false, L, dst, o);
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
    let q = o + 16;
    for (let is = 0; is < 8; is += 2) {
      // the 16 possible outputs of each sub-block, d·sc·q - dmin·m rounded as ggml does
      const d1 = fround(d * sc[is]!),
        m1 = fround(min * mm[is]!);
      const d2 = fround(d * sc[is + 1]!),
        m2 = fround(min * mm[is + 1]!);
      for (let k = 0; k < 16; k++) {
        lut[k] = fround(d1 * k) - m1;
        lut[16 + k] = fround(d2 * k) - m2;
      }
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

export const q4_K = kQuantCodec({
  name: NAME,
  typeId: GGML_TYPE.Q4_K,
  kernels: { quant: 'q4_K_quant', quantImatrix: 'q4_K_quant_imatrix', dequant: 'q4_K_dequant' },
  layout:
    '256-weight super-blocks: fp16 scale and fp16 min-scale, eight 32-weight sub-blocks with 6-bit scale and 6-bit min (12 bytes), 4-bit levels; 4.5 bits per weight.',
  quantizeBlockRef,
  quantizeBlockImatrix,
  dequantize,
});
