// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 without an importance matrix: ggml's quantize_row_*_ref and
// dequantize_row_* over nb blocks of 32 floats at src → dst. Each block's scan runs on four
// lanes; wherever lane order could change ggml's answer (NaN, ±0 ties, ±Inf, equal ±amax) the
// block falls back to ggml's literal loop, as the TypeScript reference does.
import { cvtt, sext8, roundAway, f32ToHalf, halfToF32, packBytes } from './common';

const FLT_MAX: f32 = 3.4028234663852886e38;

// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  return max<f32>(max<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

// @ts-ignore: decorator
@inline function hmin(v: v128): f32 {
  return min<f32>(min<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), min<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** Largest value over the block's 32 floats (NaN if any is NaN). */
// @ts-ignore: decorator
@inline function blockMax(p: usize): f32 {
  let m = f32x4.max(v128.load(p), v128.load(p, 16));
  m = f32x4.max(m, f32x4.max(v128.load(p, 32), v128.load(p, 48)));
  m = f32x4.max(m, f32x4.max(v128.load(p, 64), v128.load(p, 80)));
  m = f32x4.max(m, f32x4.max(v128.load(p, 96), v128.load(p, 112)));
  return hmax(m);
}

// @ts-ignore: decorator
@inline function blockMin(p: usize): f32 {
  let m = f32x4.min(v128.load(p), v128.load(p, 16));
  m = f32x4.min(m, f32x4.min(v128.load(p, 32), v128.load(p, 48)));
  m = f32x4.min(m, f32x4.min(v128.load(p, 64), v128.load(p, 80)));
  m = f32x4.min(m, f32x4.min(v128.load(p, 96), v128.load(p, 112)));
  return hmin(m);
}

/** quantize_row_q8_0_ref's amax = MAX(amax, fabsf(v)) in order. */
function amaxLoop(p: usize): f32 {
  let amax: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const a = abs<f32>(load<f32>(p + (<usize>j << 2)));
    amax = amax > a ? amax : a;
  }
  return amax;
}

/** Q4_0/Q5_0's first value of largest magnitude, in order. */
function absMaxValueLoop(p: usize): f32 {
  let amax: f32 = 0;
  let mx: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(p + (<usize>j << 2));
    const a = abs<f32>(v);
    if (amax < a) { amax = a; mx = v; }
  }
  return mx;
}

// @ts-ignore: decorator
@inline function absMaxValue(p: usize): f32 {
  const hi = blockMax(p);
  const lo = blockMin(p);
  if (hi > -lo) return hi; // only values equal to hi have the largest magnitude
  if (-lo > hi) return lo;
  return absMaxValueLoop(p);
}

let gMin: f32 = 0;
let gMax: f32 = 0;

/** Q4_1/Q5_1's min/max from FLT_MAX/-FLT_MAX with strict compares, into gMin/gMax. */
// @ts-ignore: decorator
@inline function minMax(p: usize): void {
  let hi = blockMax(p);
  let lo = blockMin(p);
  if (!(lo > -Infinity && hi < Infinity) || lo == 0 || hi == 0) {
    lo = FLT_MAX;
    hi = -FLT_MAX;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(p + (<usize>j << 2));
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  gMin = lo;
  gMax = hi;
}

export function q8_0_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 128, dst += 34) {
    const m = f32x4.max(
      f32x4.max(f32x4.max(f32x4.abs(v128.load(src)), f32x4.abs(v128.load(src, 16))), f32x4.max(f32x4.abs(v128.load(src, 32)), f32x4.abs(v128.load(src, 48)))),
      f32x4.max(f32x4.max(f32x4.abs(v128.load(src, 64)), f32x4.abs(v128.load(src, 80))), f32x4.max(f32x4.abs(v128.load(src, 96)), f32x4.abs(v128.load(src, 112)))),
    );
    let amax = hmax(m);
    if (amax != amax) amax = amaxLoop(src);
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1 / d : 0; // C truthiness: NaN d gives NaN id
    store<u16>(dst, <u16>f32ToHalf(d));
    const vid = f32x4.splat(id);
    for (let k = 0; k < 2; k++) {
      const p = src + <usize>(k << 6);
      const a = cvtt(roundAway(f32x4.mul(v128.load(p), vid)));
      const bb = cvtt(roundAway(f32x4.mul(v128.load(p, 16), vid)));
      const c = cvtt(roundAway(f32x4.mul(v128.load(p, 32), vid)));
      const e = cvtt(roundAway(f32x4.mul(v128.load(p, 48), vid)));
      v128.store(dst + 2 + <usize>(k << 4), packBytes(a, bb, c, e));
    }
  }
}

// @ts-ignore: decorator
@inline function q4code(p: usize, off: usize, vid: v128, bias: v128, top: v128): v128 {
  return i32x4.min_s(sext8(cvtt(f32x4.add(f32x4.mul(v128.load(p + off), vid), bias))), top);
}

