// The per-32-value search shared by IQ3_XXS and IQ3_S (quantize_row_iq3_xxs_impl and
// quantize_row_iq3_s_impl in ggml-quants.c): values are quantized by magnitude (signs are stored
// apart) to groups of four levels that must be points of the grid; a scale search tries 2·ntry+1
// scales, snapping off-grid groups to their best neighbour (iq3_find_best_neighbour), then one
// final pass re-snaps the off-grid groups at the chosen scale. All arithmetic is ggml's float32
// (Math.fround at every C rounding); the scratch state lives in module-level typed arrays.
//
// The work is reordered where that cannot change a result: the grid point of each group at each
// trial scale is found group by group (a group's answer depends only on its own values and the
// scale), then the trials' sums and comparisons run in ggml's order. Within a group the levels
// only grow from one trial to the next (the scales grow), a lattice point's neighbours are
// modelled in float64 once, and float32 decides wherever the model cannot (see separated()).
import { LowbitError } from '../../errors.js';
import type { Iq3Grid } from './iq3-grids.js';
import { nearestInt } from './search.js';

const fround = Math.fround;
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
/** WXQ[8i + l] = fround(fround(w·x)·q) and WQQ[8i + l] = fround(fround(w·q)·q) for q = 2l + 1,
 * computed on first use (bit l of WMASK[i]); WX[i] = fround(w·x) */
const WXQ = new Float64Array(256);
const WQQ = new Float64Array(256);
const WMASK = new Uint8Array(32);
const WX = new Float64Array(32);

function termsOf(i: number, l: number): void {
  const q = 2 * l + 1;
  WXQ[8 * i + l] = fround(WX[i]! * q);
  WQQ[8 * i + l] = fround(fround(WEIGHT[i]! * q) * q);
  WMASK[i] = WMASK[i]! | (1 << l);
}
/** float32 prefix sums of the latest trial's Σ w·x·q and Σ w·q² */
const PX = new Float64Array(32);
const PQ = new Float64Array(32);
/** per trial t: id, this_scale = 1/id, and for each group k the grid index GI[8t + k] */
const TID = new Float64Array(31);
const TS = new Float64Array(31);
const GI = new Int32Array(31 * 8);
/** per trial: the first group whose grid index differs from the trial before (8: none), and
 * which groups were on the grid before snapping (ggml's is_on_grid_aux) */
const FIRST = new Uint8Array(31);
const ONG = new Uint8Array(31);

/**
 * TH[m]: nearest_int(0.5f*(fround(P) - 1)) ≥ m exactly when the product P ≥ TH[m], for m = 1..7.
 * That is fround(P) > 2m, or fround(P) = 2m for even m (ties to even in nearest_int): P at or
 * above the midpoint below 2m (a tie there rounds to 2m, whose mantissa is even) for even m, and
 * strictly above the midpoint above 2m for odd m (the next float64 up from it).
 */
const TH = (() => {
  const t = new Float64Array(9);
  const f = new Float32Array(1),
    fb = new Uint32Array(f.buffer);
  const d = new Float64Array(1),
    db = new BigUint64Array(d.buffer);
  for (let m = 1; m <= 7; m++) {
    f[0] = 2 * m;
    const bits = fb[0]!;
    if (m % 2 === 0) {
      fb[0] = bits - 1;
      t[m] = (2 * m + f[0]!) / 2;
    } else {
      fb[0] = bits + 1;
      d[0] = (2 * m + f[0]!) / 2;
      db[0] = db[0]! + 1n;
      t[m] = d[0]!;
    }
  }
  t[8] = Infinity;
  return t;
})();

/** SQ[l] = fround(scale·(2l + 1)) for the scale of the current neighbour search */
const SQ = new Float64Array(8);

/** sigma2 of a 256-value super-block: 2·Σx²/256 in float32. */
export function sigma2Of(x: Float32Array, off: number): number {
  let s = 0;
  for (let i = 0; i < 256; i++) {
    const v = x[off + i]!;
    s = fround(s + fround(v * v));
  }
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
    for (let i = 0; i < 32; i++) {
      const v = x[off + i]!;
      WEIGHT[i] = fround(v * v);
    }
  }
}

