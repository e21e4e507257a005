// F16/BF16 conversions over n values at src → dst (byte addresses in linear memory).
import { fp16x4, halfx4 } from './common';

/** ggml_fp32_to_fp16_row: n floats → n halves. */
export function f32_to_f16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = fp16x4(v128.load(src + (<usize>i << 2)));
    const b = fp16x4(v128.load(src + (<usize>i << 2), 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < n; i++) {
    const h = fp16x4(v128.load32_zero(src + (<usize>i << 2)));
    v128.store16_lane(dst + (<usize>i << 1), h, 0);
  }
}

/** ggml_fp32_to_bf16_row: round to nearest even; NaN → quiet NaN of the top half. */
// @ts-ignore: decorator
@inline function bf16x4(u: v128): v128 {
  const nan = v128.and(v128.or(i32x4.shr_u(u, 16), i32x4.splat(64)), i32x4.splat(0xffff));
  const r = i32x4.shr_u(i32x4.add(u, i32x4.add(i32x4.splat(0x7fff), v128.and(i32x4.shr_u(u, 16), i32x4.splat(1)))), 16);
  return v128.bitselect(nan, r, i32x4.gt_s(v128.and(u, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000)));
}

export function f32_to_bf16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = bf16x4(v128.load(src + (<usize>i << 2)));
    const b = bf16x4(v128.load(src + (<usize>i << 2), 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < n; i++) {
    v128.store16_lane(dst + (<usize>i << 1), bf16x4(v128.load32_zero(src + (<usize>i << 2))), 0);
  }
}

/** ggml_fp16_to_fp32_row, through bit patterns (NaN payloads kept). */
export function f16_to_f32(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), halfx4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (<usize>i << 2), halfx4(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < n; i++) {
    const h = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)));
    v128.store32_lane(dst + (<usize>i << 2), halfx4(h), 0);
  }
}

/** bf16 → float: the top half of the float's bits. */
export function bf16_to_f32(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) {
    store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
  }
}

/** 1 when any of the n floats at src is NaN or ±Inf (exponent all ones), else 0. The pipeline runs
 *  this on each window a quantize kernel is about to read, while it is in cache: the input check
 *  then costs a fraction of a separate pass over the model. */
export function f32_any_nonfinite(src: usize, n: i32): i32 {
  const e = i32x4.splat(0x7f800000);
  let acc = i32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    acc = v128.or(acc, v128.or(
      v128.or(i32x4.eq(v128.and(v128.load(p), e), e), i32x4.eq(v128.and(v128.load(p, 16), e), e)),
      v128.or(i32x4.eq(v128.and(v128.load(p, 32), e), e), i32x4.eq(v128.and(v128.load(p, 48), e), e)),
    ));
  }
  for (; i < n; i++) {
    if ((load<u32>(src + (<usize>i << 2)) & 0x7f800000) == 0x7f800000) return 1;
  }
  return v128.any_true(acc) ? 1 : 0;
}
