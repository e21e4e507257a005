// Q5_0: 32 weights per 22-byte block: FP16 scale d, 4 bytes qh holding the 5th bit of each code
// (bit j = weight j), then 16 bytes of low nibbles (low = weights 0..15, high = 16..31);
// weight = (q - 16)·d. Matches ggml's quantize_q5_0 / dequantize_row_q5_0 bit for bit.
import { GGML_TYPE } from '../ggml-types.js';
import {
  blockAbsMaxValue,
  dequantizeQ5,
  imatrixRowSymmetric,
  legacyCodec,
  q5Pair,
  storeFp16,
  storeU32,
} from './legacy-block.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 22;

/** quantize_row_q5_0_ref over n values: d = max/-16 from the value of largest magnitude. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    const max = blockAbsMaxValue(x, i);
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16(y, o, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // MIN(31, (int8_t)(x0 + 16.5f)) stored as uint8: low byte of the truncated int (see q4_0.ts)
      const q0 = ((fround(fround(x[i + j]! * id) + 16.5) | 0) << 24) >> 24;
      const q1 = ((fround(fround(x[i + j + 16]! * id) + 16.5) | 0) << 24) >> 24;
      qh |= q5Pair(y, o + 6, j, q0 > 31 ? 31 : q0, q1 > 31 ? 31 : q1);
    }
    storeU32(y, o + 2, qh);
  }
}

export const q5_0 = legacyCodec({
  name: 'Q5_0',
  kernels: { quant: 'q5_0_quant', quantImatrix: 'q5_0_quant_imatrix', dequant: 'q5_0_dequant' },
  typeId: GGML_TYPE.Q5_0,
  layout:
    '32 weights per 22-byte block: an FP16 scale d, 4 bytes of high bits, 16 bytes of low nibbles; 5-bit code q, weight = (q − 16)·d.',
  quantizeRef,
  quantizeRowImatrix: (x, xOff, y, yOff, nPerRow, qw) =>
    imatrixRowSymmetric(16, TYPE_SIZE, true, x, xOff, y, yOff, nPerRow, qw),
  dequantizeRef: (src, dst, n) => dequantizeQ5(src, dst, n, TYPE_SIZE, -16, false),
});
