// Q2_0 quantize: ggml's quantize_row_q2_0_ref over nb blocks of 64 floats → 18-byte blocks.
// amax skips NaN (C's `if (a > amax)`), id = 1/amax in float32 (0 for amax 0), p = w·id in
// float32, and the code clamp((int)roundf(p) + 1, 0, 3) as x86-64 computes it: roundf rounds
// halves away from zero, cvttss2si gives INT_MIN for NaN and |p| >= 2^31 (clamped to 0), so
// code = [p > -0.5] + [p >= 0.5] + [p >= 1.5] - 3·[p >= 2^31] (as ../ggml/q2_0.ts).
import { f32ToHalf, halfToF32, packBytes } from './common';

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

/** Bytes 4m..4m+3 of the code vector v (codes of four weights) as four f32 lanes of lut. */
// @ts-ignore: decorator
@inline function look4(lut: v128, idx: v128): v128 {
  // code c picks lut bytes 4c..4c+3
  return i8x16.swizzle(lut, i8x16.add(i8x16.shl(idx, 2), i8x16(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)));
}

/** 16 codes (weights in order) → 16 floats at dst. */
// @ts-ignore: decorator
@inline function emit16(dst: usize, v: v128, lut: v128): void {
  v128.store(dst, look4(lut, i8x16.shuffle(v, v, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
  v128.store(dst, look4(lut, i8x16.shuffle(v, v, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)), 16);
  v128.store(dst, look4(lut, i8x16.shuffle(v, v, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)), 32);
  v128.store(dst, look4(lut, i8x16.shuffle(v, v, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)), 48);
}

/**
 * Q2_0 dequantize (ggml's dequantize_row_q2_0): weight j of a block is ((int)code - 1)·d in
 * float32, i.e. one of -d, 0·d, d, 2·d: a four-entry table per block, looked up with a byte
 * swizzle. A NaN d makes every weight that NaN, quieted; an infinite d makes 0·d x86's default NaN
 * (as ../ggml/q2_0.ts).
 */
export function q2_0_dequant(src: usize, dst: usize, nb: i32): void {
  const three = i8x16.splat(3);
  for (let b = 0; b < nb; b++, src += 18, dst += 256) {
    const d = halfToF32(<u32>load<u16>(src));
    const db = reinterpret<i32>(d);
    let lut: v128;
    if ((db & 0x7fffffff) > 0x7f800000) {
      lut = i32x4.splat(db | 0x400000);
    } else {
      lut = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(-d), 1, <f32>0 * d), 2, d), 3, <f32>2 * d);
      if ((db & 0x7fffffff) == 0x7f800000) lut = i32x4.replace_lane(lut, 1, 0xffc00000);
    }
    const q = v128.load(src + 2);
    const c0 = v128.and(q, three), c1 = v128.and(i8x16.shr_u(q, 2), three);
    const c2 = v128.and(i8x16.shr_u(q, 4), three), c3 = i8x16.shr_u(q, 6);
    // weight 4i+k of the block has code ck[i]: interleave the four code vectors byte by byte
    const a01 = i8x16.shuffle(c0, c1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const b01 = i8x16.shuffle(c0, c1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const a23 = i8x16.shuffle(c2, c3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const b23 = i8x16.shuffle(c2, c3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    emit16(dst, i8x16.shuffle(a01, a23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), lut);
    emit16(dst + 64, i8x16.shuffle(a01, a23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), lut);
    emit16(dst + 128, i8x16.shuffle(b01, b23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), lut);
    emit16(dst + 192, i8x16.shuffle(b01, b23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), lut);
  }
}
