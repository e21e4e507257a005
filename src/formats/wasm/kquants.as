// K-quant kernels (AssemblyScript; compiled by scripts/build-wasm.mjs): Q2_K, Q4_K and Q5_K
// quantize without an imatrix (ggml's quantize_row_q*_K_ref). They mirror the TypeScript codecs in
// ../ggml (the reference, which also covers the imatrix paths); every f32 op here is one IEEE
// single-precision op, as in ggml's C, which is why this is far faster than Math.fround chains.
import { f32ToHalf, halfToF32 } from './common';

// scratch in linear memory (no allocation per block)
const XS = memory.data(32 * 4);
const WS = memory.data(32 * 4);
const XM = memory.data(32 * 4);
const CWL = memory.data(32 * 4);
const CWLL = memory.data(32 * 4);
const CWLX = memory.data(32 * 4);
const LAUX = memory.data(32);
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

const LAUXI = memory.data(32 * 4, 16); // candidate levels as i32
const FL = memory.data(32 * 4, 16); // candidate levels as f32
const TERM = memory.data(32 * 4, 16); // per-element error terms w·diff
const XS16 = memory.data(32 * 4, 16);
const XM16 = memory.data(32 * 4, 16);
const WS16 = memory.data(32 * 4, 16);

/**
 * make_qkx2_quants over n (16 or 32) floats at x with weights at WS (already filled): levels to
 * L + lo, -min to MINS[j], scale to SCALES[j]. Element-wise float ops run four lanes at a time
 * (each lane is the same single IEEE op C does); the sums stay sequential, in C's order. Same
 * exact shortcuts as search-k.ts's makeQkx2.
 */
function makeQkx2(n: i32, nmax: i32, x: usize, lo: i32, rmin: f32, rdelta: f32, nstep: i32, useMad: bool, j: i32): void {
  let min = load<f32>(x);
  let max = min;
  let sumW = fAt(WS, 0);
  let sumX = sumW * min;
  fPut(XS16, 0, min);
  fPut(WS16, 0, sumW);
  for (let i = 1; i < n; i++) {
    const xi = fAt(x, i);
    const w = fAt(WS, i);
    fPut(XS16, i, xi);
    fPut(WS16, i, w);
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW += w;
    sumX += w * xi;
  }
  if (min > 0) min = 0;
  if (max == min) {
    memory.fill(L + lo, 0, n);
    fPut(MINS, j, -min);
    fPut(SCALES, j, 0);
    return;
  }
  const fnmax = <f32>nmax;
  let iscale: f32 = fnmax / (max - min);
  let scale: f32 = <f32>1.0 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = fAt(XS16, i);
    const xm = xi - min;
    fPut(XM16, i, xm);
    let l = nearestInt(iscale * xm);
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    store<u8>(L + lo + i, <u8>l);
    let diff: f32 = scale * <f32>l + min - xi;
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    bestError += fAt(WS16, i) * diff;
  }
  if (nstep < 1) {
    fPut(MINS, j, -min);
    fPut(SCALES, j, scale);
    return;
  }
  memory.fill(LAUXI, 255, n << 2); // -1: no valid level, the first step computes everything
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const zero = i32x4.splat(0);
  const top = i32x4.splat(nmax);
  const nv = <usize>(n << 2);
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * <f32>is + fnmax) / (max - min);
    const vis = f32x4.splat(iscale);
    let diffMask = i32x4.splat(0);
    for (let k: usize = 0; k < nv; k += 16) {
      const t = f32x4.add(f32x4.mul(vis, v128.load(XM16 + k)), magic);
      const l = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(t, mant), half), zero), top);
      diffMask = v128.or(diffMask, i32x4.ne(l, v128.load(LAUXI + k)));
      v128.store(LAUXI + k, l);
      const fl = f32x4.convert_i32x4_s(l);
      v128.store(FL + k, fl);
      const wl = f32x4.mul(v128.load(WS16 + k), fl);
      v128.store(CWL + k, wl);
      v128.store(CWLL + k, f32x4.mul(wl, fl));
      v128.store(CWLX + k, f32x4.mul(wl, v128.load(XS16 + k)));
    }
    if (!v128.any_true(diffMask)) continue;
    let sumL: f32 = 0, sumL2: f32 = 0, sumXL: f32 = 0;
    for (let i = 0; i < n; i++) {
      sumL += fAt(CWL, i);
      sumL2 += fAt(CWLL, i);
      sumXL += fAt(CWLX, i);
    }
    const D: f32 = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale: f32 = (sumW * sumXL - sumX * sumL) / D;
      let thisMin: f32 = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      const vs = f32x4.splat(thisScale), vm = f32x4.splat(thisMin);
      for (let k: usize = 0; k < nv; k += 16) {
        let d = f32x4.sub(f32x4.add(f32x4.mul(vs, v128.load(FL + k)), vm), v128.load(XS16 + k));
        d = useMad ? f32x4.abs(d) : f32x4.mul(d, d);
        v128.store(TERM + k, f32x4.mul(v128.load(WS16 + k), d));
      }
      // weights here are |x|, av_x + |x| or imatrix·sqrt(·): never negative, so a losing sum
      // (float addition of non-negative terms never decreases) can stop early
      let curError: f32 = 0;
      let i = 0;
      for (; i < n; i++) {
        curError += fAt(TERM, i);
        if (curError >= bestError) break;
      }
      if (i == n && curError < bestError) {
        for (let k = 0; k < n; k++) store<u8>(L + lo + k, <u8>load<i32>(LAUXI + (<usize>k << 2)));
        bestError = curError;
        scale = thisScale;
        if (thisMin != min) {
          min = thisMin;
          const vmin = f32x4.splat(min);
          for (let k: usize = 0; k < nv; k += 16) v128.store(XM16 + k, f32x4.sub(v128.load(XS16 + k), vmin));
        }
      }
    }
  }
  fPut(MINS, j, -min);
  fPut(SCALES, j, scale);
}

