// K-quant kernels (AssemblyScript; compiled by scripts/build-wasm.mjs): Q2_K..Q6_K quantize,
// without an imatrix (ggml's quantize_row_q*_K_ref, block kernels for wasmBlocks) and with one
// (quantize_row_q*_K_impl, row kernels for wasmRows). They mirror the TypeScript codecs in ../ggml,
// which stay the reference. Every f32 op is one IEEE single op, as in ggml's C. ggml's scale
// searches are chains of dependent float sums whose order is the contract, so instead of splitting
// a chain, four sub-blocks run side by side, one per SIMD lane, each lane doing ggml's exact
// scalar sequence (branches become per-lane selects).
import { f32ToHalf, halfToF32 } from './common';

// scratch in linear memory (no allocation per block)
const L = memory.data(256);
const SCALES = memory.data(16 * 4);
const MINS = memory.data(16 * 4);
const LS = memory.data(16);
const LM = memory.data(16);

/** ggml's nearest_int: add 1.5·2^23 in float32, read the low mantissa bits. */
// @ts-ignore: decorator
@inline function nearestInt(f: f32): i32 {
  return (reinterpret<i32>(f + <f32>12582912.0) & 0x7fffff) - 0x400000;
}

// @ts-ignore: decorator
@inline function fAt(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function fPut(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }

// Four sub-blocks side by side, one per lane: element i of lanes 0..3 at XT + 16·i.
const XT = memory.data(32 * 16, 16);
const WT = memory.data(32 * 16, 16);
const XMT = memory.data(32 * 16, 16); // x - min of each lane
const LAT = memory.data(32 * 16, 16); // candidate levels, f32
const LBT = memory.data(32 * 16, 16); // best levels, f32

/**
 * make_qkx2_quants for four sub-blocks at once (lanes): each lane runs exactly ggml's scalar
 * sequence for its own sub-block (the sums stay in C's order within a lane), so the dependent
 * float chains of four sub-blocks overlap. Branches become per-lane selects. Inputs at XT/WT;
 * levels go to L + lo0 + k·n for lane k, scales and -mins to SCALES/MINS[j0 + k].
 */
function makeQkx2x4(n: i32, nmax: i32, lo0: i32, rmin: f32, rdelta: f32, nstep: i32, useMad: bool, j0: i32): void {
  const nb = <usize>(n << 4);
  let vmin = v128.load(XT), vmax = vmin;
  let sumW = v128.load(WT);
  let sumX = f32x4.mul(sumW, vmin);
  for (let o: usize = 16; o < nb; o += 16) {
    const x = v128.load(XT + o), w = v128.load(WT + o);
    vmin = v128.bitselect(x, vmin, f32x4.lt(x, vmin));
    vmax = v128.bitselect(x, vmax, f32x4.gt(x, vmax));
    sumW = f32x4.add(sumW, w);
    sumX = f32x4.add(sumX, f32x4.mul(w, x));
  }
  const fzero = f32x4.splat(0);
  vmin = v128.bitselect(fzero, vmin, f32x4.gt(vmin, fzero));
  const flat = f32x4.eq(vmax, vmin); // C returns early for these lanes: all levels 0, scale 0
  const fnmax = f32x4.splat(<f32>nmax);
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const izero = i32x4.splat(0);
  const top = i32x4.splat(nmax);
  let iscale = f32x4.div(fnmax, f32x4.sub(vmax, vmin));
  let scale = f32x4.div(f32x4.splat(1), iscale);
  let best = fzero;
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(XT + o);
    const xm = f32x4.sub(x, vmin);
    v128.store(XMT + o, xm);
    const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(iscale, xm), magic), mant), half), izero), top));
    v128.store(LBT + o, l);
    let d = f32x4.sub(f32x4.add(f32x4.mul(scale, l), vmin), x);
    d = useMad ? f32x4.abs(d) : f32x4.mul(d, d);
    best = f32x4.add(best, f32x4.mul(v128.load(WT + o), d));
  }
  for (let is = 0; is <= nstep; is++) {
    const num = f32x4.splat(rmin + rdelta * <f32>is + <f32>nmax);
    iscale = f32x4.div(num, f32x4.sub(vmax, vmin));
    let sumL = fzero, sumL2 = fzero, sumXL = fzero;
    for (let o: usize = 0; o < nb; o += 16) {
      const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(iscale, v128.load(XMT + o)), magic), mant), half), izero), top));
      v128.store(LAT + o, l);
      const wl = f32x4.mul(v128.load(WT + o), l);
      sumL = f32x4.add(sumL, wl);
      sumL2 = f32x4.add(sumL2, f32x4.mul(wl, l));
      sumXL = f32x4.add(sumXL, f32x4.mul(wl, v128.load(XT + o)));
    }
    const D = f32x4.sub(f32x4.mul(sumW, sumL2), f32x4.mul(sumL, sumL));
    const live = f32x4.gt(D, fzero);
    if (!v128.any_true(live)) continue;
    let tScale = f32x4.div(f32x4.sub(f32x4.mul(sumW, sumXL), f32x4.mul(sumX, sumL)), D);
    let tMin = f32x4.div(f32x4.sub(f32x4.mul(sumL2, sumX), f32x4.mul(sumL, sumXL)), D);
    const pos = f32x4.gt(tMin, fzero);
    tMin = v128.bitselect(fzero, tMin, pos);
    tScale = v128.bitselect(f32x4.div(sumXL, sumL2), tScale, pos);
    let cur = fzero;
    for (let o: usize = 0; o < nb; o += 16) {
      let d = f32x4.sub(f32x4.add(f32x4.mul(tScale, v128.load(LAT + o)), tMin), v128.load(XT + o));
      d = useMad ? f32x4.abs(d) : f32x4.mul(d, d);
      cur = f32x4.add(cur, f32x4.mul(v128.load(WT + o), d));
    }
    const take = v128.andnot(v128.and(live, f32x4.lt(cur, best)), flat); // flat lanes are done
    if (!v128.any_true(take)) continue;
    best = v128.bitselect(cur, best, take);
    scale = v128.bitselect(tScale, scale, take);
    vmin = v128.bitselect(tMin, vmin, take);
    for (let o: usize = 0; o < nb; o += 16) {
      v128.store(LBT + o, v128.bitselect(v128.load(LAT + o), v128.load(LBT + o), take));
      v128.store(XMT + o, f32x4.sub(v128.load(XT + o), vmin));
    }
  }
  // outputs; flat lanes: levels 0, scale 0 (their min is the clamped min, as in C)
  scale = v128.bitselect(fzero, scale, flat);
  v128.store(SCALES + (<usize>j0 << 2), scale);
  v128.store(MINS + (<usize>j0 << 2), f32x4.neg(vmin));
  for (let k = 0; k < 4; k++) {
    const isFlat = k == 0 ? i32x4.extract_lane(flat, 0) : k == 1 ? i32x4.extract_lane(flat, 1) : k == 2 ? i32x4.extract_lane(flat, 2) : i32x4.extract_lane(flat, 3);
    const dst = L + lo0 + k * n;
    if (isFlat) { memory.fill(dst, 0, n); continue; }
    for (let i = 0; i < n; i++) store<u8>(dst + i, <u8><i32>load<f32>(LBT + (<usize>i << 4) + (<usize>k << 2)));
  }
}

