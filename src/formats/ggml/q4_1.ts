// Q4_1: 32 weights per 20-byte block: FP16 scale d, FP16 minimum m, then 16 bytes of 4-bit codes q
// (low nibbles = weights 0..15, high = 16..31); weight = q·d + m. Matches ggml's quantize_q4_1 /
// dequantize_row_q4_1 bit for bit.
import { GGML_TYPE } from '../ggml-types.js';
import {
  blockMinMax,
  dequantizeNibbles,
  imatrixRowAffine,
  legacyCodec,
  nibblePair,
  storeFp16,
} from './legacy-block.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 20;
const minMax = new Float64Array(2);

/** quantize_row_q4_1_ref over n values: d = (max - min)/15, codes rounded by +0.5 truncation. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    blockMinMax(x, i, minMax);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16(y, o, d);
    storeFp16(y, o + 2, min);
    for (let j = 0; j < 16; j++) {
      // MIN(15, (int8_t)(x0 + 0.5f)): low byte of the truncated int, as signed (see q4_0.ts)
      const q0 = ((fround(fround(fround(x[i + j]! - min) * id) + 0.5) | 0) << 24) >> 24;
      const q1 = ((fround(fround(fround(x[i + j + 16]! - min) * id) + 0.5) | 0) << 24) >> 24;
      y[o + 4 + j] = nibblePair(q0 > 15 ? 15 : q0, q1 > 15 ? 15 : q1);
    }
  }
}

export const q4_1 = legacyCodec({
  name: 'Q4_1',
  kernels: { quant: 'q4_1_quant', quantImatrix: 'q4_1_quant_imatrix', dequant: 'q4_1_dequant' },
  typeId: GGML_TYPE.Q4_1,
  layout:
    '32 weights per 20-byte block: an FP16 scale d and FP16 minimum m, then 16 bytes of 4-bit codes q; weight = q·d + m.',
  quantizeRef,
  quantizeRowImatrix: (x, xOff, y, yOff, nPerRow, qw) =>
    imatrixRowAffine(15, TYPE_SIZE, false, x, xOff, y, yOff, nPerRow, qw),
  dequantizeRef: (src, dst, n) => dequantizeNibbles(src, dst, n, TYPE_SIZE, 0, true),
});
