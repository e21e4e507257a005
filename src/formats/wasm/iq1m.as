// IQ1_M quantize (AssemblyScript; compiled by scripts/build-wasm.mjs): ggml's quantize_row_iq1_m_impl
// (ggml-quants.c of ggml 0.23.0). The TypeScript codec (../ggml/iq1_m.ts) stays the reference.
// Shares with IQ1_S (iq2.as) the 2048-point grid, its map and neighbour lists, the sort (glibc's
// merge sort order) and the neighbour search; where ggml aborts (no neighbour below FLT_MAX, a NaN
// scale) or the sort order needs glibc's merge sort with NaN, the kernel raises iq2.as's flag and
// the codec reruns its TypeScript path.
// Every f32 op is one IEEE single op in C's order (no fused multiply-add). The four shift
// combinations k (0: +,+  1: +,-  2: -,+  3: -,-) are the four lanes of one f32x4: ggml's
// sumqx[k] and sumq2[k] are lane k of S and Q, each lane added in C's order j = 0..15. The terms
// weight·x_k·x and weight·x_k·x_k of each sorted position and level are formed once per block (the
// same float32 products C forms per split), and splits sharing i1 (and i2) share their sums up to
// there, which is C's sequence of additions.
import { f32ToHalf } from './common';
import { KG2048, iq1Map, iq1Lists, iq1Neighbour, iq1Sort, iq2Fail, nearestInt } from './iq2';

const WB = memory.data(256 * 4, 16); // the super-block's weights (C computes them twice, alike)
const IXM = memory.data(16 * 4, 16); // sorted order of the 16-block
// per sorted position j and level l at 3j + l (one spare for the pipelined prefix): the lane terms
const TX = memory.data(51 * 16, 16);
const TQ = memory.data(51 * 16, 16);
const LM = memory.data(16, 16); // levels
const GM = memory.data(2 * 4, 16); // grid indices of the two groups of 8
const SCM = memory.data(16 * 4, 16); // block scales
const SHM = memory.data(16 * 4, 16); // block shifts (k)

// x_p and x_m of ggml (IQ1M_DELTA = 0.125)
// @ts-ignore: decorator
@inline const XP0: f32 = -0.875;
// @ts-ignore: decorator
@inline const XP1: f32 = 0.125;
// @ts-ignore: decorator
@inline const XP2: f32 = 1.125;
// @ts-ignore: decorator
@inline const XM0: f32 = -1.125;
// @ts-ignore: decorator
@inline const XM1: f32 = -0.125;
// @ts-ignore: decorator
@inline const XM2: f32 = 0.875;

// the best split so far (ggml's best_score, scale, besti1, besti2, best_k)
let bestScore: f32 = 0, bestScale: f32 = 0;
let besti1 = -1, besti2 = -1, bestK = -1;

/** ggml's test of one shift combination k at split (i1, i2). */
// @ts-ignore: decorator
@inline function cand(s: f32, q: f32, k: i32, i1: i32, i2: i32): void {
  if (q > 0 && s * s > bestScore * q) {
    bestScale = s / q; bestScore = bestScale * s;
    besti1 = i1; besti2 = i2; bestK = k;
  }
}

/** The four combinations of one split, in C's order k = 0..3; skipped at once when no lane can
 *  pass at the current best (the best does not change then, so the sequential tests agree). */
// @ts-ignore: decorator
@inline function test4(s: v128, q: v128, i1: i32, i2: i32): void {
  const vb = f32x4.splat(bestScore);
  const m = v128.and(f32x4.gt(q, f32x4.splat(0)), f32x4.gt(f32x4.mul(s, s), f32x4.mul(vb, q)));
  if (!v128.any_true(m)) return;
  cand(f32x4.extract_lane(s, 0), f32x4.extract_lane(q, 0), 0, i1, i2);
  cand(f32x4.extract_lane(s, 1), f32x4.extract_lane(q, 1), 1, i1, i2);
  cand(f32x4.extract_lane(s, 2), f32x4.extract_lane(q, 2), 2, i1, i2);
  cand(f32x4.extract_lane(s, 3), f32x4.extract_lane(q, 3), 3, i1, i2);
}