/** Scale/min search of one Q4_K/Q5_K block, packed scales and fp16 d/dmin at dst; levels in L. */
function scalesK45(x: usize, dst: usize, nmax: i32, rmin: f32, nstep: i32): void {
  let maxScale: f32 = 0, maxMin: f32 = 0;
  for (let g = 0; g < 8; g += 4) {
    for (let k = 0; k < 4; k++) {
      const base = x + (<usize>(g + k) << 7);
      let sumX2: f32 = 0;
      for (let l = 0; l < 32; l++) { const v = fAt(base, l); sumX2 += v * v; }
      const avX = Mathf.sqrt(sumX2 / <f32>32);
      for (let l = 0; l < 32; l++) {
        const v = fAt(base, l);
        const t = (<usize>l << 4) + (<usize>k << 2);
        store<f32>(XT + t, v);
        store<f32>(WT + t, avX + Mathf.abs(v));
      }
    }
    makeQkx2x4(32, nmax, 32 * g, rmin, <f32>0.1, nstep, false, g);
  }
  for (let j = 0; j < 8; j++) {
    const s = fAt(SCALES, j), m = fAt(MINS, j);
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  const invScale: f32 = maxScale > 0 ? <f32>63 / maxScale : 0;
  const invMin: f32 = maxMin > 0 ? <f32>63 / maxMin : 0;
  for (let j = 0; j < 8; j++) {
    const a = nearestInt(invScale * fAt(SCALES, j)) & 255;
    const b = nearestInt(invMin * fAt(MINS, j)) & 255;
    store<u8>(LS + j, <u8>(a < 63 ? a : 63));
    store<u8>(LM + j, <u8>(b < 63 ? b : 63));
  }
  packK45(dst);
  store<u16>(dst, <u16>f32ToHalf(maxScale / <f32>63));
  store<u16>(dst + 2, <u16>f32ToHalf(maxMin / <f32>63));
  finishK45(x, dst, nmax);
}

/** Packs LS/LM into the 12 scale bytes at dst + 4 (ggml's 6-bit scale/min layout). */
function packK45(dst: usize): void {
  const sp = dst + 4;
  for (let j = 0; j < 4; j++) {
    store<u8>(sp + j, load<u8>(LS + j));
    store<u8>(sp + j + 4, load<u8>(LM + j));
  }
  for (let j = 4; j < 8; j++) {
    const s = <u32>load<u8>(LS + j), m = <u32>load<u8>(LM + j);
    store<u8>(sp + j + 4, <u8>((s & 0xf) | ((m & 0xf) << 4)));
    store<u8>(sp + j - 4, <u8>(<u32>load<u8>(sp + j - 4) | ((s >> 4) << 6)));
    store<u8>(sp + j, <u8>(<u32>load<u8>(sp + j) | ((m >> 4) << 6)));
  }
}

/** Re-rounds every weight against the stored fp16 d/dmin and 6-bit scales (get_scale_min_k4); levels to L. */
function finishK45(x: usize, dst: usize, nmax: i32): void {
  const sp = dst + 4;
  const d0 = halfToF32(<u32>load<u16>(dst));
  const dmin0 = halfToF32(<u32>load<u16>(dst + 2));
  for (let j = 0; j < 8; j++) {
    let sc: u32, m: u32;
    if (j < 4) {
      sc = <u32>load<u8>(sp + j) & 63;
      m = <u32>load<u8>(sp + j + 4) & 63;
    } else {
      sc = (<u32>load<u8>(sp + j + 4) & 0xf) | ((<u32>load<u8>(sp + j - 4) >> 6) << 4);
      m = (<u32>load<u8>(sp + j + 4) >> 4) | ((<u32>load<u8>(sp + j) >> 6) << 4);
    }
    const d: f32 = d0 * <f32>sc;
    if (d == 0) continue;
    const dm: f32 = dmin0 * <f32>m;
    const base = x + (<usize>j << 7);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt((fAt(base, ii) + dm) / d);
      store<u8>(L + 32 * j + ii, <u8>(l < 0 ? 0 : l > nmax ? nmax : l));
    }
  }
}

