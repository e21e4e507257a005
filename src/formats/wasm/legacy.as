// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 without an importance matrix: ggml's quantize_row_*_ref and
// dequantize_row_* over nb blocks of 32 floats at src → dst. Each block's scan runs on four
// lanes; wherever lane order could change ggml's answer (NaN, ±0 ties, ±Inf, equal ±amax) the
// block falls back to ggml's literal loop, as the TypeScript reference does. Blocks with a tame
// scale (the usual case) convert codes by truncation plus a magic add; the others follow C's
// (int) conversion rules lane by lane.
import { cvtt, sext8, roundAway, f32ToHalf, fp16x4, halfToF32, packBytes } from './common';

const FLT_MAX: f32 = 3.4028234663852886e38;
const FLT_MIN: f32 = 1.17549435e-38;

// Block scans with pmin/pmax (one instruction each, unlike min/max's IEEE NaN and ±0 handling);
// NaN is looked for separately, and ±0 results go to the literal loops, so the values found are
// exactly ggml's.

let gLo: f32 = 0;
let gHi: f32 = 0;

/** Smallest and largest of the block's 32 floats into gLo/gHi; true when any is NaN (or the
 *  block's lane sums overflow: a false alarm that only costs the slow path). */
// @ts-ignore: decorator
@inline function scan(p: usize): bool {
  const a = v128.load(p), b = v128.load(p, 16), c = v128.load(p, 32), d = v128.load(p, 48);
  const e = v128.load(p, 64), f = v128.load(p, 80), g = v128.load(p, 96), h = v128.load(p, 112);
  let hi = f32x4.pmax(f32x4.pmax(f32x4.pmax(a, b), f32x4.pmax(c, d)), f32x4.pmax(f32x4.pmax(e, f), f32x4.pmax(g, h)));
  let lo = f32x4.pmin(f32x4.pmin(f32x4.pmin(a, b), f32x4.pmin(c, d)), f32x4.pmin(f32x4.pmin(e, f), f32x4.pmin(g, h)));
  // any NaN makes the lane sums NaN (so does Inf - Inf or an overflow to ±Inf: those blocks just
  // take the literal loops, which are right for every input)
  const sum = f32x4.add(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)), f32x4.add(f32x4.add(e, f), f32x4.add(g, h)));
  const nan = f32x4.ne(sum, sum);
  hi = f32x4.pmax(hi, i32x4.shuffle(hi, hi, 2, 3, 0, 1));
  hi = f32x4.pmax(hi, i32x4.shuffle(hi, hi, 1, 0, 3, 2));
  lo = f32x4.pmin(lo, i32x4.shuffle(lo, lo, 2, 3, 0, 1));
  lo = f32x4.pmin(lo, i32x4.shuffle(lo, lo, 1, 0, 3, 2));
  gHi = f32x4.extract_lane(hi, 0);
  gLo = f32x4.extract_lane(lo, 0);
  return v128.any_true(nan);
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

let gExact: bool = false; // the block took a literal loop: use the exact code conversion

// @ts-ignore: decorator
@inline function absMaxValue(p: usize): f32 {
  const nan = scan(p);
  const hi = gHi, lo = gLo;
  gExact = false;
  if (!nan) {
    if (hi > -lo) return hi; // only values equal to hi have the largest magnitude
    if (-lo > hi) return lo;
  }
  gExact = true;
  return absMaxValueLoop(p);
}

/** Q4_1/Q5_1's min/max from FLT_MAX/-FLT_MAX with strict compares, into gLo/gHi. */
// @ts-ignore: decorator
@inline function minMax(p: usize): void {
  const nan = scan(p);
  gExact = false;
  if (nan || !(gLo > -Infinity && gHi < Infinity) || gLo == 0 || gHi == 0) {
    gExact = true;
    let lo = FLT_MAX;
    let hi = -FLT_MAX;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(p + (<usize>j << 2));
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    gLo = lo;
    gHi = hi;
  }
}

/** A scale whose codes are provably small: |d| zero or a normal float. Then every code value
 *  before conversion lies well inside (-128, 128) (x·(1/d) is within a few ulps of its ideal
 *  ±nmax range), so C's (int8_t)(int) cast is a plain truncation and the cheap path is exact. */
