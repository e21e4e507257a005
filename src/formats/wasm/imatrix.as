// Q4_0, Q4_1, Q5_0, Q5_1 with an importance matrix: ggml's quantize_row_*_impl, whose scale
// searches (make_qx_quants, make_qkx3_quants) are long chains of dependent float32 sums. The
// order of those sums is the contract, so they cannot be split within a block; instead four
// blocks run side by side, one per SIMD lane, each lane doing exactly ggml's scalar sequence.
// Branches become per-lane selects.
import { f32ToHalf, packBytes } from './common';
import { storeQ5 } from './legacy';

// Transposed scratch: element i of the four lanes' blocks at XT + 16·i (and so on).
const XT = memory.data(512, 16); // x
const WT = memory.data(512, 16); // weights
const WX = memory.data(512, 16); // weight·x (make_qx_quants)
const LT = memory.data(512, 16); // best levels, as float
const AT = memory.data(512, 16); // levels of the scale being tried, as float
const LB = memory.data(512, 16); // best levels back in block order, as i32: block k at LB + 128·k

const GROUP_MAX_EPS: f32 = 1e-15;

/** 4×4 transposes of 32 floats from four blocks (p0..p3) into lane layout at t. */
function transposeIn(t: usize, p0: usize, p1: usize, p2: usize, p3: usize): void {
  for (let i: usize = 0; i < 32; i += 4) {
    const a = v128.load(p0 + (i << 2)), b = v128.load(p1 + (i << 2));
    const c = v128.load(p2 + (i << 2)), d = v128.load(p3 + (i << 2));
    const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
    v128.store(t + (i << 4), i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(t + (i << 4), i32x4.shuffle(t0, t2, 2, 3, 6, 7), 16);
    v128.store(t + (i << 4), i32x4.shuffle(t1, t3, 0, 1, 4, 5), 32);
    v128.store(t + (i << 4), i32x4.shuffle(t1, t3, 2, 3, 6, 7), 48);
  }
}

/** LT (lane layout, float levels) → LB (block order, i32 levels). */
function transposeOut(): void {
  for (let i: usize = 0; i < 32; i += 4) {
    const a = i32x4.trunc_sat_f32x4_s(v128.load(LT + (i << 4)));
    const b = i32x4.trunc_sat_f32x4_s(v128.load(LT + (i << 4), 16));
    const c = i32x4.trunc_sat_f32x4_s(v128.load(LT + (i << 4), 32));
    const d = i32x4.trunc_sat_f32x4_s(v128.load(LT + (i << 4), 48));
    const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
    v128.store(LB + (i << 2), i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(LB + (i << 2), i32x4.shuffle(t0, t2, 2, 3, 6, 7), 128);
    v128.store(LB + (i << 2), i32x4.shuffle(t1, t3, 0, 1, 4, 5), 256);
    v128.store(LB + (i << 2), i32x4.shuffle(t1, t3, 2, 3, 6, 7), 384);
  }
}

/** ggml's nearest_int on four lanes: add 1.5·2^23 in float32, read the low mantissa bits. */
// @ts-ignore: decorator
@inline function nearestInt(v: v128): v128 {
  return i32x4.sub(v128.and(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
}

/** sum_x2/n_per_row over the row, in ggml's order. */
function rowSigma2(x: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    s += v * v;
  }
  return s / <f32>n;
}

/** Loads blocks b..b+3 of the row (lanes past the last block repeat it) and their weights
 *  qw[j]·sqrtf(sigma2 + x[j]²). */
function loadGroup(x: usize, qw: usize, b: i32, nb: i32, sigma2: f32): void {
  const last = nb - 1;
  const b1 = min(b + 1, last), b2 = min(b + 2, last), b3 = min(b + 3, last);
  transposeIn(XT, x + (<usize>b << 7), x + (<usize>b1 << 7), x + (<usize>b2 << 7), x + (<usize>b3 << 7));
  transposeIn(WT, qw + (<usize>b << 7), qw + (<usize>b1 << 7), qw + (<usize>b2 << 7), qw + (<usize>b3 << 7));
  const s2 = f32x4.splat(sigma2);
  for (let i: usize = 0; i < 512; i += 16) {
    const xi = v128.load(XT + i);
    v128.store(WT + i, f32x4.mul(v128.load(WT + i), f32x4.sqrt(f32x4.add(s2, f32x4.mul(xi, xi)))));
  }
}

let gScale: v128 = f32x4.splat(0);
let gMin: v128 = f32x4.splat(0);

/** make_qx_quants(32, nmax, x, L, rmse_type 1, weights) on four lanes: gScale, levels in LT. */
function qxLanes(nmax: i32): void {
  let amax = f32x4.splat(0);
  let mx = f32x4.splat(0);
  for (let i: usize = 0; i < 512; i += 16) {
    const xi = v128.load(XT + i);
    const ax = f32x4.abs(xi);
    const gt = f32x4.gt(ax, amax);
    amax = v128.bitselect(ax, amax, gt);
    mx = v128.bitselect(xi, mx, gt);
    v128.store(WX + i, f32x4.mul(v128.load(WT + i), xi));
  }
  const lo = i32x4.splat(-nmax), hi = i32x4.splat(nmax - 1);
  const fnmax = f32x4.splat(<f32>nmax);
  let iscale = f32x4.div(f32x4.splat(<f32>-nmax), mx);
  let sumlx = f32x4.splat(0), suml2 = f32x4.splat(0);
  for (let i: usize = 0; i < 512; i += 16) {
    const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(nearestInt(f32x4.mul(iscale, v128.load(XT + i))), lo), hi));
    v128.store(LT + i, f32x4.add(l, fnmax));
    sumlx = f32x4.add(sumlx, f32x4.mul(v128.load(WX + i), l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(v128.load(WT + i), l), l));
  }
  // C truthiness: a NaN suml2 counts as nonzero
  let scale = v128.and(f32x4.div(sumlx, suml2), f32x4.ne(suml2, f32x4.splat(0)));
  let best = f32x4.mul(scale, sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = f32x4.div(f32x4.splat(-(<f32>nmax + <f32>0.1 * <f32>is)), mx);
    sumlx = f32x4.splat(0);
    suml2 = f32x4.splat(0);
    for (let i: usize = 0; i < 512; i += 16) {
      const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(nearestInt(f32x4.mul(iscale, v128.load(XT + i))), lo), hi));
      v128.store(AT + i, l);
      sumlx = f32x4.add(sumlx, f32x4.mul(v128.load(WX + i), l));
      suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(v128.load(WT + i), l), l));
    }
    const take = v128.and(f32x4.gt(suml2, f32x4.splat(0)), f32x4.gt(f32x4.mul(sumlx, sumlx), f32x4.mul(best, suml2)));
    if (v128.any_true(take)) {
      for (let i: usize = 0; i < 512; i += 16) {
        v128.store(LT + i, v128.bitselect(f32x4.add(v128.load(AT + i), fnmax), v128.load(LT + i), take));
      }
      scale = v128.bitselect(f32x4.div(sumlx, suml2), scale, take);
      best = v128.bitselect(f32x4.mul(scale, sumlx), best, take);
    }
  }
  // all-but-zero blocks: L = 0, scale 0
  const zero = f32x4.lt(amax, f32x4.splat(GROUP_MAX_EPS));
  if (v128.any_true(zero)) {
    for (let i: usize = 0; i < 512; i += 16) v128.store(LT + i, v128.andnot(v128.load(LT + i), zero));
    scale = v128.andnot(scale, zero);
  }
  gScale = scale;
}