export function q4_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 144) {
    scalesK45(src, dst, 15, -1.0, 20);
    packQ4(dst);
  }
}

/** Q4_K nibbles from L. */
function packQ4(dst: usize): void {
  let q = dst + 16;
  for (let j = 0; j < 256; j += 64, q += 32) {
    for (let l = 0; l < 32; l++) {
      store<u8>(q + l, <u8>(<u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 4)));
    }
  }
}

export function q5_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 176) {
    scalesK45(src, dst, 31, -0.5, 15);
    packQ5(dst);
  }
}

/** Q5_K low nibbles and high-bit plane from L. */
function packQ5(dst: usize): void {
  const qh = dst + 16;
  let ql = dst + 48;
  memory.fill(qh, 0, 32);
  let m1: u32 = 1, m2: u32 = 2;
  for (let n = 0; n < 256; n += 64, ql += 32) {
    for (let j = 0; j < 32; j++) {
      let l1 = <u32>load<u8>(L + n + j);
      let h = <u32>load<u8>(qh + j);
      if (l1 > 15) { l1 -= 16; h |= m1; }
      let l2 = <u32>load<u8>(L + n + j + 32);
      if (l2 > 15) { l2 -= 16; h |= m2; }
      store<u8>(qh + j, <u8>h);
      store<u8>(ql + j, <u8>(l1 | (l2 << 4)));
    }
    m1 <<= 2; m2 <<= 2;
  }
}

export function q2_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 84) {
    let maxScale: f32 = 0, maxMin: f32 = 0;
    for (let g = 0; g < 16; g += 4) {
      for (let k = 0; k < 4; k++) {
        const base = src + (<usize>(g + k) << 6);
        for (let l = 0; l < 16; l++) {
          const v = fAt(base, l);
          const t = (<usize>l << 4) + (<usize>k << 2);
          store<f32>(XT + t, v);
          store<f32>(WT + t, Mathf.abs(v));
        }
      }
      makeQkx2x4(16, 3, 16 * g, -0.5, <f32>0.1, 15, true, g);
    }
    for (let j = 0; j < 16; j++) {
      const s = fAt(SCALES, j), m = fAt(MINS, j);
      if (s > maxScale) maxScale = s;
      if (m > maxMin) maxMin = m;
    }
    if (maxScale > 0) {
      const iscale: f32 = <f32>15 / maxScale;
      for (let j = 0; j < 16; j++) store<u8>(dst + j, <u8>nearestInt(iscale * fAt(SCALES, j)));
      store<u16>(dst + 80, <u16>f32ToHalf(maxScale / <f32>15));
    } else {
      memory.fill(dst, 0, 16);
      store<u16>(dst + 80, 0);
    }
    if (maxMin > 0) {
      const iscale: f32 = <f32>15 / maxMin;
      for (let j = 0; j < 16; j++) store<u8>(dst + j, <u8>(<u32>load<u8>(dst + j) | (<u32>nearestInt(iscale * fAt(MINS, j)) << 4)));
      store<u16>(dst + 82, <u16>f32ToHalf(maxMin / <f32>15));
    } else {
      store<u16>(dst + 82, 0);
    }
    finishQ2(src, dst);
  }
}

/** Re-rounds every weight against the stored fp16 d/dmin and 4-bit scales; packs 2-bit levels. */
function finishQ2(src: usize, dst: usize): void {
  const d0 = halfToF32(<u32>load<u16>(dst + 80));
  const dmin0 = halfToF32(<u32>load<u16>(dst + 82));
  for (let j = 0; j < 16; j++) {
    const s = <u32>load<u8>(dst + j);
    const d: f32 = d0 * <f32>(s & 0xf);
    if (d == 0) continue;
    const dm: f32 = dmin0 * <f32>(s >> 4);
    const base = src + (<usize>j << 6);
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt((fAt(base, ii) + dm) / d);
      store<u8>(L + 16 * j + ii, <u8>(l < 0 ? 0 : l > 3 ? 3 : l));
    }
  }
  const q = dst + 16;
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      const v = <u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 2) | (<u32>load<u8>(L + j + l + 64) << 4) | (<u32>load<u8>(L + j + l + 96) << 6);
      store<u8>(q + (j >> 2) + l, <u8>v);
    }
  }
}

