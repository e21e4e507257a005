// Q4_1: 32 weights per 20-byte block: FP16 scale d, FP16 minimum m, then 16 bytes of 4-bit codes q
// (low nibbles = weights 0..15, high = 16..31); weight = q·d + m. Matches ggml's quantize_q4_1 /
// dequantize_row_q4_1 bit for bit.
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table } from '../half.js';
import { blockMinMax, blockWeights, checkDequantizeArgs, checkQuantizeArgs, rowSigma2, storeFp16 } from './legacy-block.js';
import { wasmBlocks, wasmRows } from '../wasm/kernels.js';
import { makeQkx3Quants } from './search.js';

const QK = 32; // local, not imported: an imported binding in a hot loop costs a module-cell load per use
const TYPE_SIZE = 20;
const minMax = new Float64Array(2);
const fround = Math.fround;
const weight = new Float32Array(QK);
const L = new Uint8Array(QK);
const Laux = new Uint8Array(QK);
const theMin = new Float32Array(1);

/** quantize_row_q4_1_ref over n values: d = (max - min)/15, codes rounded by +0.5 truncation. */
function quantizeRef(x: Float32Array, y: Uint8Array, n: number): void {
  const fround = Math.fround;
  // imported functions bound locally: under tsx each use of an import goes through a getter
  const blockMinMax_ = blockMinMax;
  const storeFp16_ = storeFp16;
  for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
    blockMinMax_(x, i, minMax);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0; // C truthiness: a NaN d gives a NaN id
    storeFp16_(y, o, d);
    storeFp16_(y, o + 2, min);
    for (let j = 0; j < 16; j++) {
      // MIN(15, (int8_t)(x0 + 0.5f)): low byte of the truncated int, as signed (see q4_0.ts)
      let q0 = ((fround(fround(fround(x[i + j]! - min) * id) + 0.5) | 0) << 24) >> 24;
      let q1 = ((fround(fround(fround(x[i + j + 16]! - min) * id) + 0.5) | 0) << 24) >> 24;
      if (q0 > 15) q0 = 15;
      if (q1 > 15) q1 = 15;
      y[o + 4 + j] = (q0 & 0xff) | (q1 << 4);
    }
  }
}

/** quantize_row_q4_1_impl: make_qkx3_quants(32, 15, …, -0.9f, 0.05f, 36, false) per block. */
function quantizeRowImatrix(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xOff, nPerRow);
  for (let ib = 0, o = yOff; ib < nPerRow / QK; ib++, o += TYPE_SIZE) {
    const xb = xOff + ib * QK;
    blockWeights(x, xb, qw, ib * QK, sigma2, weight);
    const d = makeQkx3Quants(QK, 15, x, xb, weight, 0, L, 0, theMin, 0, Laux, 0, -0.9, 0.05, 36, false);
    storeFp16(y, o, d);
    storeFp16(y, o + 2, -theMin[0]!);
    for (let j = 0; j < 16; j++) y[o + 4 + j] = L[j]! | (L[j + 16]! << 4);
  }
}

export const q4_1: BlockCodec = {
  name: 'Q4_1',
  type: ggmlTypeById(GGML_TYPE.Q4_1)!,
  usesImatrix: true,
  layout: '32 weights per 20-byte block: an FP16 scale d and FP16 minimum m, then 16 bytes of 4-bit codes q; weight = q·d + m.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantizeArgs('Q4_1', TYPE_SIZE, src, dst, nRows, nPerRow, imatrix);
    if (!imatrix) {
      const n = nRows * nPerRow;
      if (!wasmBlocks('q4_1_quant', src, dst, n / QK, QK * 4, TYPE_SIZE)) quantizeRef(src, dst, n);
      return;
    }
    const rowBytes = (nPerRow / QK) * TYPE_SIZE;
    if (wasmRows('q4_1_quant_imatrix', src, dst, nRows, nPerRow, rowBytes, imatrix)) return;
    for (let r = 0; r < nRows; r++) quantizeRowImatrix(src, r * nPerRow, dst, r * rowBytes, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    checkDequantizeArgs('Q4_1', TYPE_SIZE, src, dst, n);
    if (wasmBlocks('q4_1_dequant', src, dst, n / QK, TYPE_SIZE, QK * 4)) return;
    for (let i = 0, o = 0; i < n; i += QK, o += TYPE_SIZE) {
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      const m = fp16Table[src[o + 2]! | (src[o + 3]! << 8)]!;
      for (let j = 0; j < 16; j++) {
        const b = src[o + 4 + j]!;
        // q·d is exact in double; the one rounding of (q·d + m) to float32 equals C's two float ops
        // because q·d is also exact in float32.
        dst[i + j] = (b & 0x0f) * d + m;
        dst[i + j + 16] = (b >>> 4) * d + m;
      }
    }
  },
};
