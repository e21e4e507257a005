// Q5_0: 32 weights per 22-byte block: FP16 scale d, 4 bytes qh holding the 5th bit of each code
// (bit j = weight j), then 16 bytes of low nibbles (low = weights 0..15, high = 16..31);
// weight = (q - 16)·d. Matches ggml's quantize_q5_0 / dequantize_row_q5_0 bit for bit.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { blockAbsMaxValue, blockWeights, checkDequantizeArgs, checkQuantizeArgs, rowSigma2, storeFp16 } from './legacy-block.js';
import { wasmBlocks, wasmRows } from '../wasm/kernels.js';
import { makeQxQuants } from './search.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 22;
const fround = Math.fround;
const weight = new Float32Array(QK);
const L = new Int8Array(QK);

function storeU32(y: Uint8Array, o: number, v: number): void {
  y[o] = v;
  y[o + 1] = v >>> 8;
  y[o + 2] = v >>> 16;
  y[o + 3] = v >>> 24;
}

/** quantize_row_q5_0_ref over n values: d = max/-16 from the value of largest magnitude. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  // imported functions bound locally: under tsx each use of an import goes through a getter
  const blockAbsMaxValue_ = blockAbsMaxValue;
  const storeFp16_ = storeFp16;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    const max = blockAbsMaxValue_(x, i);
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16_(y, o, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // MIN(31, (int8_t)(x0 + 16.5f)) stored as uint8: low byte of the truncated int (see q4_0.ts)
      let q0 = ((fround(fround(x[i + j]! * id) + 16.5) | 0) << 24) >> 24;
      let q1 = ((fround(fround(x[i + j + 16]! * id) + 16.5) | 0) << 24) >> 24;
      if (q0 > 31) q0 = 31;
      if (q1 > 31) q1 = 31;
      y[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= (((q0 & 0x10) >>> 4) << j) | (((q1 & 0x10) >>> 4) << (j + 16));
    }
    storeU32(y, o + 2, qh);
  }
}

/** quantize_row_q5_0_impl: make_qx_quants(32, 16, …, rmse_type 1, weights) per block. */
function quantizeRowImatrix(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += TYPE_SIZE) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQxQuants(QK, 16, x, xb, L, 0, 1, weight, 0);
    storeFp16(y, o, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = L[j]!;
      const q1 = L[j + 16]!;
      y[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= (((q0 & 0x10) >>> 4) << j) | (((q1 & 0x10) >>> 4) << (j + 16));
    }
    storeU32(y, o + 2, qh);
  }
}

export const q5_0: BlockCodec = {
  name: 'Q5_0',
  type: ggmlTypeById(GGML_TYPE.Q5_0)!,
  usesImatrix: true,
  layout: '32 weights per 22-byte block: an FP16 scale d, 4 bytes of high bits, 16 bytes of low nibbles; 5-bit code q, weight = (q − 16)·d.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantizeArgs('Q5_0', TYPE_SIZE, src, dst, nRows, nPerRow, imatrix);
    if (!imatrix) {
      const n = nRows * nPerRow;
      if (!wasmBlocks('q5_0_quant', src, dst, n / QK, QK * 4, TYPE_SIZE)) quantizeRef(src, dst, n);
      return;
    }
    const rowBytes = (nPerRow / QK) * TYPE_SIZE;
    if (wasmRows('q5_0_quant_imatrix', src, dst, nRows, nPerRow, rowBytes, imatrix)) return;
    for (let r = 0; r < nRows; r++) quantizeRowImatrix(src, r * nPerRow, dst, r * rowBytes, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    checkDequantizeArgs('Q5_0', TYPE_SIZE, src, dst, n);
    if (wasmBlocks('q5_0_dequant', src, dst, n / QK, TYPE_SIZE, QK * 4)) return;
    for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      const qh = src[o + 2]! | (src[o + 3]! << 8) | (src[o + 4]! << 16) | (src[o + 5]! << 24);
      for (let j = 0; j < 16; j++) {
        const b = src[o + 6 + j]!;
        dst[i + j] = (((b & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
        dst[i + j + 16] = (((b >>> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
      }
    }
  },
};