const GROUP_MAX_EPS: f32 = <f32>1e-15;
const LQ = memory.data(256 + 64); // int8 levels of Q3_K/Q6_K (+ Q3_K's imatrix scale levels)

/**
 * make_qx_quants(16, nmax, x, L, rmse_type = 1, NULL) for four sub-blocks at once (input at XT,
 * one per lane, each lane ggml's exact scalar sequence). Levels + nmax as int8 to LQ + lo0 + 16·k,
 * scales to SCALES[j0 + k].
 * Speed (Q6_K spends most of its time here): a trial keeps no levels, only the lane's winning
 * iscale, and the levels are rounded once more from it at the end (the same float ops, so the same
 * levels). With every input finite, |iscale·x| <= nmax + 1, where ggml's nearest_int (add 1.5·2^23,
 * read the mantissa) equals rounding in float (add 1.5·2^23, subtract it: exact), so a trial
 * rounds and clamps without leaving float lanes; a NaN or infinite input keeps the integer trick
 * (its wrap-around results are ggml's too).
 */
function makeQx1x4(nmax: i32, lo0: i32, j0: i32, useW: bool): void {
  const nb: usize = 16 << 4;
  const fzero = f32x4.splat(0);
  let amax = fzero, vmax = fzero, nonfinite = fzero;
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(XT + o);
    const ax = f32x4.abs(x);
    const gt = f32x4.gt(ax, amax);
    amax = v128.bitselect(ax, amax, gt);
    vmax = v128.bitselect(x, vmax, gt);
    nonfinite = v128.or(nonfinite, f32x4.ne(f32x4.sub(x, x), fzero)); // x - x: NaN for NaN and ±Inf
  }
  const inFloat = !v128.any_true(nonfinite);
  const done = f32x4.lt(amax, f32x4.splat(GROUP_MAX_EPS)); // all zero: levels 0, scale 0
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const lowL = i32x4.splat(-nmax);
  const highL = i32x4.splat(nmax - 1);
  const lowF = f32x4.splat(<f32>(-nmax));
  const highF = f32x4.splat(<f32>(nmax - 1));
  let iscale = f32x4.div(f32x4.splat(<f32>(-nmax)), vmax);
  let bestIscale = iscale;
  let sumlx = fzero, suml2 = fzero;
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(XT + o);
    const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(iscale, x), magic), mant), half), lowL), highL));
    const w = useW ? v128.load(WT + o) : f32x4.mul(x, x); // imatrix weights, or x²
    const wx = f32x4.mul(w, x);
    v128.store(WT + o, w);
    v128.store(XMT + o, wx);
    sumlx = f32x4.add(sumlx, f32x4.mul(wx, l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
  }
  let scale = v128.bitselect(f32x4.div(sumlx, suml2), fzero, f32x4.ne(suml2, fzero));
  let best = f32x4.mul(scale, sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = f32x4.div(f32x4.splat(-(<f32>nmax + <f32>0.1 * <f32>is)), vmax);
    sumlx = fzero; suml2 = fzero;
    if (inFloat) {
      for (let o: usize = 0; o < nb; o += 16) {
        const l = f32x4.pmin(f32x4.pmax(f32x4.sub(f32x4.add(f32x4.mul(iscale, v128.load(XT + o)), magic), magic), lowF), highF);
        sumlx = f32x4.add(sumlx, f32x4.mul(v128.load(XMT + o), l));
        suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(v128.load(WT + o), l), l));
      }
    } else {
      for (let o: usize = 0; o < nb; o += 16) {
        const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(iscale, v128.load(XT + o)), magic), mant), half), lowL), highL));
        sumlx = f32x4.add(sumlx, f32x4.mul(v128.load(XMT + o), l));
        suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(v128.load(WT + o), l), l));
      }
    }
    const take = v128.andnot(v128.and(f32x4.gt(suml2, fzero), f32x4.gt(f32x4.mul(sumlx, sumlx), f32x4.mul(best, suml2))), done);
    if (!v128.any_true(take)) continue;
    const ns = f32x4.div(sumlx, suml2);
    scale = v128.bitselect(ns, scale, take);
    best = v128.bitselect(f32x4.mul(ns, sumlx), best, take);
    bestIscale = v128.bitselect(iscale, bestIscale, take);
  }
  v128.store(SCALES + (<usize>j0 << 2), v128.bitselect(fzero, scale, done));
  // the winning levels, + nmax; 0 in all-zero lanes
  const vn = i32x4.splat(nmax);
  const dst = LQ + lo0;
  for (let i = 0; i < 16; i++) {
    const x = v128.load(XT + (<usize>i << 4));
    const l = v128.andnot(i32x4.add(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(bestIscale, x), magic), mant), half), lowL), highL), vn), done);
    store<i8>(dst + i, <i8>i32x4.extract_lane(l, 0));
    store<i8>(dst + i, <i8>i32x4.extract_lane(l, 1), 16);
    store<i8>(dst + i, <i8>i32x4.extract_lane(l, 2), 32);
    store<i8>(dst + i, <i8>i32x4.extract_lane(l, 3), 48);
  }
}