/** The exhaustive split search of the sorted 16-block (terms at TX, TQ). */
function search(): void {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  for (let i1 = 0; i1 <= 16; i1++) {
    if (i1 > 0) {
      const o = <usize>(3 * (i1 - 1)) << 4;
      a = f32x4.add(a, v128.load(TX + o)); b = f32x4.add(b, v128.load(TQ + o));
    }
    let p = a, r = b; // sums of the split (i1, i2): levels 0 below i1, 1 from i1 below i2
    let i2 = i1;
    // two splits at a time, i2 and i2 + 1: their level-2 tails are two independent chains
    for (; i2 < 16; i2 += 2) {
      const o1 = <usize>(3 * i2) << 4;
      const p1 = f32x4.add(p, v128.load(TX + o1 + 16)), r1 = f32x4.add(r, v128.load(TQ + o1 + 16));
      let s0 = f32x4.add(p, v128.load(TX + o1 + 32)), q0 = f32x4.add(r, v128.load(TQ + o1 + 32));
      let s1 = p1, q1 = r1;
      for (let j = i2 + 1; j < 16; j++) {
        const o = (<usize>(3 * j) << 4) + 32;
        const tx = v128.load(TX + o), tq = v128.load(TQ + o);
        s0 = f32x4.add(s0, tx); s1 = f32x4.add(s1, tx);
        q0 = f32x4.add(q0, tq); q1 = f32x4.add(q1, tq);
      }
      test4(s0, q0, i1, i2);
      test4(s1, q1, i1, i2 + 1);
      // on to split i2 + 2 (at i2 = 15 this reads the spare entry and is not used)
      p = f32x4.add(p1, v128.load(TX + o1 + 64)); r = f32x4.add(r1, v128.load(TQ + o1 + 64));
    }
    if (i2 == 16) test4(p, r, i1, 16);
  }
}

