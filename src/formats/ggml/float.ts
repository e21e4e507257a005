// F32, F16 and BF16 as ggml stores them (block size 1). F16/BF16 use ggml's rounding (half.ts).
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16BitsTable, fp32BitsToBf16, fp32BitsToFp16 } from '../half.js';

function u16view(b: Uint8Array, n: number): Uint16Array | null {
  return b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, n) : null;
}

function u32bits(src: Float32Array, n: number): Uint32Array {
  return new Uint32Array(src.buffer, src.byteOffset, n);
}

// One loop per format (not a shared loop over a callback) keeps each call site monomorphic, so the
// conversion inlines; these loops are the F16/BF16 hot paths.
function toF16(src: Float32Array, dst: Uint8Array, n: number): void {
  const x = u32bits(src, n);
  const v = u16view(dst, n);
  if (v) for (let i = 0; i < n; i++) v[i] = fp32BitsToFp16(x[i]!);
  else
    for (let i = 0; i < n; i++) {
      const h = fp32BitsToFp16(x[i]!);
      dst[2 * i] = h & 255;
      dst[2 * i + 1] = h >>> 8;
    }
}

function toBf16(src: Float32Array, dst: Uint8Array, n: number): void {
  const x = u32bits(src, n);
  const v = u16view(dst, n);
  if (v) for (let i = 0; i < n; i++) v[i] = fp32BitsToBf16(x[i]!);
  else
    for (let i = 0; i < n; i++) {
      const h = fp32BitsToBf16(x[i]!);
      dst[2 * i] = h & 255;
      dst[2 * i + 1] = h >>> 8;
    }
}

export const f32 = defineCodec({
  name: 'F32',
  typeId: GGML_TYPE.F32,
  imatrix: 'ignored',
  layout: '32-bit IEEE float per weight, no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    const n = nRows * nPerRow;
    new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(new Uint8Array(src.buffer, src.byteOffset, n * 4));
  },
  dequantize(src, dst, n) {
    new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(src.subarray(0, n * 4));
  },
});

export const f16 = defineCodec({
  name: 'F16',
  typeId: GGML_TYPE.F16,
  imatrix: 'ignored',
  kernels: { quant: 'f32_to_f16', dequant: 'f16_to_f32' },
  layout: '16-bit IEEE half float per weight (1 sign, 5 exponent, 10 mantissa bits), no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    toF16(src, dst, nRows * nPerRow);
  },
  dequantize(src, dst, n) {
    // through bit patterns, so NaN payloads survive exactly as in ggml
    const y = new Uint32Array(dst.buffer, dst.byteOffset, n);
    const v = u16view(src, n);
    if (v) for (let i = 0; i < n; i++) y[i] = fp16BitsTable[v[i]!]!;
    else for (let i = 0; i < n; i++) y[i] = fp16BitsTable[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
  },
});

export const bf16 = defineCodec({
  name: 'BF16',
  typeId: GGML_TYPE.BF16,
  imatrix: 'ignored',
  kernels: { quant: 'f32_to_bf16', dequant: 'bf16_to_f32' },
  layout: '16-bit brain float per weight (the top half of a float32: 8 exponent, 7 mantissa bits), no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    toBf16(src, dst, nRows * nPerRow);
  },
  dequantize(src, dst, n) {
    // a bf16 is the top half of a float32: shift into place
    const y = new Uint32Array(dst.buffer, dst.byteOffset, n);
    const v = u16view(src, n);
    if (v) for (let i = 0; i < n; i++) y[i] = v[i]! << 16;
    else for (let i = 0; i < n; i++) y[i] = ((src[2 * i]! | (src[2 * i + 1]! << 8)) << 16) >>> 0;
  },
});