/** One Q6_K block; qw: the block's importances (ggml's _impl path), or 0 for the reference path. */
function q6KBlock(src: usize, dst: usize, qw: usize): void {
  let maxScale: f32 = 0, maxAbs: f32 = 0;
  for (let g = 0; g < 16; g += 4) {
    transpose4(src + (<usize>g << 6));
    if (qw) transpose4(qw + (<usize>g << 6), WT);
    makeQx1x4(32, 16 * g, g, qw != 0);
  }
  for (let ib = 0; ib < 16; ib++) {
    const s = fAt(SCALES, ib);
    const a = Mathf.abs(s);
    if (a > maxAbs) { maxAbs = a; maxScale = s; }
  }
  if (maxAbs < GROUP_MAX_EPS) {
    memory.fill(dst, 0, 210);
    return;
  }
  const iscale: f32 = <f32>-128 / maxScale;
  store<u16>(dst + 208, <u16>f32ToHalf(<f32>1 / iscale));
  const d0 = halfToF32(<u32>load<u16>(dst + 208));
  for (let ib = 0; ib < 16; ib++) {
    const l = nearestInt(iscale * fAt(SCALES, ib));
    store<i8>(dst + 192 + ib, <i8>(l < 127 ? l : 127));
  }
  // levels from the final scales: the same division and nearest_int per weight, four at a time
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const lo = i32x4.splat(-32), hi = i32x4.splat(31), off = i32x4.splat(32);
  for (let j = 0; j < 16; j++) {
    const d: f32 = d0 * <f32>load<i8>(dst + 192 + j);
    if (d == 0) continue;
    const base = src + (<usize>j << 6);
    const vd = f32x4.splat(d);
    const a = i32x4.add(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base), vd), magic), mant), half), lo), hi), off);
    const b = i32x4.add(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 16), vd), magic), mant), half), lo), hi), off);
    const c = i32x4.add(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 32), vd), magic), mant), half), lo), hi), off);
    const e = i32x4.add(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 48), vd), magic), mant), half), lo), hi), off);
    v128.store(LQ + 16 * j, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, e)));
  }
  let ql = dst, qh = dst + 128;
  for (let j = 0; j < 256; j += 128, ql += 64, qh += 32) {
    for (let l = 0; l < 32; l++) {
      const a = <u32>load<u8>(LQ + j + l), bb = <u32>load<u8>(LQ + j + l + 32);
      const c = <u32>load<u8>(LQ + j + l + 64), e = <u32>load<u8>(LQ + j + l + 96);
      store<u8>(ql + l, <u8>((a & 0xf) | ((c & 0xf) << 4)));
      store<u8>(ql + l + 32, <u8>((bb & 0xf) | ((e & 0xf) << 4)));
      store<u8>(qh + l, <u8>((a >> 4) | ((bb >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)));
    }
  }
}

export function q6_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 210) q6KBlock(src, dst, 0);
}

export function q6_K_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let i = 0; i < nb; i++, src += 1024, dst += 210) q6KBlock(src, dst, qw + (<usize>i << 10));
  }
}

/**
 * make_q3_quants(16, nmax, x, L, do_rmse = true) for four sub-blocks at once (input at XT, one per
 * lane, each lane ggml's exact scalar sequence; a lane's pass without changes leaves its state as
 * is, so passes run until no lane changes). Levels + nmax as int8 to LQ + lo0 + 16·k, scales to
 * SCALES[j0 + k].
 */