export function q4_0_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(8.5);
  const top = i32x4.splat(15);
  for (let b = 0; b < nb; b++, src += 128, dst += 18) {
    const mx = absMaxValue(src);
    const d: f32 = mx / <f32>-8;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(dst, <u16>f32ToHalf(d));
    const vid = f32x4.splat(id);
    const l0 = q4code(src, 0, vid, bias, top), l1 = q4code(src, 16, vid, bias, top);
    const l2 = q4code(src, 32, vid, bias, top), l3 = q4code(src, 48, vid, bias, top);
    const h0 = q4code(src, 64, vid, bias, top), h1 = q4code(src, 80, vid, bias, top);
    const h2 = q4code(src, 96, vid, bias, top), h3 = q4code(src, 112, vid, bias, top);
    // byte j = xi0 | (xi1 << 4), truncated to 8 bits: xi0 whole, xi1's low nibble on top
    const f = i32x4.splat(0xf0);
    v128.store(dst + 2, packBytes(
      v128.or(l0, v128.and(i32x4.shl(h0, 4), f)), v128.or(l1, v128.and(i32x4.shl(h1, 4), f)),
      v128.or(l2, v128.and(i32x4.shl(h2, 4), f)), v128.or(l3, v128.and(i32x4.shl(h3, 4), f)),
    ));
  }
}

// @ts-ignore: decorator
@inline function q41code(p: usize, off: usize, vmin: v128, vid: v128, bias: v128, top: v128): v128 {
  return i32x4.min_s(sext8(cvtt(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + off), vmin), vid), bias))), top);
}

export function q4_1_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(0.5);
  const top = i32x4.splat(15);
  for (let b = 0; b < nb; b++, src += 128, dst += 20) {
    minMax(src);
    const mn = gMin;
    const d: f32 = (gMax - mn) / <f32>15;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(dst, <u16>f32ToHalf(d));
    store<u16>(dst, <u16>f32ToHalf(mn), 2);
    const vid = f32x4.splat(id);
    const vmin = f32x4.splat(mn);
    const l0 = q41code(src, 0, vmin, vid, bias, top), l1 = q41code(src, 16, vmin, vid, bias, top);
    const l2 = q41code(src, 32, vmin, vid, bias, top), l3 = q41code(src, 48, vmin, vid, bias, top);
    const h0 = q41code(src, 64, vmin, vid, bias, top), h1 = q41code(src, 80, vmin, vid, bias, top);
    const h2 = q41code(src, 96, vmin, vid, bias, top), h3 = q41code(src, 112, vmin, vid, bias, top);
    const f = i32x4.splat(0xf0);
    v128.store(dst + 4, packBytes(
      v128.or(l0, v128.and(i32x4.shl(h0, 4), f)), v128.or(l1, v128.and(i32x4.shl(h1, 4), f)),
      v128.or(l2, v128.and(i32x4.shl(h2, 4), f)), v128.or(l3, v128.and(i32x4.shl(h3, 4), f)),
    ));
  }
}

/** Stores 16 nibble bytes (lo | hi << 4, low nibbles of each) at q, and returns qh: bit j =
 *  bit 4 of code j (codes 0..15 in lo, 16..31 in hi). */
// @ts-ignore: decorator
@inline export function storeQ5(q: usize, l0: v128, l1: v128, l2: v128, l3: v128, h0: v128, h1: v128, h2: v128, h3: v128): u32 {
  const lo = packBytes(l0, l1, l2, l3);
  const hi = packBytes(h0, h1, h2, h3);
  const nib = i8x16.splat(0x0f);
  v128.store(q, v128.or(v128.and(lo, nib), i8x16.shl(v128.and(hi, nib), 4)));
  // bit 4 of each byte to bit 7, then one bit per byte
  return <u32>i8x16.bitmask(i8x16.shl(lo, 3)) | (<u32>i8x16.bitmask(i8x16.shl(hi, 3)) << 16);
}

// @ts-ignore: decorator
@inline function q5code(p: usize, off: usize, vid: v128, bias: v128, top: v128): v128 {
  return i32x4.min_s(sext8(cvtt(f32x4.add(f32x4.mul(v128.load(p + off), vid), bias))), top);
}

export function q5_0_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(16.5);
  const top = i32x4.splat(31);
  for (let b = 0; b < nb; b++, src += 128, dst += 22) {
    const mx = absMaxValue(src);
    const d: f32 = mx / <f32>-16;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(dst, <u16>f32ToHalf(d));
    const vid = f32x4.splat(id);
    const qh = storeQ5(dst + 6,
      q5code(src, 0, vid, bias, top), q5code(src, 16, vid, bias, top), q5code(src, 32, vid, bias, top), q5code(src, 48, vid, bias, top),
      q5code(src, 64, vid, bias, top), q5code(src, 80, vid, bias, top), q5code(src, 96, vid, bias, top), q5code(src, 112, vid, bias, top));
    store<u32>(dst, qh, 2);
  }
}

// @ts-ignore: decorator
@inline function q51code(p: usize, off: usize, vmin: v128, vid: v128, bias: v128): v128 {
  return cvtt(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + off), vmin), vid), bias));
}