// @ts-ignore: decorator
@inline function tame(d: f32): bool {
  const a = abs<f32>(d);
  return a == 0 || (a >= FLT_MIN && a <= FLT_MAX);
}

/** Truncation of lanes known to be in [0, 2^22): trunc, then add 1.5·2^23 so the integer sits in
 *  the low mantissa bits; the low byte is then the code's low byte (all that is stored). */
// @ts-ignore: decorator
@inline function truncLow(v: v128): v128 {
  return f32x4.add(f32x4.trunc(v), f32x4.splat(12582912.0));
}

/** Q8_0's 32 codes at q for a tame scale: |x·id| ≤ 127 (+ulps), so roundf, then the integer's low
 *  byte via 1.5·2^23 (also for negatives). */
// @ts-ignore: decorator
@inline function q8_0_codes(src: usize, q: usize, vid: v128): void {
  const m = f32x4.splat(12582912.0);
  for (let k = 0; k < 2; k++) {
    const p = src + <usize>(k << 6);
    v128.store(q + <usize>(k << 4), packBytes(
      f32x4.add(roundAway(f32x4.mul(v128.load(p), vid)), m), f32x4.add(roundAway(f32x4.mul(v128.load(p, 16), vid)), m),
      f32x4.add(roundAway(f32x4.mul(v128.load(p, 32), vid)), m), f32x4.add(roundAway(f32x4.mul(v128.load(p, 48), vid)), m),
    ));
  }
}

/** One Q8_0 block by the scan above (any input). */
// @ts-ignore: decorator
@inline function q8_0_block(src: usize, dst: usize): void {
  const nan = scan(src);
  let amax = max<f32>(gHi, -gLo);
  if (nan) amax = amaxLoop(src);
  const d: f32 = amax / <f32>127;
  const id: f32 = d != 0 ? <f32>1 / d : 0; // C truthiness: NaN d gives NaN id
  store<u16>(dst, <u16>f32ToHalf(d));
  const vid = f32x4.splat(id);
  if (!nan && tame(d)) {
    q8_0_codes(src, dst + 2, vid);
    return;
  }
  for (let k = 0; k < 2; k++) {
    const p = src + <usize>(k << 6);
    const a = cvtt(roundAway(f32x4.mul(v128.load(p), vid)));
    const bb = cvtt(roundAway(f32x4.mul(v128.load(p, 16), vid)));
    const c = cvtt(roundAway(f32x4.mul(v128.load(p, 32), vid)));
    const e = cvtt(roundAway(f32x4.mul(v128.load(p, 48), vid)));
    v128.store(dst + 2 + <usize>(k << 4), packBytes(a, bb, c, e));
  }
}

export function q8_0_quant(src: usize, dst: usize, nb: i32): void {
  let b = 0;
  for (; b + 4 <= nb; b += 4, src += 512, dst += 136) {
    if (!absMax4(src, true, 127, dst, 34)) {
      for (let k = 0; k < 4; k++) q8_0_block(src + <usize>(k << 7), dst + <usize>(k * 34));
      continue;
    }
    const id = gId4;
    q8_0_codes(src, dst + 2, lane(id, 0));
    q8_0_codes(src + 128, dst + 36, lane(id, 1));
    q8_0_codes(src + 256, dst + 70, lane(id, 2));
    q8_0_codes(src + 384, dst + 104, lane(id, 3));
  }
  for (; b < nb; b++, src += 128, dst += 34) q8_0_block(src, dst);
}

/** Code lanes: exact path = MIN(top, (int8_t)(x·id + bias)) by C's conversion rules; fast path =
 *  trunc(min(v, top)) in the low byte (v ≥ 0 and small there, so the same value). */
// @ts-ignore: decorator
@inline function code(p: usize, off: usize, vmin: v128, vid: v128, bias: v128, top: i32, fast: bool, clamp: bool, sub: bool): v128 {
  let v = v128.load(p + off);
  if (sub) v = f32x4.sub(v, vmin);
  v = f32x4.add(f32x4.mul(v, vid), bias);
  if (fast) return truncLow(clamp ? f32x4.pmin(v, f32x4.splat(<f32>top)) : v);
  const c = cvtt(v);
  return clamp ? i32x4.min_s(sext8(c), i32x4.splat(top)) : c;
}

