// Q2_0 quantize: ggml's quantize_row_q2_0_ref over nb blocks of 64 floats → 18-byte blocks.
// amax skips NaN (C's `if (a > amax)`), id = 1/amax in float32 (0 for amax 0), p = w·id in
// float32, and the code clamp((int)roundf(p) + 1, 0, 3) as x86-64 computes it: roundf rounds
// halves away from zero, cvttss2si gives INT_MIN for NaN and |p| >= 2^31 (clamped to 0), so
// code = [p > -0.5] + [p >= 0.5] + [p >= 1.5] - 3·[p >= 2^31] (as ../ggml/q2_0.ts).
import { f32ToHalf, packBytes } from './common';

/** The four codes of the float32 vector v times id, as i32 lanes. */
// @ts-ignore: decorator
@inline function codes4(v: v128, id: v128): v128 {
  const p = f32x4.mul(v, id);
  const m1 = f32x4.gt(p, f32x4.splat(-0.5)), m2 = f32x4.ge(p, f32x4.splat(0.5));
  const m3 = f32x4.ge(p, f32x4.splat(1.5)), m4 = f32x4.ge(p, f32x4.splat(2147483648.0));
  return i32x4.sub(i32x4.sub(i32x4.sub(i32x4.add(m4, i32x4.add(m4, m4)), m1), m2), m3);
}

/** 16 codes (one per byte of b, in order) → 4 bytes of 4 codes each, in the low byte of each i32 lane. */
// @ts-ignore: decorator
@inline function fold(b: v128): v128 {
  return v128.or(v128.or(b, i32x4.shr_u(b, 6)), v128.or(i32x4.shr_u(b, 12), i32x4.shr_u(b, 18)));
}

// @ts-ignore: decorator
@inline function codes16(x: usize, id: v128): v128 {
  return packBytes(codes4(v128.load(x), id), codes4(v128.load(x, 16), id), codes4(v128.load(x, 32), id), codes4(v128.load(x, 48), id));
}

export function q2_0_quant(src: usize, dst: usize, nb: i32): void {
  const absm = i32x4.splat(0x7fffffff), inf = i32x4.splat(0x7f800000);
  for (let b = 0; b < nb; b++, src += 256, dst += 18) {
    let m = i32x4.splat(0);
    for (let j: usize = 0; j < 256; j += 16) {
      const a = v128.and(v128.load(src + j), absm);
      m = i32x4.max_s(m, v128.and(a, i32x4.le_s(a, inf))); // NaN lanes count as 0
    }
    m = i32x4.max_s(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    m = i32x4.max_s(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    const amax = f32x4.extract_lane(m, 0);
    store<u16>(dst, <u16>f32ToHalf(amax));
    const id = f32x4.splat(amax > 0 ? <f32>1 / amax : 0);
    v128.store(dst + 2, packBytes(fold(codes16(src, id)), fold(codes16(src + 64, id)), fold(codes16(src + 128, id)), fold(codes16(src + 192, id))));
  }
}