/** make_qkx3_quants(32, nmax, x, weights, L, &the_min, Laux, -0.9f, 0.05f, 36, false) on four
 *  lanes: gScale, gMin = min (the block's m is -the_min = min), levels in LT. */
function qkx3Lanes(nmax: i32): void {
  const x0 = v128.load(XT);
  let mn = x0, mx = x0;
  let sumW = v128.load(WT);
  let sumX = f32x4.mul(sumW, x0);
  for (let i: usize = 16; i < 512; i += 16) {
    const xi = v128.load(XT + i);
    const w = v128.load(WT + i);
    mn = v128.bitselect(xi, mn, f32x4.lt(xi, mn));
    mx = v128.bitselect(xi, mx, f32x4.gt(xi, mx));
    sumW = f32x4.add(sumW, w);
    sumX = f32x4.add(sumX, f32x4.mul(w, xi));
  }
  const zf = f32x4.splat(0);
  mn = v128.andnot(mn, f32x4.gt(mn, zf)); // if (min > 0) min = 0
  const flat = f32x4.le(mx, mn);
  const mn0 = mn;
  const fnmax = f32x4.splat(<f32>nmax);
  const top = i32x4.splat(nmax), bottom = i32x4.splat(0);
  let iscale = f32x4.div(fnmax, f32x4.sub(mx, mn));
  let scale = f32x4.div(f32x4.splat(1), iscale);
  let bestMad = zf;
  for (let i: usize = 0; i < 512; i += 16) {
    const xi = v128.load(XT + i);
    const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(nearestInt(f32x4.mul(iscale, f32x4.sub(xi, mn))), bottom), top));
    v128.store(LT + i, l);
    const diff = f32x4.sub(f32x4.add(f32x4.mul(scale, l), mn), xi);
    bestMad = f32x4.add(bestMad, f32x4.mul(v128.load(WT + i), f32x4.mul(diff, diff)));
  }
  const rmin: f32 = -0.9, rdelta: f32 = 0.05;
  for (let is = 0; is <= 36; is++) {
    iscale = f32x4.div(f32x4.splat(rmin + rdelta * <f32>is + <f32>nmax), f32x4.sub(mx, mn));
    let sumL = zf, sumL2 = zf, sumXL = zf;
    for (let i: usize = 0; i < 512; i += 16) {
      const xi = v128.load(XT + i);
      const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(nearestInt(f32x4.mul(iscale, f32x4.sub(xi, mn))), bottom), top));
      v128.store(AT + i, l);
      const wl = f32x4.mul(v128.load(WT + i), l);
      sumL = f32x4.add(sumL, wl);
      sumL2 = f32x4.add(sumL2, f32x4.mul(wl, l));
      sumXL = f32x4.add(sumXL, f32x4.mul(wl, xi));
    }
    const D = f32x4.sub(f32x4.mul(sumW, sumL2), f32x4.mul(sumL, sumL));
    const ok = f32x4.gt(D, zf);
    if (!v128.any_true(ok)) continue;
    let ts = f32x4.div(f32x4.sub(f32x4.mul(sumW, sumXL), f32x4.mul(sumX, sumL)), D);
    let tm = f32x4.div(f32x4.sub(f32x4.mul(sumL2, sumX), f32x4.mul(sumL, sumXL)), D);
    const pos = f32x4.gt(tm, zf);
    tm = v128.andnot(tm, pos);
    ts = v128.bitselect(f32x4.div(sumXL, sumL2), ts, pos);
    let mad = zf;
    for (let i: usize = 0; i < 512; i += 16) {
      const diff = f32x4.sub(f32x4.add(f32x4.mul(ts, v128.load(AT + i)), tm), v128.load(XT + i));
      mad = f32x4.add(mad, f32x4.mul(v128.load(WT + i), f32x4.mul(diff, diff)));
    }
    const take = v128.and(ok, f32x4.lt(mad, bestMad));
    if (v128.any_true(take)) {
      for (let i: usize = 0; i < 512; i += 16) v128.store(LT + i, v128.bitselect(v128.load(AT + i), v128.load(LT + i), take));
      bestMad = v128.bitselect(mad, bestMad, take);
      scale = v128.bitselect(ts, scale, take);
      mn = v128.bitselect(tm, mn, take);
    }
  }
  if (v128.any_true(flat)) {
    for (let i: usize = 0; i < 512; i += 16) v128.store(LT + i, v128.andnot(v128.load(LT + i), flat));
    scale = v128.andnot(scale, flat);
    mn = v128.bitselect(mn0, mn, flat);
  }
  gScale = scale;
  gMin = mn;
}