function tooLarge(name: string): never {
  throw new LowbitError(
    `${name}: a block holds values ggml cannot quantize (non-finite, or so large that squares overflow float32); llama.cpp aborts on them`,
  );
}

/** per group k: 1 when its four WAUX are each 0 or in [1e-18, ∞) and its XVAL finite (the model is safe) */
const FAST = new Uint8Array(8);
/** per group k: C = Σ waux·x² and 225·Σ waux (a bound on Σ waux·q² of any grid point) */
const GC = new Float64Array(8);
const GAMAX = new Float64Array(8);
/** for each neighbour of the lattice point at hand: A = Σ waux·q², B2 = 2·Σ waux·q·x */
const NA = new Float64Array(40);
const NB2 = new Float64Array(40);
const NE = new Float64Array(40); // s·A - B2 at the scale of the latest evaluation
/** what evalModel found at scale s besides the best neighbour: scales [EV[0], s] over which it
 * stays best by a gap of at least EV[1] (each gap t·(A_j - A_b) - (B2_j - B2_b) is linear in t),
 * and [EV[2], s] over which that needs no further check */
const EV = new Float64Array(4); // lo, gap, sure out; EV[3]: the scale in (typed: double arguments and module lets are boxed)
let verify = false;

/**
 * Test hook: when on, every answer of the float64 model is checked against ggml's float32
 * evaluation (a mismatch throws), so tests can exercise the shortcut on many inputs.
 */
export function setIq3FastPathCheck(on: boolean): void {
  verify = on;
}

/**
 * Whether float32's evaluation of the errors must pick the neighbour whose float64 model error
 * is d1 over every neighbour whose model error is d1 + sg or more. The model s·(s·A - B2) + C
 * differs from ggml's float32 sum Σ waux·(fround(fround(s·q) - x))² (products and sums rounded)
 * by at most tol(d) = 5e-7·d + 1.5e-7·s·sqrt(Amax·d) + c: 7·2^-24 relative for the roundings
 * after the subtraction (no underflow trouble given FAST and d ≥ 1e-30, no overflow given
 * d ≤ 1e37), 2·2^-24·s·sqrt(A·d) (Cauchy-Schwarz) for the rounding of s·q, and
 * c = 1e-13·(s²·Amax + C) for float64's own rounding. sg - tol(d1) - tol(d1 + sg) grows with sg
 * once d1 ≥ 1e-12·s²·Amax, so checking the smallest gap covers every other neighbour (and the
 * bound checked below, with 2·sqrt(d2) for sqrt(d1) + sqrt(d2), is larger still).
 */
function separated(d1: number, sg: number, s: number, amax: number, cc: number): boolean {
  const sa = s * s * amax;
  if (!(d1 >= 1e-30 && d1 <= 1e37 && d1 >= 1e-12 * sa)) return false;
  if (sg === Infinity) return true; // a single neighbour
  return gapExceedsTol(d1, sg, sa, cc);
}

/** sg > tol(d1) + tol(d1 + sg), with sqrt(d1) + sqrt(d2) ≤ 2·sqrt(d2) (sa = s²·Amax). */
function gapExceedsTol(d1: number, sg: number, sa: number, cc: number): boolean {
  const d2 = d1 + sg;
  // a clear gap passes without the square root: 3e-7·sqrt(sa·d2) ≤ 1.5e-7·(sa + d2), so this
  // first test implies the exact one below
  if (sg > 1e-5 * (d2 + sa) + 2e-13 * cc) return true;
  return sg - 5e-7 * (d1 + d2) - 3e-7 * Math.sqrt(sa * d2) - 2e-13 * (sa + cc) > 0;
}

