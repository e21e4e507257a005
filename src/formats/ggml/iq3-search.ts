// The per-32-value search shared by IQ3_XXS and IQ3_S (quantize_row_iq3_xxs_impl and
// quantize_row_iq3_s_impl in ggml-quants.c): values are quantized by magnitude (signs are stored
// apart) to groups of four levels that must be points of the grid; a scale search tries 2·ntry+1
// scales, snapping off-grid groups to their best neighbour (iq3_find_best_neighbour), then one
// final pass re-snaps the off-grid groups at the chosen scale. All arithmetic is ggml's float32
// (Math.fround at every C rounding); the scratch state lives in module-level typed arrays.
import { LowbitError } from '../../errors.js';
import type { Iq3Grid } from './iq3-grids.js';
import { nearestInt as nearestInt_ } from './search.js';

const fround = Math.fround;
const nearestInt = nearestInt_;
const FLT_MAX = 3.4028234663852886e38;
const F02 = fround(0.2);

/** |x| of the current 32 values (one of them negated back by IQ3_XXS's sign parity rule) */
export const XVAL = new Float64Array(32);
/** per-value weights: x² or imatrix·sqrt(sigma2 + x²) */
export const WEIGHT = new Float64Array(32);
/** sqrt of WEIGHT: the weights of the neighbour search */
const WAUX = new Float64Array(32);
/** levels 0..7 of the result */
export const LEVELS = new Uint8Array(32);
const LAUX = new Uint8Array(32);
/** WXQ[8i + l] = fround(fround(w·x)·q) and WQQ[8i + l] = fround(fround(w·q)·q) for q = 2l + 1 */
const WXQ = new Float64Array(256);
const WQQ = new Float64Array(256);
/** SQ[l] = fround(scale·(2l + 1)) for the scale of the current neighbour search */
const SQ = new Float64Array(8);

/** sigma2 of a 256-value super-block: 2·Σx²/256 in float32. */
export function sigma2Of(x: Float32Array, off: number): number {
  let s = 0;
  for (let i = 0; i < 256; i++) { const v = x[off + i]!; s = fround(s + fround(v * v)); }
  return fround(fround(2 * s) / 256);
}

