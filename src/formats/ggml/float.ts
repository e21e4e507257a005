// F32, F16 and BF16 as ggml stores them (block size 1). F16/BF16 use ggml's rounding (half.ts).
import type { BlockCodec } from '../codec.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { bf16ToFp32, fp16Table, fp32ToBf16, fp32ToFp16 } from '../half.js';

function u16view(b: Uint8Array, n: number): Uint16Array | null {
  return b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, n) : null;
}

export const f32: BlockCodec = {
  name: 'F32',
  type: ggmlTypeById(GGML_TYPE.F32)!,
  usesImatrix: false,
  layout: '32-bit IEEE float per weight, no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    const n = nRows * nPerRow;
    new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(new Uint8Array(src.buffer, src.byteOffset, n * 4));
  },
  dequantize(src, dst, n) {
    new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(src.subarray(0, n * 4));
  },
};

export const f16: BlockCodec = {
  name: 'F16',
  type: ggmlTypeById(GGML_TYPE.F16)!,
  usesImatrix: false,
  layout: '16-bit IEEE half float per weight (1 sign, 5 exponent, 10 mantissa bits), no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    const n = nRows * nPerRow;
    const v = u16view(dst, n);
    if (v) for (let i = 0; i < n; i++) v[i] = fp32ToFp16(src[i]!);
    else for (let i = 0; i < n; i++) { const h = fp32ToFp16(src[i]!); dst[2 * i] = h & 255; dst[2 * i + 1] = h >>> 8; }
  },
  dequantize(src, dst, n) {
    const v = u16view(src, n);
    if (v) for (let i = 0; i < n; i++) dst[i] = fp16Table[v[i]!]!;
    else for (let i = 0; i < n; i++) dst[i] = fp16Table[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
  },
};

export const bf16: BlockCodec = {
  name: 'BF16',
  type: ggmlTypeById(GGML_TYPE.BF16)!,
  usesImatrix: false,
  layout: '16-bit brain float per weight (the top half of a float32: 8 exponent, 7 mantissa bits), no blocks.',
  quantize(src, dst, nRows, nPerRow) {
    const n = nRows * nPerRow;
    for (let i = 0; i < n; i++) { const h = fp32ToBf16(src[i]!); dst[2 * i] = h & 255; dst[2 * i + 1] = h >>> 8; }
  },
  dequantize(src, dst, n) {
    for (let i = 0; i < n; i++) dst[i] = bf16ToFp32(src[2 * i]! | (src[2 * i + 1]! << 8));
  },
};
