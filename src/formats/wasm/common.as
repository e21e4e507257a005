// Shared lane helpers of the kernels (AssemblyScript; compiled by scripts/build-wasm.mjs).
// Every f32 op here is one IEEE single-precision op, which is what ggml's C does without
// -ffast-math; the helpers reproduce C's conversions that WebAssembly does differently.

/** C's (int)x on x86 (cvttps2dq): truncate; NaN and out-of-range give 0x80000000. We only ever
 *  keep the low byte of the result, which is 0 for every such lane, so those lanes become 0. */
// @ts-ignore: decorator
@inline export function cvtt(v: v128): v128 {
  return v128.and(i32x4.trunc_sat_f32x4_s(v), f32x4.lt(f32x4.abs(v), f32x4.splat(2147483648.0)));
}

/** (int8_t) of an int: sign-extend the low byte. */
// @ts-ignore: decorator
@inline export function sext8(v: v128): v128 {
  return i32x4.shr_s(i32x4.shl(v, 24), 24);
}

/** roundf (half away from zero), exact: trunc plus a signed 1 when the dropped fraction is ≥ ½.
 *  v - trunc(v) is exact in float32; NaN/Inf lanes stay NaN/Inf. */
// @ts-ignore: decorator
@inline export function roundAway(v: v128): v128 {
  const t = f32x4.trunc(v);
  const fr = f32x4.abs(f32x4.sub(v, t));
  const one = v128.or(f32x4.splat(1.0), v128.and(v, i32x4.splat(0x80000000)));
  return f32x4.add(t, v128.and(one, f32x4.ge(fr, f32x4.splat(0.5))));
}

/** ggml_compute_fp32_to_fp16 on four float32 bit patterns (integer round-to-nearest-even for
 *  normal halves; subnormal halves by adding 0.5f, whose ulp 2^-24 is the half subnormal step,
 *  so the FPU's own round-to-nearest-even does the rounding). Result lanes hold 0..0xffff. */
// @ts-ignore: decorator
@inline export function fp16x4(x: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const sign = v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
  const lsb = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const normal = i32x4.sub(i32x4.shr_u(i32x4.add(i32x4.add(a, i32x4.splat(0xfff)), lsb), 13), i32x4.splat(0x1c000));
  const sub = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  const inf = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), i32x4.gt_s(a, i32x4.splat(0x7f800000)));
  let r = v128.bitselect(normal, sub, i32x4.ge_s(a, i32x4.splat(0x38800000)));
  r = v128.bitselect(inf, r, i32x4.ge_s(a, i32x4.splat(0x477ff000)));
  return v128.or(r, sign);
}

/** FP16 bits (lanes 0..0xffff) → float32 bits, exactly as half.ts's table (NaN payloads kept). */
// @ts-ignore: decorator
@inline export function halfx4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  let o = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const e = v128.and(o, i32x4.splat(0x0f800000));
  o = i32x4.add(o, i32x4.splat(0x38000000));
  o = i32x4.add(o, v128.and(i32x4.splat(0x38000000), i32x4.eq(e, i32x4.splat(0x0f800000))));
  // subnormal half: m·2^-24 as (2^-14 + m·2^-24) - 2^-14, exact
  const sub = f32x4.sub(i32x4.add(o, i32x4.splat(0x00800000)), i32x4.splat(113 << 23));
  o = v128.bitselect(sub, o, i32x4.eq(e, i32x4.splat(0)));
  return v128.or(o, sign);
}

/** Scalar FP16 → float, through the lane version (scales of blocks). */
// @ts-ignore: decorator
@inline export function halfToF32(h: u32): f32 {
  return f32x4.extract_lane(halfx4(i32x4.splat(h)), 0);
}

/** Scalar float → FP16 bits. */
// @ts-ignore: decorator
@inline export function f32ToHalf(x: f32): u32 {
  return <u32>i32x4.extract_lane(fp16x4(f32x4.splat(x)), 0);
}

/** Low bytes of 16 i32 lanes (four vectors) packed into one byte vector. */
// @ts-ignore: decorator
@inline export function packBytes(a: v128, b: v128, c: v128, d: v128): v128 {
  const m = i32x4.splat(0xff);
  return i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_u(v128.and(a, m), v128.and(b, m)),
    i16x8.narrow_i32x4_u(v128.and(c, m), v128.and(d, m)),
  );
}
