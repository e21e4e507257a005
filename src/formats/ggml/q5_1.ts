// Q5_1: 32 weights per 24-byte block: FP16 scale d, FP16 minimum m, 4 bytes qh holding the 5th bit
// of each code (bit j = weight j), then 16 bytes of low nibbles (low = weights 0..15, high =
// 16..31); weight = q·d + m. Matches ggml's quantize_q5_1 / dequantize_row_q5_1 bit for bit.
import { GGML_TYPE } from '../ggml-types.js';
import { blockMinMax, blockWeights, dequantizeQ5, legacyCodec, packQ5, q5Pair, rowSigma2, storeFp16, storeU32 } from './legacy-block.js';
import { makeQkx3Quants } from './search.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 24;
const minMax = new Float64Array(2);
const weight = new Float32Array(QK);
const L = new Uint8Array(QK);
const Laux = new Uint8Array(QK);
const theMin = new Float32Array(1);

/** quantize_row_q5_1_ref over n values: d = (max - min)/31, codes (uint8_t)(x0 + 0.5f). */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  // imported functions bound locally: under tsx each use of an import goes through a getter
  const blockMinMax_ = blockMinMax;
  const storeFp16_ = storeFp16;
  const q5Pair_ = q5Pair;
  const storeU32_ = storeU32;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    blockMinMax_(x, i, minMax);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16_(y, o, d);
    storeFp16_(y, o + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // no clamp in ggml here: the low byte of the truncated int (NaN/overflow → 0 both ways)
      const q0 = fround(fround(fround(x[i + j]! - min) * id) + 0.5) | 0;
      const q1 = fround(fround(fround(x[i + j + 16]! - min) * id) + 0.5) | 0;
      qh |= q5Pair_(y, o + 8, j, q0, q1);
    }
    storeU32_(y, o + 4, qh);
  }
}

/** quantize_row_q5_1_impl: make_qkx3_quants(32, 31, …, -0.9f, 0.05f, 36, false) per block. */
function quantizeRowImatrix(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += TYPE_SIZE) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQkx3Quants(QK, 31, x, xb, weight, 0, L, 0, theMin, 0, Laux, 0, -0.9, 0.05, 36, false);
    storeFp16(y, o, d);
    storeFp16(y, o + 2, -theMin[0]!);
    packQ5(L, y, o + 4, o + 8);
  }
}

export const q5_1 = legacyCodec({
  name: 'Q5_1',
  typeId: GGML_TYPE.Q5_1,
  typeSize: TYPE_SIZE,
  layout: '32 weights per 24-byte block: an FP16 scale d and FP16 minimum m, 4 bytes of high bits, 16 bytes of low nibbles; 5-bit code q, weight = q·d + m.',
  quantizeRef,
  quantizeRowImatrix,
  dequantizeRef: (src, dst, n) => dequantizeQ5(src, dst, n, TYPE_SIZE, 0, true),
});