/** WEIGHT for the 32 values at x[off] (qw: the imatrix slice at qwOff, or null). */
export function setWeights(x: Float32Array, off: number, qw: Float32Array | null, qwOff: number, sigma2: number): void {
  if (qw) {
    for (let i = 0; i < 32; i++) {
      const v = x[off + i]!;
      WEIGHT[i] = fround(qw[qwOff + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
    }
  } else {
    for (let i = 0; i < 32; i++) { const v = x[off + i]!; WEIGHT[i] = fround(v * v); }
  }
}

function tooLarge(name: string): never {
  throw new LowbitError(`${name}: a block holds values ggml cannot quantize (non-finite, or so large that squares overflow float32); llama.cpp aborts on them`);
}

/** per group k: 1 when its four WAUX are each 0 or in [1e-18, ∞) and its XVAL finite (the fast path is safe) */
const FAST = new Uint8Array(8);
/** per group k: C = Σ waux·x² and 225·Σ waux (a bound on Σ waux·q² of any grid point) */
const GC = new Float64Array(8);
const GAMAX = new Float64Array(8);
/**
 * Per group k and lattice point u (index 4096k + u), for the current 32 values: a record (slot)
 * holding, for each neighbour of u in ggml's order, A = Σ waux·q² and B2 = 2·Σ waux·q·x in the
 * pools (they do not depend on the scale, and the search asks for the same u at many scales), and
 * what the last full evaluation found: the best neighbour JB at scale SP, the gap SG to the
 * runner-up in s·A - B2 and SM ≥ max |A_j - A_JB|, so that the gap at another scale s is at least
 * SG - SM·|s - SP| (each gap is linear in s).
 */
const SLOT = new Int32Array(8 * 4096);
const SLOT_STAMP = new Uint32Array(8 * 4096);
const MAX_SLOTS = 8 * 32;
const POFF = new Int32Array(MAX_SLOTS);
const JB = new Int32Array(MAX_SLOTS);
const SP = new Float64Array(MAX_SLOTS);
const SG = new Float64Array(MAX_SLOTS);
const SM = new Float64Array(MAX_SLOTS);
const POOL_A = new Float64Array(MAX_SLOTS * 40);
const POOL_B2 = new Float64Array(MAX_SLOTS * 40);
let slotsUsed = 0;
let poolUsed = 0;
let stamp = 0;
/** the scale SQ was computed for */
let sqScale = 0;
let verify = false;

/**
 * Test hook: when on, every fast-path answer of the neighbour search is checked against ggml's
 * float32 evaluation (a mismatch throws), so tests can exercise the shortcut on many inputs.
 */
export function setIq3FastPathCheck(on: boolean): void {
  verify = on;
}

/**
 * Whether float32's evaluation of the errors must pick the neighbour whose float64 model error
 * is d1 over every neighbour whose model error is d1 + sg or more (see bestNeighbour). The model
 * s·(s·A - B2) + C differs from ggml's float32 sum Σ waux·(fround(fround(s·q) - x))² (products and
 * sums rounded) by at most tol(d) = 5e-7·d + 1.5e-7·s·sqrt(Amax·d) + c: 7·2^-24 relative for
 * the roundings after the subtraction, 2·2^-24·s·sqrt(A·d) (Cauchy-Schwarz) for the rounding of
 * s·q, and c = 1e-13·(s²·Amax + C) for float64's own rounding. sg - tol(d1) - tol(d1 + sg) grows
 * with sg once d1 ≥ 1e-12·s²·Amax, so checking the smallest gap covers every other neighbour.
 */
function separated(d1: number, sg: number, s: number, amax: number, cc: number): boolean {
  if (!(d1 >= 1e-30 && d1 <= 1e37 && d1 >= 1e-12 * s * s * amax)) return false;
  if (sg === Infinity) return true; // a single neighbour
  const d2 = d1 + sg;
  return sg - 5e-7 * (d1 + d2) - 1.5e-7 * s * Math.sqrt(amax) * (Math.sqrt(d1) + Math.sqrt(d2)) - 2e-13 * (s * s * amax + cc) > 0;
}

/**
 * iq3_find_best_neighbour for group k (values 4k..4k+3) against SQ (the scale s's level values):
 * the first neighbour with the smallest weighted squared error Σ waux·(fround(s·q) - x)². Writes
 * its levels to out.
 *
 * Fast path: in float64 that error is modelled as s·(s·A - B2) + C with A, B2 per neighbour (they
 * do not depend on the scale) and C common; when the best model error is separated from every
 * other by more than the model's error bound (separated()), it is float32's unique minimum too.
 * A lower bound of the gap from the slot's last evaluation often shows that without looking at
 * the other neighbours. Otherwise (near ties, extremes) ggml's float32 evaluation decides, in
 * ggml's order.
 */
function bestNeighbour(g: Iq3Grid, u: number, k4: number, out: Uint8Array, name: string): void {
  const nb = g.neighbours, lv = g.levels;
  const off = -g.map[u]! - 1;
  const n = nb[off]!;
  const x0 = XVAL[k4]!, x1 = XVAL[k4 + 1]!, x2 = XVAL[k4 + 2]!, x3 = XVAL[k4 + 3]!;
  const w0 = WAUX[k4]!, w1 = WAUX[k4 + 1]!, w2 = WAUX[k4 + 2]!, w3 = WAUX[k4 + 3]!;
  let gi = -1;
  const k = k4 >> 2;
  const s = sqScale;
  if (FAST[k] === 1 && s >= 1e-30 && s < Infinity) {
    const key = 4096 * k + u;
    let si: number;
    if (SLOT_STAMP[key] === stamp) si = SLOT[key]!;
    else {
      if (slotsUsed === MAX_SLOTS || poolUsed + n > POOL_A.length) { slotsUsed = 0; poolUsed = 0; SLOT_STAMP.fill(0); } // not reached: ≤ 8·31 + 8 lists per block
      si = slotsUsed++;
      const p = poolUsed;
      poolUsed += n;
      SLOT[key] = si;
      SLOT_STAMP[key] = stamp;
      POFF[si] = p;
      SG[si] = -1;
      for (let j = 0; j < n; j++) {
        const b = 4 * nb[off + 1 + j]!;
        const q0 = 2 * lv[b]! + 1, q1 = 2 * lv[b + 1]! + 1, q2 = 2 * lv[b + 2]! + 1, q3 = 2 * lv[b + 3]! + 1;
        POOL_A[p + j] = w0 * q0 * q0 + w1 * q1 * q1 + w2 * q2 * q2 + w3 * q3 * q3;
        POOL_B2[p + j] = 2 * (w0 * q0 * x0 + w1 * q1 * x1 + w2 * q2 * x2 + w3 * q3 * x3);
      }
    }
    const p = POFF[si]!;
    const cc = GC[k]!;
    const amax = GAMAX[k]!;
    const sg = SG[si]!;
    if (sg >= 0) {
      const jb = JB[si]!;
      const d1 = s * (s * POOL_A[p + jb]! - POOL_B2[p + jb]!) + cc;
      const glb = sg - SM[si]! * Math.abs(s - SP[si]!);
      if (glb > 0 && separated(d1, s * glb, s, amax, cc)) gi = nb[off + 1 + jb]!;
    }
    if (gi < 0) {
      let b1 = Infinity, b2 = Infinity, jb = 0;
      for (let j = 0; j < n; j++) {
        const e = s * POOL_A[p + j]! - POOL_B2[p + j]!;
        if (e < b2) {
          if (e < b1) { b2 = b1; b1 = e; jb = j; } else b2 = e;
        }
      }
      if (separated(s * b1 + cc, s * (b2 - b1), s, amax, cc)) {
        gi = nb[off + 1 + jb]!;
        const ab = POOL_A[p + jb]!;
        let m = 0;
        for (let j = 0; j < n; j++) { const da = Math.abs(POOL_A[p + j]! - ab); if (da > m) m = da; }
        JB[si] = jb; SP[si] = s; SG[si] = b2 - b1; SM[si] = m * (1 + 1e-9);
      }
    }
  }
  const fastGi = verify ? gi : -1;
  if (verify) gi = -1;
  if (gi < 0) {
    let best = FLT_MAX;
    for (let j = 1; j <= n; j++) {
      const idx = nb[off + j]!;
      const b = 4 * idx;
      let diff = fround(SQ[lv[b]!]! - x0);
      let d2 = fround(fround(w0 * diff) * diff);
      diff = fround(SQ[lv[b + 1]!]! - x1);
      d2 = fround(d2 + fround(fround(w1 * diff) * diff));
      diff = fround(SQ[lv[b + 2]!]! - x2);
      d2 = fround(d2 + fround(fround(w2 * diff) * diff));
      diff = fround(SQ[lv[b + 3]!]! - x3);
      d2 = fround(d2 + fround(fround(w3 * diff) * diff));
      if (d2 < best) { best = d2; gi = idx; }
    }
    if (gi < 0) tooLarge(name);
    if (fastGi >= 0 && fastGi !== gi) throw new Error(`IQ3 neighbour fast path chose ${fastGi}, float32 ${gi} (u ${u}, scale ${s})`);
  }
  const b = 4 * gi;
  out[k4] = lv[b]!; out[k4 + 1] = lv[b + 1]!; out[k4 + 2] = lv[b + 2]!; out[k4 + 3] = lv[b + 3]!;
}

function setSq(scale: number): void {
  sqScale = scale;
  for (let l = 0; l < 8; l++) SQ[l] = fround(scale * (2 * l + 1));
}

/**
 * The scale search for the 32 values in XVAL/WEIGHT whose largest is max (already checked
 * non-zero by the caller). ntry: 15 (IQ3_XXS) or 9 (IQ3_S). onGridInit: the initial is_on_grid
 * (true for IQ3_XXS, false for IQ3_S). skipOnGrid: whether the final pass skips groups that were
 * on the grid (IQ3_XXS) or re-snaps all of them (IQ3_S). Leaves the levels in LEVELS and returns
 * the scale (possibly negative: the caller flips its signs then). Throws where ggml aborts.
 */
export function searchBlock(g: Iq3Grid, max: number, ntry: number, onGridInit: boolean, skipOnGrid: boolean, name: string): number {
  const map = g.map, lv = g.levels;
  FAST.fill(1);
  GC.fill(0);
  GAMAX.fill(0);
  if (++stamp === 0x100000000) { SLOT_STAMP.fill(0); stamp = 1; }
  poolUsed = 0;
  slotsUsed = 0;
  for (let i = 0; i < 32; i++) {
    const w = WEIGHT[i]!;
    const wa = fround(Math.sqrt(w));
    WAUX[i] = wa;
    const xv = XVAL[i]!;
    if (!((wa === 0 || (wa >= 1e-18 && wa < Infinity)) && Math.abs(xv) < Infinity)) FAST[i >> 2] = 0;
    GC[i >> 2] = GC[i >> 2]! + wa * xv * xv;
    GAMAX[i >> 2] = GAMAX[i >> 2]! + 225 * wa;
    const wx = fround(w * XVAL[i]!);
    for (let l = 0; l < 8; l++) {
      const q = 2 * l + 1;
      WXQ[8 * i + l] = fround(wx * q);
      WQQ[8 * i + l] = fround(fround(w * q) * q);
    }
  }
  LEVELS.fill(0);
  let best = 0;
  let scale = fround(max / 15);
  let onGrid = onGridInit ? 0xff : 0;
  for (let is = -ntry; is <= ntry; is++) {
    const id = fround(fround(15 + fround(is * F02)) / max);
    let sqSet = false;
    let auxOnGrid = 0;
    for (let k = 0; k < 8; k++) {
      let u = 0;
      for (let i = 0; i < 4; i++) {
        // nearest_int(0.5f*(p - 1)) clamped to 0..7, p = id·x in float32: p - 1 is exact in float32
        // wherever the clamped result depends on it (p ≥ 0.5), so float64 does the rest; ±Inf
        // and NaN end as ggml's bit trick leaves them (0 after clamping), and p never exceeds ~18
        // otherwise (x ≤ max, id ≈ 15/max)
        const p = fround(id * XVAL[4 * k + i]!);
        let l = (p - 1) * 0.5 + 6755399441055744 - 6755399441055744;
        l = l > 0 ? (l > 7 ? (p === Infinity ? 0 : 7) : l) : 0;
        LAUX[4 * k + i] = l;
        u |= l << (3 * i);
      }
      if (map[u]! >= 0) auxOnGrid |= 1 << k;
      else {
        if (!sqSet) { setSq(fround(1 / id)); sqSet = true; }
        bestNeighbour(g, u, 4 * k, LAUX, name);
      }
    }
    let sumqx = 0, sumq2 = 0;
    for (let i = 0; i < 32; i++) {
      const j = 8 * i + LAUX[i]!;
      sumqx = fround(sumqx + WXQ[j]!);
      sumq2 = fround(sumq2 + WQQ[j]!);
    }
    if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
      scale = fround(sumqx / sumq2);
      best = fround(scale * sumqx);
      LEVELS.set(LAUX);
      onGrid = auxOnGrid;
    }
  }
  if (onGrid !== 0xff && scale > 0) {
    const id = fround(1 / scale);
    let sqSet = false;
    for (let k = 0; k < 8; k++) {
      if (skipOnGrid && (onGrid >> k) & 1) continue;
      let u = 0;
      for (let i = 0; i < 4; i++) {
        let l = nearestInt(fround(0.5 * fround(fround(id * XVAL[4 * k + i]!) - 1)));
        l = l < 0 ? 0 : l > 7 ? 7 : l;
        u |= l << (3 * i);
      }
      const gi = map[u]!;
      if (gi >= 0) {
        const b = 4 * gi;
        LEVELS[4 * k] = lv[b]!; LEVELS[4 * k + 1] = lv[b + 1]!; LEVELS[4 * k + 2] = lv[b + 2]!; LEVELS[4 * k + 3] = lv[b + 3]!;
      } else {
        if (!sqSet) { setSq(scale); sqSet = true; }
        bestNeighbour(g, u, 4 * k, LEVELS, name);
      }
    }
    let sumqx = 0, sumq2 = 0;
    for (let i = 0; i < 32; i++) {
      const j = 8 * i + LEVELS[i]!;
      sumqx = fround(sumqx + WXQ[j]!);
      sumq2 = fround(sumq2 + WQQ[j]!);
    }
    if (sumq2 > 0) scale = fround(sumqx / sumq2);
  }
  return scale;
}

/** Grid index of group k of LEVELS (always on the grid after searchBlock). */
export function gridIndex(g: Iq3Grid, k: number): number {
  const u = LEVELS[4 * k]! | (LEVELS[4 * k + 1]! << 3) | (LEVELS[4 * k + 2]! << 6) | (LEVELS[4 * k + 3]! << 9);
  return g.map[u]!;
}

export { tooLarge };