export function q5_1_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(0.5);
  for (let b = 0; b < nb; b++, src += 128, dst += 24) {
    minMax(src);
    const mn = gMin;
    const d: f32 = (gMax - mn) / <f32>31;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(dst, <u16>f32ToHalf(d));
    store<u16>(dst, <u16>f32ToHalf(mn), 2);
    const vid = f32x4.splat(id);
    const vmin = f32x4.splat(mn);
    const qh = storeQ5(dst + 8,
      q51code(src, 0, vmin, vid, bias), q51code(src, 16, vmin, vid, bias), q51code(src, 32, vmin, vid, bias), q51code(src, 48, vmin, vid, bias),
      q51code(src, 64, vmin, vid, bias), q51code(src, 80, vmin, vid, bias), q51code(src, 96, vmin, vid, bias), q51code(src, 112, vmin, vid, bias));
    store<u32>(dst, qh, 4);
  }
}

// ---- dequantizers: integer codes → f32 (exact), then ggml's one or two float ops ----

// @ts-ignore: decorator
@inline function store16(dst: usize, bytes: v128, vd: v128, bias: v128): void {
  // bytes: 16 unsigned codes; y = (q - bias)·d
  const w0 = i16x8.extend_low_i8x16_u(bytes);
  const w1 = i16x8.extend_high_i8x16_u(bytes);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extend_low_i16x8_u(w0), bias)), vd));
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extend_high_i16x8_u(w0), bias)), vd), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extend_low_i16x8_u(w1), bias)), vd), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extend_high_i16x8_u(w1), bias)), vd), 48);
}

// @ts-ignore: decorator
@inline function store16m(dst: usize, bytes: v128, vd: v128, vm: v128): void {
  // y = q·d + m (q·d is exact in float32, as in C)
  const w0 = i16x8.extend_low_i8x16_u(bytes);
  const w1 = i16x8.extend_high_i8x16_u(bytes);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(w0)), vd), vm));
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(w0)), vd), vm), 16);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(w1)), vd), vm), 32);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(w1)), vd), vm), 48);
}

export function q8_0_dequant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 34, dst += 128) {
    const vd = f32x4.splat(halfToF32(<u32>load<u16>(src)));
    for (let k = 0; k < 2; k++) {
      const q = v128.load(src + 2 + <usize>(k << 4));
      const w0 = i16x8.extend_low_i8x16_s(q);
      const w1 = i16x8.extend_high_i8x16_s(q);
      const o = dst + <usize>(k << 6);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), vd));
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), vd), 16);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), vd), 32);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), vd), 48);
    }
  }
}

export function q4_0_dequant(src: usize, dst: usize, nb: i32): void {
  const bias = i32x4.splat(8);
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 18, dst += 128) {
    const vd = f32x4.splat(halfToF32(<u32>load<u16>(src)));
    const q = v128.load(src + 2);
    store16(dst, v128.and(q, nib), vd, bias);
    store16(dst + 64, i8x16.shr_u(q, 4), vd, bias);
  }
}

export function q4_1_dequant(src: usize, dst: usize, nb: i32): void {
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 20, dst += 128) {
    const vd = f32x4.splat(halfToF32(<u32>load<u16>(src)));
    const vm = f32x4.splat(halfToF32(<u32>load<u16>(src, 2)));
    const q = v128.load(src + 4);
    store16m(dst, v128.and(q, nib), vd, vm);
    store16m(dst + 64, i8x16.shr_u(q, 4), vd, vm);
  }
}

/** 0x10 in byte j where bit j of the 16-bit mask m is set. */
// @ts-ignore: decorator
@inline function highBits(m: u32): v128 {
  const v = i8x16.swizzle(i16x8.splat(<i16>m), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const sel = v128.and(v, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  return v128.and(i8x16.ne(sel, i8x16.splat(0)), i8x16.splat(0x10));
}

export function q5_0_dequant(src: usize, dst: usize, nb: i32): void {
  const bias = i32x4.splat(16);
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 22, dst += 128) {
    const vd = f32x4.splat(halfToF32(<u32>load<u16>(src)));
    const qh = load<u32>(src, 2);
    const q = v128.load(src + 6);
    store16(dst, v128.or(v128.and(q, nib), highBits(qh & 0xffff)), vd, bias);
    store16(dst + 64, v128.or(i8x16.shr_u(q, 4), highBits(qh >>> 16)), vd, bias);
  }
}

export function q5_1_dequant(src: usize, dst: usize, nb: i32): void {
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 24, dst += 128) {
    const vd = f32x4.splat(halfToF32(<u32>load<u16>(src)));
    const vm = f32x4.splat(halfToF32(<u32>load<u16>(src, 2)));
    const qh = load<u32>(src, 4);
    const q = v128.load(src + 8);
    store16m(dst, v128.or(v128.and(q, nib), highBits(qh & 0xffff)), vd, vm);
    store16m(dst + 64, v128.or(i8x16.shr_u(q, 4), highBits(qh >>> 16)), vd, vm);
  }
}