function makeQ3x4(nmax: i32, lo0: i32, j0: i32): void {
  const nb: usize = 16 << 4;
  const fzero = f32x4.splat(0);
  let amax = fzero, vmax = fzero;
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(XT + o);
    const ax = f32x4.abs(x);
    const gt = f32x4.gt(ax, amax);
    amax = v128.bitselect(ax, amax, gt);
    vmax = v128.bitselect(x, vmax, gt);
  }
  const done = f32x4.lt(amax, f32x4.splat(GROUP_MAX_EPS)); // all zero: levels 0, scale 0
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const lowL = i32x4.splat(-nmax);
  const highL = i32x4.splat(nmax - 1);
  const iscale = f32x4.div(f32x4.splat(<f32>(-nmax)), vmax);
  let sumlx = fzero, suml2 = fzero;
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(XT + o);
    const l = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(iscale, x), magic), mant), half), lowL), highL));
    v128.store(LBT + o, l);
    const w = f32x4.mul(x, x);
    const wx = f32x4.mul(w, x);
    v128.store(WT + o, w); // w and w·x are the same floats in every pass: computed once
    v128.store(XMT + o, wx);
    sumlx = f32x4.add(sumlx, f32x4.mul(wx, l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = false;
    for (let o: usize = 0; o < nb; o += 16) {
      const x = v128.load(XT + o);
      const w = v128.load(WT + o);
      const wx = v128.load(XMT + o);
      const li = v128.load(LBT + o);
      let slx = f32x4.sub(sumlx, f32x4.mul(wx, li));
      const c1 = f32x4.gt(slx, fzero);
      let sl2 = f32x4.sub(suml2, f32x4.mul(f32x4.mul(w, li), li));
      const nl = f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(f32x4.mul(x, sl2), slx), magic), mant), half), lowL), highL));
      const c2 = f32x4.ne(nl, li);
      slx = f32x4.add(slx, f32x4.mul(wx, nl));
      sl2 = f32x4.add(sl2, f32x4.mul(f32x4.mul(w, nl), nl));
      const c3 = v128.and(f32x4.gt(sl2, fzero), f32x4.gt(f32x4.mul(f32x4.mul(slx, slx), suml2), f32x4.mul(f32x4.mul(sumlx, sumlx), sl2)));
      const take = v128.and(v128.and(c1, c2), c3);
      // Changes are rare: a branch (not a select) keeps the sums off the per-element dependency
      // chain, so the CPU overlaps elements while no lane changes.
      if (v128.any_true(take)) {
        v128.store(LBT + o, v128.bitselect(nl, li, take));
        sumlx = v128.bitselect(slx, sumlx, take);
        suml2 = v128.bitselect(sl2, suml2, take);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const scale = v128.bitselect(f32x4.div(sumlx, suml2), fzero, f32x4.gt(suml2, fzero));
  v128.store(SCALES + (<usize>j0 << 2), v128.bitselect(fzero, scale, done));
  // levels + nmax (0 for all-zero lanes), transposed back to one sub-block per 16 bytes:
  // i32 rows of four levels per lane go to LAT + 64·k, then narrow to int8 at LQ
  const vn = i32x4.splat(nmax);
  for (let c: usize = 0; c < nb; c += 64) {
    const a = v128.andnot(i32x4.add(i32x4.trunc_sat_f32x4_s(v128.load(LBT + c)), vn), done);
    const b = v128.andnot(i32x4.add(i32x4.trunc_sat_f32x4_s(v128.load(LBT + c, 16)), vn), done);
    const d = v128.andnot(i32x4.add(i32x4.trunc_sat_f32x4_s(v128.load(LBT + c, 32)), vn), done);
    const e = v128.andnot(i32x4.add(i32x4.trunc_sat_f32x4_s(v128.load(LBT + c, 48)), vn), done);
    const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(d, e, 0, 4, 1, 5), t3 = i32x4.shuffle(d, e, 2, 6, 3, 7);
    const o = LAT + (c >> 2);
    v128.store(o, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(o, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 64);
    v128.store(o, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 128);
    v128.store(o, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 192);
  }
  for (let k = 0; k < 4; k++) {
    const r = LAT + (<usize>k << 6);
    const lo = i16x8.narrow_i32x4_s(v128.load(r), v128.load(r, 16));
    const hi = i16x8.narrow_i32x4_s(v128.load(r, 32), v128.load(r, 48));
    v128.store(LQ + lo0 + 16 * k, i8x16.narrow_i16x8_s(lo, hi));
  }
}

// @ts-ignore: decorator
@inline function scale6(s: usize, j: i32): i32 {
  const lo = j < 8 ? <i32>load<u8>(s + j) & 0xf : <i32>load<u8>(s + j - 8) >> 4;
  return (lo | (((<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/** Four consecutive 16-float sub-blocks at p to `to` (XT by default), one per lane (4×4 shuffle transposes). */
function transpose4(p: usize, to: usize = XT): void {
  for (let c: usize = 0; c < 64; c += 16) {
    const a = v128.load(p + c), b = v128.load(p + 64 + c), d = v128.load(p + 128 + c), e = v128.load(p + 192 + c);
    const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(d, e, 0, 4, 1, 5), t3 = i32x4.shuffle(d, e, 2, 6, 3, 7);
    const o = to + (c << 2);
    v128.store(o, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(o, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 16);
    v128.store(o, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 32);
    v128.store(o, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 48);
  }
}

export function q3_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 110) {
    let maxScale: f32 = 0, amax: f32 = 0;
    for (let g = 0; g < 16; g += 4) {
      transpose4(src + (<usize>g << 6));
      makeQ3x4(4, 16 * g, g);
    }
    for (let j = 0; j < 16; j++) {
      const s = fAt(SCALES, j);
      const a = Mathf.abs(s);
      if (a > amax) { amax = a; maxScale = s; }
    }
    const sp = dst + 96;
    memory.fill(sp, 0, 12);
    if (maxScale != 0) {
      const iscale: f32 = <f32>-32 / maxScale;
      for (let j = 0; j < 16; j++) {
        let l = <i32><i8>nearestInt(iscale * fAt(SCALES, j)); // C stores into int8_t first
        l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
        if (j < 8) store<u8>(sp + j, <u8>(l & 0xf));
        else store<u8>(sp + j - 8, <u8>(<i32>load<u8>(sp + j - 8) | ((l & 0xf) << 4)));
        store<u8>(sp + 8 + (j & 3), <u8>(<i32>load<u8>(sp + 8 + (j & 3)) | ((l >> 4) << (2 * (j >> 2)))));
      }
      store<u16>(dst + 108, <u16>f32ToHalf(<f32>1 / iscale));
    } else {
      store<u16>(dst + 108, 0);
    }
    finishQ3(src, dst);
  }
}

/** Re-rounds every weight against the stored scales; high bits to hmask, low 2 bits to qs. */
function finishQ3(src: usize, dst: usize): void {
  const sp = dst + 96;
  const d0 = halfToF32(<u32>load<u16>(dst + 108));
  for (let j = 0; j < 16; j++) {
    const d: f32 = d0 * <f32>scale6(sp, j);
    if (d == 0) continue;
    const base = src + (<usize>j << 6);
    // nearest_int(x / d) clamped to [-4, 3], plus 4, lane-wise; 16 levels narrowed to bytes
    const vd = f32x4.splat(d);
    const magic = f32x4.splat(12582912.0), mant = i32x4.splat(0x7fffff), bias = i32x4.splat(0x400000 - 4);
    const lo = i32x4.splat(0), hi = i32x4.splat(7);
    const a = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base), vd), magic), mant), bias), lo), hi);
    const b = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 16), vd), magic), mant), bias), lo), hi);
    const c = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 32), vd), magic), mant), bias), lo), hi);
    const e = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(base, 48), vd), magic), mant), bias), lo), hi);
    v128.store(LQ + 16 * j, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, e)));
  }
  // high bit of level j → hmask[j % 32] bit j / 32; low 2 bits → qs
  const three = i8x16.splat(3), four = i8x16.splat(4);
  for (let m = 0; m < 32; m += 16) {
    let h = i8x16.splat(0);
    for (let k = 0; k < 8; k++) {
      const p = LQ + 32 * k + m;
      const l = v128.load(p);
      const hi = i8x16.gt_u(l, three);
      h = v128.or(h, v128.and(hi, i8x16.splat(<i8>(<i32>1 << k))));
      v128.store(p, i8x16.sub(l, v128.and(hi, four)));
    }
    v128.store(dst + m, h);
  }
  const q = dst + 32;
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      const v = <u32>load<u8>(LQ + j + l) | (<u32>load<u8>(LQ + j + l + 32) << 2) | (<u32>load<u8>(LQ + j + l + 64) << 4) | (<u32>load<u8>(LQ + j + l + 96) << 6);
      store<u8>(q + (j >> 2) + l, <u8>v);
    }
  }
}