/** Scale/min search of one Q4_K/Q5_K block, packed scales and fp16 d/dmin at dst; levels in L. */
function scalesK45(x: usize, dst: usize, nmax: i32, rmin: f32, nstep: i32): void {
  let maxScale: f32 = 0, maxMin: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const base = x + (<usize>j << 7);
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; l++) { const v = fAt(base, l); sumX2 += v * v; }
    const avX = Mathf.sqrt(sumX2 / <f32>32);
    for (let l = 0; l < 32; l++) fPut(WS, l, avX + Mathf.abs(fAt(base, l)));
    makeQkx2(32, nmax, base, 32 * j, rmin, <f32>0.1, nstep, false, j);
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
  store<u16>(dst, <u16>f32ToHalf(maxScale / <f32>63));
  store<u16>(dst + 2, <u16>f32ToHalf(maxMin / <f32>63));
  // re-round every weight against the stored fp16 scales (get_scale_min_k4)
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
    let q = dst + 16;
    for (let j = 0; j < 256; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) {
        store<u8>(q + l, <u8>(<u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 4)));
      }
    }
  }
}

export function q5_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 176) {
    scalesK45(src, dst, 31, -0.5, 15);
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
}

export function q2_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 84) {
    let maxScale: f32 = 0, maxMin: f32 = 0;
    for (let j = 0; j < 16; j++) {
      const base = src + (<usize>j << 6);
      for (let l = 0; l < 16; l++) fPut(WS, l, Mathf.abs(fAt(base, l)));
      makeQkx2(16, 3, base, 16 * j, -0.5, <f32>0.1, 15, true, j);
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
}

const GROUP_MAX_EPS: f32 = <f32>1e-15;
const LQ = memory.data(256); // int8 levels of Q3_K/Q6_K
const LPREV = memory.data(16 * 4, 16);
const CLX = memory.data(16 * 4, 16);
const CL2 = memory.data(16 * 4, 16);
const WX = memory.data(16 * 4, 16); // x²·x
const W2 = memory.data(16 * 4, 16); // x²

/**
 * make_qx_quants(n, nmax, x, L + lo, rmse_type = 1, qw = NULL): weights x², a search over 18
 * scales. A step whose levels equal the previous step's is skipped: its test and update would
 * reproduce the same state (the candidate depends only on the levels).
 */
function makeQx1(n: i32, nmax: i32, x: usize, lo: i32): f32 {
  let max: f32 = 0, amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = fAt(x, i);
    const ax = Mathf.abs(xi);
    if (ax > amax) { amax = ax; max = xi; }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(LQ + lo, 0, n);
    return 0;
  }
  let iscale: f32 = <f32>(-nmax) / max;
  let sumlx: f32 = 0, suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = fAt(x, i);
    let l = nearestInt(iscale * xi);
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    store<i8>(LQ + lo + i, <i8>(l + nmax));
    store<i32>(LPREV + (<usize>i << 2), l);
    const w = xi * xi;
    fPut(WX, i, w * xi);
    fPut(W2, i, w);
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  let best: f32 = scale * sumlx;
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x7fffff);
  const half = i32x4.splat(0x400000);
  const lowL = i32x4.splat(-nmax);
  const highL = i32x4.splat(nmax - 1);
  const nv = <usize>(n << 2);
  for (let is = 0; is <= 18; is++) {
    if (is == 9) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>(is - 9)) / max;
    const vis = f32x4.splat(iscale);
    let diffMask = i32x4.splat(0);
    for (let k: usize = 0; k < nv; k += 16) {
      const t = f32x4.add(f32x4.mul(vis, v128.load(x + k)), magic);
      const l = i32x4.min_s(i32x4.max_s(i32x4.sub(v128.and(t, mant), half), lowL), highL);
      diffMask = v128.or(diffMask, i32x4.ne(l, v128.load(LPREV + k)));
      v128.store(LPREV + k, l);
      const fl = f32x4.convert_i32x4_s(l);
      v128.store(CLX + k, f32x4.mul(v128.load(WX + k), fl));
      v128.store(CL2 + k, f32x4.mul(f32x4.mul(v128.load(W2 + k), fl), fl));
    }
    if (!v128.any_true(diffMask)) continue;
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      sumlx += fAt(CLX, i);
      suml2 += fAt(CL2, i);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) store<i8>(LQ + lo + i, <i8>(load<i32>(LPREV + (<usize>i << 2)) + nmax));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