/** NA, NB2 for the n neighbours at nb[off + 1..] of group k4/4. */
function fillModel(g: Iq3Grid, off: number, n: number, k4: number): void {
  const nb = g.neighbours,
    lv = g.levels;
  const x0 = XVAL[k4]!,
    x1 = XVAL[k4 + 1]!,
    x2 = XVAL[k4 + 2]!,
    x3 = XVAL[k4 + 3]!;
  const w0 = WAUX[k4]!,
    w1 = WAUX[k4 + 1]!,
    w2 = WAUX[k4 + 2]!,
    w3 = WAUX[k4 + 3]!;
  for (let j = 0; j < n; j++) {
    const b = 4 * nb[off + 1 + j]!;
    const q0 = 2 * lv[b]! + 1,
      q1 = 2 * lv[b + 1]! + 1,
      q2 = 2 * lv[b + 2]! + 1,
      q3 = 2 * lv[b + 3]! + 1;
    NA[j] = w0 * q0 * q0 + w1 * q1 * q1 + w2 * q2 * q2 + w3 * q3 * q3;
    NB2[j] = 2 * (w0 * q0 * x0 + w1 * q1 * x1 + w2 * q2 * x2 + w3 * q3 * x3);
  }
}

/**
 * The best of n modelled neighbours at scale s (index into the list), or -1 when the model
 * cannot decide. With an answer, EV (lo, gap, sure) describe where it stays the answer.
 */
function evalModel(n: number, k: number): number {
  const s = EV[3]!,
    cc = GC[k]!,
    amax = GAMAX[k]!;
  // the smallest and second smallest of s·A - B2 (finite here: FAST groups) and the first index
  // of the smallest
  let b1 = Infinity,
    b2 = Infinity,
    jb = 0;
  for (let j = 0; j < n; j++) {
    const e = s * NA[j]! - NB2[j]!;
    NE[j] = e;
    b2 = Math.min(b2, Math.max(b1, e));
    if (e < b1) {
      b1 = e;
      jb = j;
    }
  }
  if (!separated(s * b1 + cc, s * (b2 - b1), s, amax, cc)) return -1;
  const hh = 0.5 * (b2 - b1);
  const ab = NA[jb]!;
  // every gap g_j(t) = g_j(s) + (A_j - A_jb)·(t - s) stays ≥ hh for t ≤ s while
  // t ≥ s - (g_j(s) - hh)/(A_j - A_jb) for each j with A_j > A_jb (the others only grow); the
  // largest bound has the smallest ratio, found by cross-multiplying (one division in all; a
  // rounding-level misorder is absorbed by the 0.999 the gap is checked with)
  let rn = 1,
    rd = 0; // the smallest ratio rn/rd so far (rd = 0: none)
  for (let j = 0; j < n; j++) {
    const da = NA[j]! - ab;
    if (da > 0) {
      const r = NE[j]! - b1 - hh;
      if (rd === 0 || r * rd < rn * da) {
        rn = r;
        rd = da;
      }
    }
  }
  const lo = rd > 0 ? s - rn / rd : 0;
  EV[0] = lo;
  EV[1] = hh;
  // Down to EV[2] (≥ lo, ≤ s) the answer holds without checking separated() per scale: over
  // [lo', s] the check is hardest with the smallest gap 0.999·lo'·hh, the largest d1 and the
  // largest scale s everywhere else, and its preconditions need the smallest d1 (d1 is a convex
  // quadratic in the scale: largest at an end, smallest at its vertex clamped to the interval).
  const lo2 = lo > 0.9 * s ? lo : 0.9 * s;
  const a = NA[jb]!,
    b2j = NB2[jb]!;
  const dlo = lo2 * (lo2 * a - b2j) + cc,
    ds = s * b1 + cc;
  const dmax = dlo > ds ? dlo : ds;
  let sv = b2j / (2 * a);
  sv = sv < lo2 ? lo2 : sv > s ? s : sv; // NaN (a = 0) fails the checks below
  const dmin = sv * (sv * a - b2j) + cc;
  const sa = s * s * amax;
  EV[2] =
    dmin >= 1e-30 && dmax <= 1e37 && dmin >= 1e-12 * sa && gapExceedsTol(dmax, 0.999 * lo2 * hh, sa, cc)
      ? lo2
      : Infinity;
  return jb;
}

