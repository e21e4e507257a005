// ggml's E8M0 scale byte (an unbiased power of two, as MXFP4 stores it) to float32, bit for bit
// as ggml-impl.h's ggml_e8m0_to_fp32 / ggml_e8m0_to_fp32_half. 0 is 2^-127 (a denormal), not zero;
// 255 would be NaN in the OCP spec but ggml does not special-case it (it gives +Inf here).
import { f32FromBits } from './half.js';

/** ggml_e8m0_to_fp32: 2^(x-127). */
export function e8m0ToFp32(x: number): number {
  return f32FromBits(x === 0 ? 0x00400000 : (x & 0xff) << 23);
}

/** ggml_e8m0_to_fp32_half: 2^(x-128), the MXFP4 scale (its E2M1 values are stored doubled). */
export function e8m0ToFp32Half(x: number): number {
  x &= 0xff;
  return f32FromBits(x < 2 ? 0x00200000 << x : (x - 1) << 23);
}

/** All 256 half-scales, for hot loops. */
export const e8m0HalfTable: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = e8m0ToFp32Half(i);
  return t;
})();