export function q6_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 210) {
    let maxScale: f32 = 0, maxAbs: f32 = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQx1(16, 32, src + (<usize>ib << 6), 16 * ib);
      fPut(SCALES, ib, s);
      const a = Mathf.abs(s);
      if (a > maxAbs) { maxAbs = a; maxScale = s; }
    }
    if (maxAbs < GROUP_MAX_EPS) {
      memory.fill(dst, 0, 210);
      continue;
    }
    const iscale: f32 = <f32>-128 / maxScale;
    store<u16>(dst + 208, <u16>f32ToHalf(<f32>1 / iscale));
    const d0 = halfToF32(<u32>load<u16>(dst + 208));
    for (let ib = 0; ib < 16; ib++) {
      const l = nearestInt(iscale * fAt(SCALES, ib));
      store<i8>(dst + 192 + ib, <i8>(l < 127 ? l : 127));
    }
    for (let j = 0; j < 16; j++) {
      const d: f32 = d0 * <f32>load<i8>(dst + 192 + j);
      if (d == 0) continue;
      const base = src + (<usize>j << 6);
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fAt(base, ii) / d);
        store<i8>(LQ + 16 * j + ii, <i8>((l < -32 ? -32 : l > 31 ? 31 : l) + 32));
      }
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
}

/** make_q3_quants(n, nmax, x, LQ + lo, do_rmse = true). */
function makeQ3(n: i32, nmax: i32, x: usize, lo: i32): f32 {
  let max: f32 = 0, amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = fAt(x, i);
    const ax = Mathf.abs(xi);
    if (ax > amax) { amax = ax; max = xi; }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(LQ + lo, 0, n);
    return 0;
  }
  const iscale: f32 = <f32>(-nmax) / max;
  let sumlx: f32 = 0, suml2: f32 = 0;
  const Lp = LQ + lo;
  for (let i = 0; i < n; i++) {
    const xi = fAt(x, i);
    let l = nearestInt(iscale * xi);
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    store<i8>(Lp + i, <i8>l);
    const w = xi * xi;
    sumlx += w * xi * <f32>l;
    suml2 += w * <f32>l * <f32>l;
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = fAt(x, i);
      const w = xi * xi;
      const li = <f32>load<i8>(Lp + i);
      let slx: f32 = sumlx - w * xi * li;
      if (slx > 0) {
        let sl2: f32 = suml2 - w * li * li;
        let nl = nearestInt(xi * sl2 / slx);
        nl = nl < -nmax ? -nmax : nl > nmax - 1 ? nmax - 1 : nl;
        if (nl != <i32>load<i8>(Lp + i)) {
          const fn = <f32>nl;
          slx += w * xi * fn;
          sl2 += w * fn * fn;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<i8>(Lp + i, <i8>nl); sumlx = slx; suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  for (let i = 0; i < n; i++) store<i8>(Lp + i, <i8>(<i32>load<i8>(Lp + i) + nmax));
  return suml2 > 0 ? sumlx / suml2 : 0;
}

// @ts-ignore: decorator
@inline function scale6(s: usize, j: i32): i32 {
  const lo = j < 8 ? <i32>load<u8>(s + j) & 0xf : <i32>load<u8>(s + j - 8) >> 4;
  return (lo | (((<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

export function q3_K_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 110) {
    let maxScale: f32 = 0, amax: f32 = 0;
    for (let j = 0; j < 16; j++) {
      const s = makeQ3(16, 4, src + (<usize>j << 6), 16 * j);
      fPut(SCALES, j, s);
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
    const d0 = halfToF32(<u32>load<u16>(dst + 108));
    for (let j = 0; j < 16; j++) {
      const d: f32 = d0 * <f32>scale6(sp, j);
      if (d == 0) continue;
      const base = src + (<usize>j << 6);
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fAt(base, ii) / d);
        store<i8>(LQ + 16 * j + ii, <i8>((l < -4 ? -4 : l > 3 ? 3 : l) + 4));
      }
    }
    // high bit of level j → hmask[j % 32] bit j / 32; low 2 bits → qs
    for (let m = 0; m < 32; m++) {
      let h: u32 = 0;
      for (let k = 0; k < 8; k++) {
        const p = LQ + 32 * k + m;
        const l = <u32>load<u8>(p);
        if (l > 3) { h |= <u32>1 << k; store<u8>(p, <u8>(l - 4)); }
      }
      store<u8>(dst + m, <u8>h);
    }
    const q = dst + 32;
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        const v = <u32>load<u8>(LQ + j + l) | (<u32>load<u8>(LQ + j + l + 32) << 2) | (<u32>load<u8>(LQ + j + l + 64) << 4) | (<u32>load<u8>(LQ + j + l + 96) << 6);
        store<u8>(q + (j >> 2) + l, <u8>v);
      }
    }
  }
}