/**
 * iq3_find_best_neighbour in ggml's float32 for group k4/4 at the scale SQ was set for: the first
 * of the n neighbours at nb[off + 1..] with the smallest Σ waux·(SQ[l] - x)². Throws where ggml aborts.
 */
function bestNeighbourF32(g: Iq3Grid, off: number, n: number, k4: number, name: string): number {
  const nb = g.neighbours,
    lv = g.levels;
  const x0 = XVAL[k4]!,
    x1 = XVAL[k4 + 1]!,
    x2 = XVAL[k4 + 2]!,
    x3 = XVAL[k4 + 3]!;
  const w0 = WAUX[k4]!,
    w1 = WAUX[k4 + 1]!,
    w2 = WAUX[k4 + 2]!,
    w3 = WAUX[k4 + 3]!;
  let best = FLT_MAX;
  let gi = -1;
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
    if (d2 < best) {
      best = d2;
      gi = idx;
    }
  }
  if (gi < 0) tooLarge(name);
  return gi;
}

function setSq(scale: number): void {
  for (let l = 0; l < 8; l++) SQ[l] = fround(scale * (2 * l + 1));
}

/** The best neighbour of off-grid lattice point u for group k4/4 at scale s, from scratch. */
function resolve(g: Iq3Grid, u: number, k4: number, s: number, name: string): number {
  const off = -g.map[u]! - 1;
  const n = g.neighbours[off]!;
  const k = k4 >> 2;
  let gi = -1;
  if (FAST[k] === 1 && s >= 1e-30 && s < Infinity) {
    fillModel(g, off, n, k4);
    EV[3] = s;
    const jb = evalModel(n, k);
    if (jb >= 0) gi = g.neighbours[off + 1 + jb]!;
  }
  if (gi < 0 || verify) {
    setSq(s);
    const g32 = bestNeighbourF32(g, off, n, k4, name);
    if (gi >= 0 && gi !== g32)
      throw new LowbitError(`IQ3 neighbour model chose ${gi}, float32 ${g32} (u ${u}, scale ${s})`, 'EINTERNAL');
    gi = g32;
  }
  return gi;
}

/** nearest_int(0.5f*(fround(id·x) - 1)) clamped to 0..7, for any id (see groupTrials). */
function rawLevel(id: number, x: number): number {
  // p - 1 is exact in float32 wherever the clamped result depends on it (p ≥ 0.5), so float64
  // does the rest; +Inf ends as ggml's bit trick leaves it (0 after clamping), NaN as 0 too
  const p = fround(id * x);
  const l = (p - 1) * 0.5 + 6755399441055744 - 6755399441055744;
  return l > 0 ? (l > 7 ? (p === Infinity ? 0 : 7) : l) : 0;
}

/**
 * Grid index of group k at each of the nt trials (GI[8t + k]), with ONG and FIRST. normal: the
 * trial scales id are finite, so the levels can be walked up the thresholds TH from the last
 * trial's (id only grows).
 */