// ---- importance-matrix paths (ggml's quantize_row_q*_K_impl), row kernels for wasmRows ----

const SW = memory.data(16 * 4);

/** make_qp_quants(n, nmax, x, L, SW): levels (uint8, as C stores them) to Lp, returns the scale. */
function makeQp(n: i32, nmax: i32, x: usize, Lp: usize): f32 {
  let max: f32 = 0;
  for (let i = 0; i < n; i++) { const xi = fAt(x, i); max = max > xi ? max : xi; }
  if (max < GROUP_MAX_EPS) {
    memory.fill(Lp, 0, n);
    return 0;
  }
  let iscale: f32 = <f32>nmax / max;
  for (let i = 0; i < n; i++) store<u8>(Lp + i, <u8>nearestInt(iscale * fAt(x, i)));
  const scale: f32 = <f32>1 / iscale;
  let bestMse: f32 = 0;
  for (let i = 0; i < n; i++) {
    const diff: f32 = fAt(x, i) - scale * <f32>load<u8>(Lp + i);
    bestMse += fAt(SW, i) * diff * diff;
  }
  for (let is = -4; is <= 4; is++) {
    if (is == 0) continue;
    const iscaleIs: f32 = (<f32>0.1 * <f32>is + <f32>nmax) / max;
    const scaleIs: f32 = <f32>1 / iscaleIs;
    let mse: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = fAt(x, i);
      let l = nearestInt(iscaleIs * xi);
      if (l > nmax) l = nmax;
      const diff: f32 = xi - scaleIs * <f32>l;
      mse += fAt(SW, i) * diff * diff;
    }
    if (mse < bestMse) { bestMse = mse; iscale = iscaleIs; }
  }
  let sumlx: f32 = 0, suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = fAt(x, i);
    let l = nearestInt(iscale * xi);
    if (l > nmax) l = nmax;
    store<u8>(Lp + i, <u8>l);
    const w = fAt(SW, i);
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = fAt(SW, i);
      const xi = fAt(x, i);
      const li = <f32>load<u8>(Lp + i);
      let slx: f32 = sumlx - w * xi * li;
      let sl2: f32 = suml2 - w * li * li;
      if (slx > 0 && sl2 > 0) {
        let nl = nearestInt(xi * sl2 / slx);
        if (nl > nmax) nl = nmax;
        if (nl != <i32>load<u8>(Lp + i)) {
          const fn = <f32>nl;
          slx += w * xi * fn;
          sl2 += w * fn * fn;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(Lp + i, <u8>nl); sumlx = slx; suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** Q4_K/Q5_K block with importances at qw: weights qw·sqrt(sigma2 + x²), make_qkx3_quants, make_qp_quants. */
function imatrixK45(x: usize, qw: usize, dst: usize, nmax: i32, clamp63: bool): void {
  let sumX2: f32 = 0;
  for (let l = 0; l < 256; l++) { const v = fAt(x, l); sumX2 += v * v; }
  const sigma2: f32 = <f32>2 * sumX2 / <f32>256;
  for (let g = 0; g < 8; g += 4) {
    for (let k = 0; k < 4; k++) {
      const j = g + k;
      let sumw: f32 = 0;
      for (let l = 0; l < 32; l++) {
        const v = fAt(x, 32 * j + l);
        const w: f32 = fAt(qw, 32 * j + l) * Mathf.sqrt(sigma2 + v * v);
        const t = (<usize>l << 4) + (<usize>k << 2);
        store<f32>(XT + t, v);
        store<f32>(WT + t, w);
        sumw += w;
      }
      fPut(SW, j, sumw);
    }
    // make_qkx3_quants with weights given is make_qkx2_quants' arithmetic
    makeQkx2x4(32, nmax, 32 * g, <f32>-0.9, <f32>0.05, 36, false, g);
  }
  const dBlock = makeQp(8, 63, SCALES, LS);
  const mBlock = makeQp(8, 63, MINS, LM);
  if (clamp63) {
    for (let j = 0; j < 8; j++) {
      if (load<u8>(LS + j) > 63) store<u8>(LS + j, 63);
      if (load<u8>(LM + j) > 63) store<u8>(LM + j, 63);
    }
  }
  packK45(dst);
  store<u16>(dst, <u16>f32ToHalf(dBlock));
  store<u16>(dst + 2, <u16>f32ToHalf(mBlock));
  finishK45(x, dst, nmax);
}

export function q4_K_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let i = 0; i < nb; i++, src += 1024, dst += 144) {
      imatrixK45(src, qw + (<usize>i << 10), dst, 15, false);
      packQ4(dst);
    }
  }
}

