// Q4_0: 32 weights per 18-byte block: FP16 scale d, then 16 bytes of 4-bit codes q (low nibbles =
// weights 0..15, high nibbles = 16..31); weight = (q - 8)·d. Matches ggml's quantize_q4_0 /
// dequantize_row_q4_0 bit for bit.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { blockAbsMaxValue, blockWeights, checkDequantizeArgs, checkQuantizeArgs, rowSigma2, storeFp16 } from './legacy-block.js';
import { wasmBlocks, wasmRows } from '../wasm/kernels.js';
import { makeQxQuants } from './search.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 18;
const fround = Math.fround;
const weight = new Float32Array(QK);
const L = new Int8Array(QK);

/** quantize_row_q4_0_ref over n values: scale from the value of largest magnitude, d = max/-8. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  // imported functions bound locally: under tsx each use of an import goes through a getter
  const blockAbsMaxValue_ = blockAbsMaxValue;
  const storeFp16_ = storeFp16;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    const max = blockAbsMaxValue_(x, i);
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16_(y, o, d);
    for (let j = 0; j < 16; j++) {
      // (int8_t)(x0 + 8.5f): truncate to int, keep the low byte signed (x86 cvttps2dq + pack);
      // NaN/overflow give 0x80000000 there and 0 here, the same low byte.
      let q0 = ((fround(fround(x[i + j]! * id) + 8.5) | 0) << 24) >> 24;
      let q1 = ((fround(fround(x[i + j + 16]! * id) + 8.5) | 0) << 24) >> 24;
      if (q0 > 15) q0 = 15;
      if (q1 > 15) q1 = 15;
      y[o + 2 + j] = (q0 & 0xff) | (q1 << 4);
    }
  }
}

/** quantize_row_q4_0_impl with importance weights: make_qx_quants(32, 8, …, rmse_type 1). */
function quantizeRowImatrix(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += TYPE_SIZE) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQxQuants(QK, 8, x, xb, L, 0, 1, weight, 0);
    storeFp16(y, o, d);
    for (let j = 0; j < 16; j++) y[o + 2 + j] = L[j]! | (L[j + 16]! << 4);
  }
}

export const q4_0: BlockCodec = {
  name: 'Q4_0',
  type: ggmlTypeById(GGML_TYPE.Q4_0)!,
  usesImatrix: true,
  layout: '32 weights per 18-byte block: an FP16 scale d, then 16 bytes of 4-bit codes q; weight = (q − 8)·d.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantizeArgs('Q4_0', TYPE_SIZE, src, dst, nRows, nPerRow, imatrix);
    if (!imatrix) {
      const n = nRows * nPerRow;
      if (!wasmBlocks('q4_0_quant', src, dst, n / QK, QK * 4, TYPE_SIZE)) quantizeRef(src, dst, n);
      return;
    }
    const rowBytes = (nPerRow / QK) * TYPE_SIZE;
    if (wasmRows('q4_0_quant_imatrix', src, dst, nRows, nPerRow, rowBytes, imatrix)) return;
    for (let r = 0; r < nRows; r++) quantizeRowImatrix(src, r * nPerRow, dst, r * rowBytes, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    checkDequantizeArgs('Q4_0', TYPE_SIZE, src, dst, n);
    if (wasmBlocks('q4_0_dequant', src, dst, n / QK, TYPE_SIZE, QK * 4)) return;
    for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      for (let j = 0; j < 16; j++) {
        const b = src[o + 2 + j]!;
        dst[i + j] = ((b & 0x0f) - 8) * d;
        dst[i + j + 16] = ((b >>> 4) - 8) * d;
      }
    }
  },
};
