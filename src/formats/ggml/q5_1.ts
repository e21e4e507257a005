// Q5_1: 32 weights per 24-byte block: FP16 scale d, FP16 minimum m, 4 bytes qh holding the 5th bit
// of each code (bit j = weight j), then 16 bytes of low nibbles (low = weights 0..15, high =
// 16..31); weight = q·d + m. Matches ggml's quantize_q5_1 / dequantize_row_q5_1 bit for bit.
import { GGML_TYPE } from '../ggml-types.js';
import {
  blockMinMax,
  dequantizeQ5,
  imatrixRowAffine,
  legacyCodec,
  q5Pair,
  storeFp16,
  storeU32,
} from './legacy-block.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 24;
const minMax = new Float64Array(2);

/** quantize_row_q5_1_ref over n values: d = (max - min)/31, codes (uint8_t)(x0 + 0.5f). */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    blockMinMax(x, i, minMax);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16(y, o, d);
    storeFp16(y, o + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // no clamp in ggml here: the low byte of the truncated int (NaN/overflow → 0 both ways)
      const q0 = fround(fround(fround(x[i + j]! - min) * id) + 0.5) | 0;
      const q1 = fround(fround(fround(x[i + j + 16]! - min) * id) + 0.5) | 0;
      qh |= q5Pair(y, o + 8, j, q0, q1);
    }
    storeU32(y, o + 4, qh);
  }
}

export const q5_1 = legacyCodec({
  name: 'Q5_1',
  kernels: { quant: 'q5_1_quant', quantImatrix: 'q5_1_quant_imatrix', dequant: 'q5_1_dequant' },
  typeId: GGML_TYPE.Q5_1,
  layout:
    '32 weights per 24-byte block: an FP16 scale d and FP16 minimum m, 4 bytes of high bits, 16 bytes of low nibbles; 5-bit code q, weight = q·d + m.',
  quantizeRef,
  quantizeRowImatrix: (x, xOff, y, yOff, nPerRow, qw) =>
    imatrixRowAffine(31, TYPE_SIZE, true, x, xOff, y, yOff, nPerRow, qw),
  dequantizeRef: (src, dst, n) => dequantizeQ5(src, dst, n, TYPE_SIZE, 0, true),
});