function groupTrials(g: Iq3Grid, k: number, nt: number, normal: boolean, name: string): void {
  const map = g.map,
    nb = g.neighbours;
  const k4 = 4 * k;
  const x0 = XVAL[k4]!,
    x1 = XVAL[k4 + 1]!,
    x2 = XVAL[k4 + 2]!,
    x3 = XVAL[k4 + 3]!;
  const fast = FAST[k] === 1;
  const cc = GC[k]!,
    amax = GAMAX[k]!;
  const bit = 1 << k;
  let l0 = 0,
    l1 = 0,
    l2 = 0,
    l3 = 0;
  // the off-grid lattice point at hand: its neighbour list, whether NA/NB2 hold its model, and
  // the model's last answer at scale s0, holding on [lo, s0] by a gap ≥ h, surely on [sure, s0]
  let curU = -1,
    off = 0,
    n = 0,
    model = false,
    jb = -1,
    lo = 0,
    h = 0,
    sure = Infinity,
    s0 = 0;
  let prev = -1,
    prevOn = false;
  for (let t = 0; t < nt; t++) {
    const id = TID[t]!;
    if (normal) {
      // P = id·x is exact in float64 (two float32 factors); the level is the count of TH ≤ P
      let same = t > 0;
      let p = id * x0;
      if (p >= TH[l0 + 1]!) {
        same = false;
        l0++;
        while (l0 < 7 && p >= TH[l0 + 1]!) l0++;
      }
      p = id * x1;
      if (p >= TH[l1 + 1]!) {
        same = false;
        l1++;
        while (l1 < 7 && p >= TH[l1 + 1]!) l1++;
      }
      p = id * x2;
      if (p >= TH[l2 + 1]!) {
        same = false;
        l2++;
        while (l2 < 7 && p >= TH[l2 + 1]!) l2++;
      }
      p = id * x3;
      if (p >= TH[l3 + 1]!) {
        same = false;
        l3++;
        while (l3 < 7 && p >= TH[l3 + 1]!) l3++;
      }
      // the same lattice point as the trial before: on the grid, or within the model's sure range
      // (the scales only shrink here, so s ≤ s0 holds)
      if (same && !verify) {
        if (prevOn) {
          ONG[t] = ONG[t]! | bit;
          GI[8 * t + k] = prev;
          continue;
        }
        if (jb >= 0 && TS[t]! >= sure) {
          GI[8 * t + k] = prev;
          continue;
        }
      }
    } else {
      l0 = rawLevel(id, x0);
      l1 = rawLevel(id, x1);
      l2 = rawLevel(id, x2);
      l3 = rawLevel(id, x3);
    }
    const u = l0 | (l1 << 3) | (l2 << 6) | (l3 << 9);
    let gi = map[u]!;
    prevOn = gi >= 0;
    if (prevOn) ONG[t] = ONG[t]! | bit;
    else {
      const s = TS[t]!;
      if (u !== curU) {
        curU = u;
        off = -gi - 1;
        n = nb[off]!;
        model = false;
        jb = -1;
      }
      gi = -1;
      if (fast && s >= 1e-30 && s < Infinity) {
        // 0.999: room for the rounding of the interval's ends
        if (
          jb >= 0 &&
          ((s >= sure && s <= s0) ||
            (s >= lo && s <= s0 && separated(s * (s * NA[jb]! - NB2[jb]!) + cc, 0.999 * s * h, s, amax, cc)))
        ) {
          gi = nb[off + 1 + jb]!;
        } else {
          if (!model) {
            fillModel(g, off, n, k4);
            model = true;
          }
          EV[3] = s;
          jb = evalModel(n, k);
          if (jb >= 0) {
            gi = nb[off + 1 + jb]!;
            lo = EV[0]!;
            h = EV[1]!;
            sure = EV[2]!;
            s0 = s;
          }
        }
      }
      if (gi < 0 || verify) {
        setSq(s);
        const g32 = bestNeighbourF32(g, off, n, k4, name);
        if (gi >= 0 && gi !== g32)
          throw new LowbitError(`IQ3 neighbour model chose ${gi}, float32 ${g32} (u ${u}, scale ${s})`, 'EINTERNAL');
        gi = g32;
      }
    }
    GI[8 * t + k] = gi;
    if (gi !== prev && FIRST[t] === 8) FIRST[t] = k;
    prev = gi;
  }
}

/**
 * The scale search for the 32 values in XVAL/WEIGHT whose largest is max (already checked
 * non-zero by the caller). ntry: 15 (IQ3_XXS) or 9 (IQ3_S). onGridInit: the initial is_on_grid
 * (true for IQ3_XXS, false for IQ3_S). skipOnGrid: whether the final pass skips groups that were
 * on the grid (IQ3_XXS) or re-snaps all of them (IQ3_S). Leaves the levels in LEVELS and returns
 * the scale (possibly negative: the caller flips its signs then). Throws where ggml aborts.
 */