export function q5_K_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let i = 0; i < nb; i++, src += 1024, dst += 176) {
      imatrixK45(src, qw + (<usize>i << 10), dst, 31, true);
      packQ5(dst);
    }
  }
}

export function q2_K_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let i = 0; i < nb; i++, src += 1024, dst += 84) {
      const q = qw + (<usize>i << 10);
      let sumX2: f32 = 0;
      for (let l = 0; l < 256; l++) { const v = fAt(src, l); sumX2 += v * v; }
      const sigma2: f32 = sumX2 / <f32>256;
      for (let g = 0; g < 16; g += 4) {
        for (let k = 0; k < 4; k++) {
          const j = g + k;
          let sumw: f32 = 0;
          for (let l = 0; l < 16; l++) {
            const v = fAt(src, 16 * j + l);
            const w: f32 = fAt(q, 16 * j + l) * Mathf.sqrt(sigma2 + v * v);
            const t = (<usize>l << 4) + (<usize>k << 2);
            store<f32>(XT + t, v);
            store<f32>(WT + t, w);
            sumw += w;
          }
          fPut(SW, j, sumw);
        }
        // make_qkx3_quants with weights given is make_qkx2_quants' arithmetic
        makeQkx2x4(16, 3, 16 * g, <f32>-0.9, <f32>0.05, 36, false, g);
      }
      const dm = makeQp(16, 15, SCALES, LS);
      const mm = makeQp(16, 15, MINS, LM);
      store<u16>(dst + 80, <u16>f32ToHalf(dm));
      store<u16>(dst + 82, <u16>f32ToHalf(mm));
      for (let j = 0; j < 16; j++) store<u8>(dst + j, <u8>(<u32>load<u8>(LS + j) | (<u32>load<u8>(LM + j) << 4)));
      finishQ2(src, dst);
    }
  }
}

export function q3_K_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let i = 0; i < nb; i++, src += 1024, dst += 110) {
      const q = qw + (<usize>i << 10);
      let sumX2: f32 = 0;
      for (let l = 0; l < 256; l++) { const v = fAt(src, l); sumX2 += v * v; }
      const sigma2: f32 = <f32>2 * sumX2 / <f32>256;
      for (let g = 0; g < 16; g += 4) {
        for (let k = 0; k < 4; k++) {
          const j = g + k;
          let sumw: f32 = 0;
          for (let l = 0; l < 16; l++) {
            const v = fAt(src, 16 * j + l);
            const w: f32 = fAt(q, 16 * j + l) * Mathf.sqrt(sigma2 + v * v);
            const t = (<usize>l << 4) + (<usize>k << 2);
            store<f32>(XT + t, v);
            store<f32>(WT + t, w);
            sumw += w;
          }
          fPut(SW, j, sumw);
        }
        makeQx1x4(4, 16 * g, g, true);
      }
      // make_qx_quants(16, 32, scales, Ls, 1, sw): the same search on the 16 scales, in every lane
      for (let l = 0; l < 16; l++) {
        v128.store(XT + (<usize>l << 4), f32x4.splat(fAt(SCALES, l)));
        v128.store(WT + (<usize>l << 4), f32x4.splat(fAt(SW, l)));
      }
      makeQx1x4(32, 256, 0, true);
      const dBlock = fAt(SCALES, 0);
      const sp = dst + 96;
      memory.fill(sp, 0, 12);
      for (let j = 0; j < 16; j++) {
        const l = <i32>load<i8>(LQ + 256 + j);
        if (j < 8) store<u8>(sp + j, <u8>(l & 0xf));
        else store<u8>(sp + j - 8, <u8>(<i32>load<u8>(sp + j - 8) | ((l & 0xf) << 4)));
        store<u8>(sp + 8 + (j & 3), <u8>(<i32>load<u8>(sp + 8 + (j & 3)) | ((l >> 4) << (2 * (j >> 2)))));
      }
      store<u16>(dst + 108, <u16>f32ToHalf(dBlock));
      finishQ3(src, dst);
    }
  }
}