/** Q4 byte j = xi0 | (xi1 << 4), truncated to 8 bits: xi0 whole, xi1's low nibble on top. */
// @ts-ignore: decorator
@inline function storeQ4(q: usize, src: usize, vmin: v128, vid: v128, bias: v128, fast: bool, sub: bool): void {
  const f = i32x4.splat(0xf0);
  v128.store(q, packBytes(
    v128.or(code(src, 0, vmin, vid, bias, 15, fast, true, sub), v128.and(i32x4.shl(code(src, 64, vmin, vid, bias, 15, fast, true, sub), 4), f)),
    v128.or(code(src, 16, vmin, vid, bias, 15, fast, true, sub), v128.and(i32x4.shl(code(src, 80, vmin, vid, bias, 15, fast, true, sub), 4), f)),
    v128.or(code(src, 32, vmin, vid, bias, 15, fast, true, sub), v128.and(i32x4.shl(code(src, 96, vmin, vid, bias, 15, fast, true, sub), 4), f)),
    v128.or(code(src, 48, vmin, vid, bias, 15, fast, true, sub), v128.and(i32x4.shl(code(src, 112, vmin, vid, bias, 15, fast, true, sub), 4), f)),
  ));
}

/** One Q4_0 block by the scan above (any input). */
// @ts-ignore: decorator
@inline function q4_0_block(src: usize, dst: usize): void {
  const bias = f32x4.splat(8.5);
  const zero = f32x4.splat(0);
  const mx = absMaxValue(src);
  const d: f32 = mx / <f32>-8;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(dst, <u16>f32ToHalf(d));
  const vid = f32x4.splat(id);
  if (!gExact && tame(d)) storeQ4(dst + 2, src, zero, vid, bias, true, false);
  else storeQ4(dst + 2, src, zero, vid, bias, false, false);
}

export function q4_0_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(8.5);
  const zero = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4, src += 512, dst += 72) {
    if (!absMax4(src, false, -8, dst, 18)) {
      for (let k = 0; k < 4; k++) q4_0_block(src + <usize>(k << 7), dst + <usize>(k * 18));
      continue;
    }
    const id = gId4;
    storeQ4(dst + 2, src, zero, lane(id, 0), bias, true, false);
    storeQ4(dst + 20, src + 128, zero, lane(id, 1), bias, true, false);
    storeQ4(dst + 38, src + 256, zero, lane(id, 2), bias, true, false);
    storeQ4(dst + 56, src + 384, zero, lane(id, 3), bias, true, false);
  }
  for (; b < nb; b++, src += 128, dst += 18) q4_0_block(src, dst);
}

/** FP16 of d and m into the block's first four bytes, both through one lane conversion. */
// @ts-ignore: decorator
@inline function storeHalves(dst: usize, d: f32, m: f32): void {
  const h = fp16x4(f32x4.replace_lane(f32x4.splat(d), 1, m));
  store<u32>(dst, <u32>i32x4.extract_lane(h, 0) | (<u32>i32x4.extract_lane(h, 1) << 16));
}

/** One Q4_1 block by the scan above (any input). */
// @ts-ignore: decorator
@inline function q4_1_block(src: usize, dst: usize): void {
  const bias = f32x4.splat(0.5);
  minMax(src);
  const mn = gLo;
  const d: f32 = (gHi - mn) / <f32>15;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  storeHalves(dst, d, mn);
  const vid = f32x4.splat(id);
  const vmin = f32x4.splat(mn);
  if (!gExact && tame(d)) storeQ4(dst + 4, src, vmin, vid, bias, true, true);
  else storeQ4(dst + 4, src, vmin, vid, bias, false, true);
}

// ---- four min/max blocks at a time: their reductions, scales and FP16s as lanes of one vector ----

/** Lane-wise max (pmax) of a block's 32 floats. */
// @ts-ignore: decorator
@inline function lanesMax(p: usize): v128 {
  return f32x4.pmax(
    f32x4.pmax(f32x4.pmax(v128.load(p), v128.load(p, 16)), f32x4.pmax(v128.load(p, 32), v128.load(p, 48))),
    f32x4.pmax(f32x4.pmax(v128.load(p, 64), v128.load(p, 80)), f32x4.pmax(v128.load(p, 96), v128.load(p, 112))));
}