/** One IQ1_M super-block: 256 floats at x → 56 bytes at y, importances at qw (0: weights x²). */
function quantIq1m(x: usize, y: usize, qw: usize): void {
  const map = iq1Map(), nb = iq1Lists();
  memory.fill(y, 0, 56);
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); sumx2 += v * v; }
  const sigma2: f32 = <f32>2 * sumx2 / <f32>256;
  if (qw) {
    for (let i = 0; i < 256; i++) {
      const v = load<f32>(x + (<usize>i << 2));
      store<f32>(WB + (<usize>i << 2), load<f32>(qw + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v));
    }
  } else {
    for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); store<f32>(WB + (<usize>i << 2), v * v); }
  }
  // lane factors x_k of level l for the first and second group of 8
  const f0 = f32x4(XP0, XP0, XM0, XM0), f1 = f32x4(XP1, XP1, XM1, XM1), f2 = f32x4(XP2, XP2, XM2, XM2);
  const h0 = f32x4(XP0, XM0, XP0, XM0), h1 = f32x4(XP1, XM1, XP1, XM1), h2 = f32x4(XP2, XM2, XP2, XM2);
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6), wb = WB + (<usize>ib << 6);
    let max = abs<f32>(load<f32>(xb));
    let nan = max != max;
    for (let i = 1; i < 16; i++) {
      const a = abs<f32>(load<f32>(xb + (<usize>i << 2)));
      if (a != a) nan = true;
      max = max > a ? max : a;
    }
    if (nan) { iq2Fail(); return; } // glibc's merge sort with NaN: the TypeScript path
    if (max < <f32>1e-7) { store<f32>(SCM + (<usize>ib << 2), 0); store<i32>(SHM + (<usize>ib << 2), 0); continue; }
    iq1Sort(xb, IXM, 16);
    for (let j = 0; j < 16; j++) {
      const i = load<i32>(IXM + (<usize>j << 2));
      const w = f32x4.splat(load<f32>(wb + (<usize>i << 2))), v = f32x4.splat(load<f32>(xb + (<usize>i << 2)));
      const first = i < 8;
      const o = <usize>(3 * j) << 4;
      let f = first ? f0 : h0;
      let t = f32x4.mul(w, f);
      v128.store(TX + o, f32x4.mul(t, v)); v128.store(TQ + o, f32x4.mul(t, f));
      f = first ? f1 : h1;
      t = f32x4.mul(w, f);
      v128.store(TX + o + 16, f32x4.mul(t, v)); v128.store(TQ + o + 16, f32x4.mul(t, f));
      f = first ? f2 : h2;
      t = f32x4.mul(w, f);
      v128.store(TX + o + 32, f32x4.mul(t, v)); v128.store(TQ + o + 32, f32x4.mul(t, f));
    }
    bestScore = -F32.MAX_VALUE; bestScale = max;
    besti1 = -1; besti2 = -1; bestK = -1;
    search();
    let scale = bestScale, k4 = bestK;
    if (besti1 < 0 || besti2 < 0 || k4 < 0) { store<f32>(SCM + (<usize>ib << 2), 0); store<i32>(SHM + (<usize>ib << 2), 0); continue; }
    for (let j = 0; j < 16; j++) {
      store<u8>(LM + <usize>load<i32>(IXM + (<usize>j << 2)), <u8>(j < besti1 ? 0 : j < besti2 ? 1 : 2));
    }
    if (scale < 0) {
      for (let j = 0; j < 16; j++) store<u8>(LM + <usize>j, <u8>(2 - load<u8>(LM + <usize>j)));
      scale = -scale;
      k4 = 3 - k4;
    }
    let allOnGrid = true;
    for (let k = 0; k < 2; k++) {
      const plus = k == 0 ? k4 < 2 : (k4 & 1) == 0;
      let u = 0;
      for (let j = 0; j < 8; j++) u |= <i32>load<u8>(LM + <usize>(8 * k + j)) << (2 * j);
      let gi = load<i32>(map + (<usize>u << 2));
      if (gi < 0) {
        allOnGrid = false;
        const o = <usize>(8 * k) << 2;
        gi = plus
          ? iq1Neighbour(nb, gi, xb + o, wb + o, scale, XP0, XP1, XP2)
          : iq1Neighbour(nb, gi, xb + o, wb + o, scale, XM0, XM1, XM2);
        if (gi < 0) { iq2Fail(); return; }
      }
      store<i32>(GM + (<usize>k << 2), gi);
    }
    if (!allOnGrid) {
      let sumqx: f32 = 0, sumq2: f32 = 0;
      for (let k = 0; k < 2; k++) {
        const plus = k == 0 ? k4 < 2 : (k4 & 1) == 0;
        const g0: f32 = plus ? XP0 : XM0, g1: f32 = plus ? XP1 : XM1, g2: f32 = plus ? XP2 : XM2;
        const c = <i32>load<u16>(KG2048 + (<usize>load<i32>(GM + (<usize>k << 2)) << 1));
        for (let j = 0; j < 8; j++) {
          const l = (c >> (2 * j)) & 3;
          const w = load<f32>(wb + (<usize>(8 * k + j) << 2));
          const q = l == 0 ? g0 : l == 1 ? g1 : g2;
          sumqx += w * q * load<f32>(xb + (<usize>(8 * k + j) << 2));
          sumq2 += w * q * q;
        }
      }
      if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
    }
    const i0 = load<i32>(GM), i1 = load<i32>(GM + 4);
    store<u8>(y + (<usize>ib << 1), <u8>i0);
    store<u8>(y + (<usize>ib << 1) + 1, <u8>i1);
    store<u8>(y + 32 + <usize>ib, <u8>((i0 >> 8) | ((i1 >> 8) << 4)));
    if (!(scale >= 0)) { iq2Fail(); return; }
    store<f32>(SCM + (<usize>ib << 2), scale);
    store<i32>(SHM + (<usize>ib << 2), k4);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  let d: f32 = maxScale / 15;
  const id: f32 = <f32>1 / d;
  let sumqx: f32 = 0, sumq2: f32 = 0;
  let sc0 = 0, sc1 = 0, sc2 = 0, sc3 = 0;
  for (let ib = 0; ib < 16; ib++) {
    let l = nearestInt(<f32>0.5 * (id * load<f32>(SCM + (<usize>ib << 2)) - <f32>1));
    l = l < 0 ? 0 : l > 7 ? 7 : l;
    const bits = l << (3 * (ib & 3));
    if (ib < 4) sc0 |= bits; else if (ib < 8) sc1 |= bits; else if (ib < 12) sc2 |= bits; else sc3 |= bits;
    const sh = load<i32>(SHM + (<usize>ib << 2));
    // masks {0x00, 0x80, 0x08, 0x88}: bit 3 for k ≥ 2 (first group's shift), bit 7 for odd k
    const qh = <i32>load<u8>(y + 32 + <usize>ib) | ((sh & 1) << 7) | ((sh >> 1) << 3);
    store<u8>(y + 32 + <usize>ib, <u8>qh);
    const xb = x + (<usize>ib << 6), wb = WB + (<usize>ib << 6);
    const mi: i32 = 2 * l + 1;
    const m = <f32>mi;
    for (let k = 0; k < 2; k++) {
      const plus = k == 0 ? sh < 2 : (sh & 1) == 0;
      const g0: f32 = (plus ? XP0 : XM0) * m, g1: f32 = (plus ? XP1 : XM1) * m, g2: f32 = (plus ? XP2 : XM2) * m;
      const gi = <i32>load<u8>(y + (<usize>ib << 1) + k) + ((qh << (8 - 4 * k)) & 0x700);
      const c = <i32>load<u16>(KG2048 + (<usize>gi << 1));
      for (let j = 0; j < 8; j++) {
        const lv = (c >> (2 * j)) & 3;
        const q = lv == 0 ? g0 : lv == 1 ? g1 : g2;
        const wq = load<f32>(wb + (<usize>(8 * k + j) << 2)) * q;
        sumqx += wq * load<f32>(xb + (<usize>(8 * k + j) << 2));
        sumq2 += wq * q;
      }
    }
  }
  if (sumq2 > 0) d = sumqx / sumq2;
  const s = <i32>f32ToHalf(d * <f32>1.1125);
  sc0 |= (s & 0x000f) << 12;
  sc1 |= (s & 0x00f0) << 8;
  sc2 |= (s & 0x0f00) << 4;
  sc3 |= s & 0xf000;
  store<u16>(y + 48, <u16>sc0);
  store<u16>(y + 50, <u16>sc1);
  store<u16>(y + 52, <u16>sc2);
  store<u16>(y + 54, <u16>sc3);
}

/** Without an importance matrix: nb independent super-blocks. */
export function iq1_m_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) quantIq1m(src + (<usize>b << 10), dst + <usize>b * 56, 0);
}

export function iq1_m_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantIq1m(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 56, qw + (<usize>b << 10));
    }
  }
}
