// Q4_0: 32 weights per 18-byte block: FP16 scale d, then 16 bytes of 4-bit codes q (low nibbles =
// weights 0..15, high nibbles = 16..31); weight = (q - 8)·d. Matches ggml's quantize_q4_0 /
// dequantize_row_q4_0 bit for bit.
import { GGML_TYPE } from '../ggml-types.js';
import {
  blockAbsMaxValue,
  dequantizeNibbles,
  imatrixRowSymmetric,
  legacyCodec,
  nibblePair,
  storeFp16,
} from './legacy-block.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 18;

/** quantize_row_q4_0_ref over n values: scale from the value of largest magnitude, d = max/-8. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    const max = blockAbsMaxValue(x, i);
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16(y, o, d);
    for (let j = 0; j < 16; j++) {
      // MIN(15, (int8_t)(x0 + 8.5f)): truncate to int, keep the low byte signed (x86 cvttps2dq +
      // pack); NaN/overflow give 0x80000000 there and 0 here, the same low byte.
      const q0 = ((fround(fround(x[i + j]! * id) + 8.5) | 0) << 24) >> 24;
      const q1 = ((fround(fround(x[i + j + 16]! * id) + 8.5) | 0) << 24) >> 24;
      y[o + 2 + j] = nibblePair(q0 > 15 ? 15 : q0, q1 > 15 ? 15 : q1);
    }
  }
}

export const q4_0 = legacyCodec({
  name: 'Q4_0',
  kernels: { quant: 'q4_0_quant', quantImatrix: 'q4_0_quant_imatrix', dequant: 'q4_0_dequant' },
  typeId: GGML_TYPE.Q4_0,
  layout: '32 weights per 18-byte block: an FP16 scale d, then 16 bytes of 4-bit codes q; weight = (q − 8)·d.',
  quantizeRef,
  quantizeRowImatrix: (x, xOff, y, yOff, nPerRow, qw) =>
    imatrixRowSymmetric(8, TYPE_SIZE, false, x, xOff, y, yOff, nPerRow, qw),
  dequantizeRef: (src, dst, n) => dequantizeNibbles(src, dst, n, TYPE_SIZE, -8, false),
});