// @ts-ignore: decorator
@inline function lanesMin(p: usize): v128 {
  return f32x4.pmin(
    f32x4.pmin(f32x4.pmin(v128.load(p), v128.load(p, 16)), f32x4.pmin(v128.load(p, 32), v128.load(p, 48))),
    f32x4.pmin(f32x4.pmin(v128.load(p, 64), v128.load(p, 80)), f32x4.pmin(v128.load(p, 96), v128.load(p, 112))));
}

/** Lane sums of a block: NaN (or ±Inf) in a lane when the block holds NaN/Inf (or overflows). */
// @ts-ignore: decorator
@inline function lanesSum(p: usize): v128 {
  return f32x4.add(
    f32x4.add(f32x4.add(v128.load(p), v128.load(p, 16)), f32x4.add(v128.load(p, 32), v128.load(p, 48))),
    f32x4.add(f32x4.add(v128.load(p, 64), v128.load(p, 80)), f32x4.add(v128.load(p, 96), v128.load(p, 112))));
}

/** [max a, max b, max c, max d] of four vectors' lanes (pmax; the order only matters for ±0). */
// @ts-ignore: decorator
@inline function hmax4(a: v128, b: v128, c: v128, d: v128): v128 {
  const m0 = f32x4.pmax(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
  const m1 = f32x4.pmax(i32x4.shuffle(c, d, 0, 1, 4, 5), i32x4.shuffle(c, d, 2, 3, 6, 7));
  return f32x4.pmax(i32x4.shuffle(m0, m1, 0, 2, 4, 6), i32x4.shuffle(m0, m1, 1, 3, 5, 7));
}

// @ts-ignore: decorator
@inline function hmin4(a: v128, b: v128, c: v128, d: v128): v128 {
  const m0 = f32x4.pmin(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
  const m1 = f32x4.pmin(i32x4.shuffle(c, d, 0, 1, 4, 5), i32x4.shuffle(c, d, 2, 3, 6, 7));
  return f32x4.pmin(i32x4.shuffle(m0, m1, 0, 2, 4, 6), i32x4.shuffle(m0, m1, 1, 3, 5, 7));
}

/** True in a lane whose sum lane is NaN or infinite, for any lane of the block. */
// @ts-ignore: decorator
@inline function anyNonFinite(s0: v128, s1: v128, s2: v128, s3: v128): bool {
  const inf = f32x4.splat(Infinity);
  // |s| < Inf is false for NaN and ±Inf alike
  return !i32x4.all_true(v128.and(
    v128.and(f32x4.lt(f32x4.abs(s0), inf), f32x4.lt(f32x4.abs(s1), inf)),
    v128.and(f32x4.lt(f32x4.abs(s2), inf), f32x4.lt(f32x4.abs(s3), inf))));
}

let gMin4 = f32x4.splat(0); // the four blocks' minima (lanes), from minMax4
let gD4 = f32x4.splat(0); // their scales d
let gId4 = f32x4.splat(0); // and 1/d (0 for d = 0)

/**
 * min/max, d = (max - min)/nmax and 1/d of the four blocks at p as lanes (each lane's float ops are
 * the scalar path's), and their FP16 d | m << 16 as four u32 at dst, dst + stride, … . False
 * (nothing written) unless every block takes the cheap path: no NaN/Inf, no ±0 extreme, tame d.
 */
// @ts-ignore: decorator
@inline function minMax4(p: usize, nmax: f32, dst: usize, stride: usize): bool {
  if (anyNonFinite(lanesSum(p), lanesSum(p + 128), lanesSum(p + 256), lanesSum(p + 384))) return false;
  const hi = hmax4(lanesMax(p), lanesMax(p + 128), lanesMax(p + 256), lanesMax(p + 384));
  const lo = hmin4(lanesMin(p), lanesMin(p + 128), lanesMin(p + 256), lanesMin(p + 384));
  const zero = f32x4.splat(0);
  const d = f32x4.div(f32x4.sub(hi, lo), f32x4.splat(nmax));
  const ad = f32x4.abs(d);
  // tame(d): 0 or normal
  const tameD = v128.or(f32x4.eq(ad, zero), v128.and(f32x4.ge(ad, f32x4.splat(FLT_MIN)), f32x4.le(ad, f32x4.splat(FLT_MAX))));
  if (!i32x4.all_true(v128.and(v128.and(f32x4.ne(hi, zero), f32x4.ne(lo, zero)), tameD))) return false;
  gMin4 = lo;
  gD4 = d;
  gId4 = v128.and(f32x4.div(f32x4.splat(1), d), f32x4.ne(d, zero));
  const h = v128.or(fp16x4(d), i32x4.shl(fp16x4(lo), 16));
  store<u32>(dst, <u32>i32x4.extract_lane(h, 0));
  store<u32>(dst + stride, <u32>i32x4.extract_lane(h, 1));
  store<u32>(dst + 2 * stride, <u32>i32x4.extract_lane(h, 2));
  store<u32>(dst + 3 * stride, <u32>i32x4.extract_lane(h, 3));
  return true;
}

/**
 * The symmetric formats' scales for four blocks at p as lanes: Q8_0 (amax: d = max|x| / nmax) or
 * Q4_0/Q5_0 (d = the value of largest magnitude / nmax, nmax negative), 1/d into gId4, and FP16(d)
 * at dst, dst + stride, … . False (nothing written) unless every block takes the cheap path: no
 * NaN/Inf, a nonzero extreme (Q4_0/Q5_0: of one sign only), tame d.
 */
// @ts-ignore: decorator
@inline function absMax4(p: usize, amax: bool, nmax: f32, dst: usize, stride: usize): bool {
  if (anyNonFinite(lanesSum(p), lanesSum(p + 128), lanesSum(p + 256), lanesSum(p + 384))) return false;
  const hi = hmax4(lanesMax(p), lanesMax(p + 128), lanesMax(p + 256), lanesMax(p + 384));
  const lo = hmin4(lanesMin(p), lanesMin(p + 128), lanesMin(p + 256), lanesMin(p + 384));
  const zero = f32x4.splat(0);
  const nlo = f32x4.neg(lo);
  let m: v128;
  let ok: v128;
  if (amax) {
    m = f32x4.max(hi, nlo);
    ok = f32x4.gt(m, zero);
  } else {
    // only values equal to the extreme have the largest magnitude: ggml's first such value
    const up = f32x4.gt(hi, nlo);
    m = v128.bitselect(hi, lo, up);
    ok = v128.or(up, f32x4.gt(nlo, hi));
  }
  const d = f32x4.div(m, f32x4.splat(nmax));
  const ad = f32x4.abs(d);
  // tame(d): a normal float (d is nonzero here)
  if (!i32x4.all_true(v128.and(ok, v128.and(f32x4.ge(ad, f32x4.splat(FLT_MIN)), f32x4.le(ad, f32x4.splat(FLT_MAX)))))) return false;
  gId4 = f32x4.div(f32x4.splat(1), d);
  const h = fp16x4(d);
  store<u16>(dst, <u16>i32x4.extract_lane(h, 0));
  store<u16>(dst + stride, <u16>i32x4.extract_lane(h, 1));
  store<u16>(dst + 2 * stride, <u16>i32x4.extract_lane(h, 2));
  store<u16>(dst + 3 * stride, <u16>i32x4.extract_lane(h, 3));
  return true;
}

// @ts-ignore: decorator
@inline function lane(v: v128, i: i32): v128 {
  // i is a constant after inlining: one shuffle
  return i == 0 ? i32x4.shuffle(v, v, 0, 0, 0, 0) : i == 1 ? i32x4.shuffle(v, v, 1, 1, 1, 1) : i == 2 ? i32x4.shuffle(v, v, 2, 2, 2, 2) : i32x4.shuffle(v, v, 3, 3, 3, 3);
}

export function q4_1_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(0.5);
  let b = 0;
  for (; b + 4 <= nb; b += 4, src += 512, dst += 80) {
    if (!minMax4(src, 15, dst, 20)) {
      for (let k = 0; k < 4; k++) q4_1_block(src + <usize>(k << 7), dst + <usize>(k * 20));
      continue;
    }
    const mn = gMin4, id = gId4;
    storeQ4(dst + 4, src, lane(mn, 0), lane(id, 0), bias, true, true);
    storeQ4(dst + 24, src + 128, lane(mn, 1), lane(id, 1), bias, true, true);
    storeQ4(dst + 44, src + 256, lane(mn, 2), lane(id, 2), bias, true, true);
    storeQ4(dst + 64, src + 384, lane(mn, 3), lane(id, 3), bias, true, true);
  }
  for (; b < nb; b++, src += 128, dst += 20) q4_1_block(src, dst);
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
@inline function storeQ5codes(q: usize, src: usize, vmin: v128, vid: v128, bias: v128, fast: bool, clamp: bool, sub: bool): u32 {
  return storeQ5(q,
    code(src, 0, vmin, vid, bias, 31, fast, clamp, sub), code(src, 16, vmin, vid, bias, 31, fast, clamp, sub),
    code(src, 32, vmin, vid, bias, 31, fast, clamp, sub), code(src, 48, vmin, vid, bias, 31, fast, clamp, sub),
    code(src, 64, vmin, vid, bias, 31, fast, clamp, sub), code(src, 80, vmin, vid, bias, 31, fast, clamp, sub),
    code(src, 96, vmin, vid, bias, 31, fast, clamp, sub), code(src, 112, vmin, vid, bias, 31, fast, clamp, sub));
}

/** One Q5_0 block by the scan above (any input). */
// @ts-ignore: decorator
@inline function q5_0_block(src: usize, dst: usize): void {
  const bias = f32x4.splat(16.5);
  const zero = f32x4.splat(0);
  const mx = absMaxValue(src);
  const d: f32 = mx / <f32>-16;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(dst, <u16>f32ToHalf(d));
  const vid = f32x4.splat(id);
  const qh = !gExact && tame(d)
    ? storeQ5codes(dst + 6, src, zero, vid, bias, true, true, false)
    : storeQ5codes(dst + 6, src, zero, vid, bias, false, true, false);
  store<u32>(dst, qh, 2);
}

export function q5_0_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(16.5);
  const zero = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4, src += 512, dst += 88) {
    if (!absMax4(src, false, -16, dst, 22)) {
      for (let k = 0; k < 4; k++) q5_0_block(src + <usize>(k << 7), dst + <usize>(k * 22));
      continue;
    }
    const id = gId4;
    store<u32>(dst, storeQ5codes(dst + 6, src, zero, lane(id, 0), bias, true, true, false), 2);
    store<u32>(dst, storeQ5codes(dst + 28, src + 128, zero, lane(id, 1), bias, true, true, false), 24);
    store<u32>(dst, storeQ5codes(dst + 50, src + 256, zero, lane(id, 2), bias, true, true, false), 46);
    store<u32>(dst, storeQ5codes(dst + 72, src + 384, zero, lane(id, 3), bias, true, true, false), 68);
  }
  for (; b < nb; b++, src += 128, dst += 22) q5_0_block(src, dst);
}