export function searchBlock(
  g: Iq3Grid,
  max: number,
  ntry: number,
  onGridInit: boolean,
  skipOnGrid: boolean,
  name: string,
): number {
  const map = g.map,
    lv = g.levels;
  FAST.fill(1);
  GC.fill(0);
  GAMAX.fill(0);
  for (let i = 0; i < 32; i++) {
    const w = WEIGHT[i]!;
    const wa = fround(Math.sqrt(w));
    WAUX[i] = wa;
    const xv = XVAL[i]!;
    if (!((wa === 0 || (wa >= 1e-18 && wa < Infinity)) && Math.abs(xv) < Infinity)) FAST[i >> 2] = 0;
    GC[i >> 2] = GC[i >> 2]! + wa * xv * xv;
    GAMAX[i >> 2] = GAMAX[i >> 2]! + 225 * wa;
    WX[i] = fround(w * xv);
    WMASK[i] = 0;
  }
  const nt = 2 * ntry + 1;
  for (let t = 0; t < nt; t++) {
    const id = fround(fround(15 + fround((t - ntry) * F02)) / max);
    TID[t] = id;
    TS[t] = fround(1 / id);
    FIRST[t] = 8;
    ONG[t] = 0;
  }
  const normal = max >= 1e-30 && max < Infinity;
  for (let k = 0; k < 8; k++) groupTrials(g, k, nt, normal, name);
  // the trials in ggml's order: sums restart at the first group that changed (same additions in
  // the same order as a full pass), the best trial is kept
  let best = 0;
  let scale = fround(max / 15);
  let bestT = -1;
  let sumqx = 0,
    sumq2 = 0;
  for (let t = 0; t < nt; t++) {
    const first = FIRST[t]!;
    if (first < 8) {
      let i = 4 * first;
      let sx = i > 0 ? PX[i - 1]! : 0,
        sq = i > 0 ? PQ[i - 1]! : 0;
      for (let k = first; k < 8; k++) {
        const b = 4 * GI[8 * t + k]!;
        for (let m = 0; m < 4; m++, i++) {
          const l = lv[b + m]!;
          if (((WMASK[i]! >> l) & 1) === 0) termsOf(i, l);
          const j = 8 * i + l;
          sx = fround(sx + WXQ[j]!);
          sq = fround(sq + WQQ[j]!);
          PX[i] = sx;
          PQ[i] = sq;
        }
      }
      sumqx = sx;
      sumq2 = sq;
    }
    if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
      scale = fround(sumqx / sumq2);
      best = fround(scale * sumqx);
      bestT = t;
    }
  }
  let onGrid = onGridInit ? 0xff : 0;
  if (bestT >= 0) {
    onGrid = ONG[bestT]!;
    for (let k = 0; k < 8; k++) {
      const b = 4 * GI[8 * bestT + k]!;
      LEVELS[4 * k] = lv[b]!;
      LEVELS[4 * k + 1] = lv[b + 1]!;
      LEVELS[4 * k + 2] = lv[b + 2]!;
      LEVELS[4 * k + 3] = lv[b + 3]!;
    }
  } else LEVELS.fill(0);
  if (onGrid !== 0xff && scale > 0) {
    const id = fround(1 / scale);
    for (let k = 0; k < 8; k++) {
      if (skipOnGrid && (onGrid >> k) & 1) continue;
      let u = 0;
      for (let i = 0; i < 4; i++) {
        let l = nearestInt(fround(0.5 * fround(fround(id * XVAL[4 * k + i]!) - 1)));
        l = l < 0 ? 0 : l > 7 ? 7 : l;
        u |= l << (3 * i);
      }
      let gi = map[u]!;
      if (gi < 0) gi = resolve(g, u, 4 * k, scale, name);
      const b = 4 * gi;
      LEVELS[4 * k] = lv[b]!;
      LEVELS[4 * k + 1] = lv[b + 1]!;
      LEVELS[4 * k + 2] = lv[b + 2]!;
      LEVELS[4 * k + 3] = lv[b + 3]!;
    }
    let sumqx = 0,
      sumq2 = 0;
    for (let i = 0; i < 32; i++) {
      const l = LEVELS[i]!;
      if (((WMASK[i]! >> l) & 1) === 0) termsOf(i, l);
      const j = 8 * i + l;
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