// @ts-ignore: decorator
@inline function lane(v: v128, k: i32): f32 {
  return k == 0 ? f32x4.extract_lane(v, 0) : k == 1 ? f32x4.extract_lane(v, 1) : k == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
}

/** Packs block k's levels from LB as Q4 nibbles (L[j] | L[j+16] << 4) at q. */
// @ts-ignore: decorator
@inline function storeQ4(q: usize, k: i32): void {
  const p = LB + (<usize>k << 7);
  v128.store(q, packBytes(
    v128.or(v128.load(p), i32x4.shl(v128.load(p, 64), 4)), v128.or(v128.load(p, 16), i32x4.shl(v128.load(p, 80), 4)),
    v128.or(v128.load(p, 32), i32x4.shl(v128.load(p, 96), 4)), v128.or(v128.load(p, 48), i32x4.shl(v128.load(p, 112), 4)),
  ));
}

// @ts-ignore: decorator
@inline function storeQ5Block(q: usize, k: i32): u32 {
  const p = LB + (<usize>k << 7);
  return storeQ5(q, v128.load(p), v128.load(p, 16), v128.load(p, 32), v128.load(p, 48),
    v128.load(p, 64), v128.load(p, 80), v128.load(p, 96), v128.load(p, 112));
}

/** One kernel per format: nRows rows of nPerRow floats at src, importances qw, → dst. */
// kind: 0 = Q4_0, 1 = Q4_1, 2 = Q5_0, 3 = Q5_1
function quantRows(kind: i32, src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 5;
  const typeSize: usize = kind == 0 ? 18 : kind == 1 ? 20 : kind == 2 ? 22 : 24;
  for (let r = 0; r < nRows; r++) {
    const x = src + (<usize>r * <usize>nPerRow << 2);
    const y = dst + <usize>r * <usize>nb * typeSize;
    const sigma2 = rowSigma2(x, nPerRow);
    for (let b = 0; b < nb; b += 4) {
      loadGroup(x, qw, b, nb, sigma2);
      if (kind == 0) qxLanes(8);
      else if (kind == 2) qxLanes(16);
      else qkx3Lanes(kind == 1 ? 15 : 31);
      transposeOut();
      const m = min(4, nb - b);
      for (let k = 0; k < m; k++) {
        const o = y + <usize>(b + k) * typeSize;
        store<u16>(o, <u16>f32ToHalf(lane(gScale, k)));
        if (kind == 0) storeQ4(o + 2, k);
        else if (kind == 1) { store<u16>(o, <u16>f32ToHalf(lane(gMin, k)), 2); storeQ4(o + 4, k); }
        else if (kind == 2) store<u32>(o, storeQ5Block(o + 6, k), 2);
        else { store<u16>(o, <u16>f32ToHalf(lane(gMin, k)), 2); store<u32>(o, storeQ5Block(o + 8, k), 4); }
      }
    }
  }
}

export function q4_0_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void { quantRows(0, src, dst, nRows, nPerRow, qw); }
export function q4_1_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void { quantRows(1, src, dst, nRows, nPerRow, qw); }
export function q5_0_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void { quantRows(2, src, dst, nRows, nPerRow, qw); }
export function q5_1_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void { quantRows(3, src, dst, nRows, nPerRow, qw); }
