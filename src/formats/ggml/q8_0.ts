// Q8_0: 32 weights per 34-byte block: FP16 scale d, then 32 signed bytes q; weight = q·d.
// Matches ggml's quantize_q8_0 (which ignores any importance matrix) / dequantize_row_q8_0.
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { blockAmax, legacyCodec, storeFp16 } from './legacy-block.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 34;

/** quantize_row_q8_0_ref over n values: d = amax/127, q = roundf(x/d). */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    const amax = blockAmax(x, i);
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16(y, o, d);
    for (let j = 0; j < QK; j++) {
      const v = fround(x[i + j]! * id);
      // roundf (half away from zero) then the low byte of the int; x ± 0.5 is exact in double
      // for every float32 that can round to nonzero, and trunc(x ± 0.5) = roundf(x).
      y[o + 2 + j] = (v < 0 ? v - 0.5 : v + 0.5) | 0;
    }
  }
}

export const q8_0 = legacyCodec({
  name: 'Q8_0',
  kernels: { quant: 'q8_0_quant', dequant: 'q8_0_dequant' },
  typeId: GGML_TYPE.Q8_0,
  layout: '32 weights per 34-byte block: an FP16 scale d, then 32 signed bytes q; weight = q·d.',
  quantizeRef, // no quantizeRowImatrix: ggml's quantize_q8_0 ignores the imatrix
  dequantizeRef(src, dst, n) {
    for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      for (let j = 0; j < QK; j++) dst[i + j] = ((src[o + 2 + j]! << 24) >> 24) * d;
    }
  },
});