/** One Q5_1 block by the scan above (any input). */
// @ts-ignore: decorator
@inline function q5_1_block(src: usize, dst: usize): void {
  const bias = f32x4.splat(0.5);
  minMax(src);
  const mn = gLo;
  const d: f32 = (gHi - mn) / <f32>31;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  storeHalves(dst, d, mn);
  const vid = f32x4.splat(id);
  const vmin = f32x4.splat(mn);
  // no clamp in ggml here: the low byte of the truncated int
  const qh = !gExact && tame(d)
    ? storeQ5codes(dst + 8, src, vmin, vid, bias, true, false, true)
    : storeQ5codes(dst + 8, src, vmin, vid, bias, false, false, true);
  store<u32>(dst, qh, 4);
}

export function q5_1_quant(src: usize, dst: usize, nb: i32): void {
  const bias = f32x4.splat(0.5);
  let b = 0;
  for (; b + 4 <= nb; b += 4, src += 512, dst += 96) {
    if (!minMax4(src, 31, dst, 24)) {
      for (let k = 0; k < 4; k++) q5_1_block(src + <usize>(k << 7), dst + <usize>(k * 24));
      continue;
    }
    const mn = gMin4, id = gId4;
    store<u32>(dst, storeQ5codes(dst + 8, src, lane(mn, 0), lane(id, 0), bias, true, false, true), 4);
    store<u32>(dst, storeQ5codes(dst + 32, src + 128, lane(mn, 1), lane(id, 1), bias, true, false, true), 28);
    store<u32>(dst, storeQ5codes(dst + 56, src + 256, lane(mn, 2), lane(id, 2), bias, true, false, true), 52);
    store<u32>(dst, storeQ5codes(dst + 80, src + 384, lane(mn, 3), lane(id, 3), bias, true, false, true), 76);
  }
  for (; b < nb; b++, src += 128, dst += 24) q5_1_block(src, dst);
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
