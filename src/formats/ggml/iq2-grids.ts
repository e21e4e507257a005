// The lattice machinery IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S and IQ1_M share (ggml-quants.c:
// iq2xs_init_impl, iq2_find_best_neighbour, iq1_find_best_neighbour2): each grid point is eight
// levels l (0..3; 0..2 for IQ1), at positions 2l+1. kmap sends the 16-bit level code u (coordinate
// i in bits 2i..2i+1) of an on-grid point to its index, and for an off-grid u ggml keeps the list
// of grid points at the nwant smallest distinct squared distances, ordered by (distance, index):
// the search walks that list in order and keeps the first strictly better point, so the order
// decides ties. Lists are built on first use of each u (the same lists ggml builds up front).
import { KGRID_1BIT_2048, KGRID_2BIT_1024, KGRID_2BIT_256, KGRID_2BIT_512 } from './iq2-grid-tables.js';
import { LowbitError } from '../../errors.js';
import { nearestInt } from './search.js';

const fround = Math.fround;

/** ggml's kmap_size: every level code u < 43692 has a map entry. */
export const KMAP_SIZE = 43692;

export interface IqGrid {
  readonly size: number;
  /** the packed level codes, one per grid point (iq2xs_init_impl's kgrid_*) */
  readonly codes: Uint16Array;
  /** levels l of each point, 8 per point */
  readonly levels: Uint8Array;
  /** kmap: grid index of an on-grid code, -1 otherwise */
  readonly map: Int32Array;
  /** neighbour list offset of an off-grid code into nb (count first, then indices); -1 until built */
  readonly nbOff: Int32Array;
  nb: Uint16Array;
  nbLen: number;
  readonly nwant: number;
  /** the highest level any grid point uses (2 for IQ2_XXS, IQ2_XS and IQ1, 3 for IQ2_S) */
  readonly maxLevel: number;
}

// Squared distance between two 4-coordinate halves in position units: D4[(a << 8) | b] for level
// codes a, b of 4 coordinates = Σ (2·la − 2·lb)².
const D4 = (() => {
  const t = new Uint16Array(65536);
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      let d = 0;
      for (let k = 0; k < 4; k++) {
        const e = 2 * (((a >> (2 * k)) & 3) - ((b >> (2 * k)) & 3));
        d += e * e;
      }
      t[(a << 8) | b] = d;
    }
  }
  return t;
})();

function makeGrid(codes: Uint16Array, nwant: number): IqGrid {
  const size = codes.length;
  const levels = new Uint8Array(size * 8);
  const map = new Int32Array(KMAP_SIZE).fill(-1);
  let maxLevel = 0;
  for (let k = 0; k < size; k++) {
    for (let i = 0; i < 8; i++) {
      const l = (codes[k]! >> (2 * i)) & 3;
      levels[8 * k + i] = l;
      if (l > maxLevel) maxLevel = l;
    }
    map[codes[k]!] = k;
  }
  return {
    size,
    codes,
    levels,
    map,
    nbOff: new Int32Array(KMAP_SIZE).fill(-1),
    nb: new Uint16Array(4096),
    nbLen: 0,
    nwant,
    maxLevel,
  };
}

const grids: (IqGrid | undefined)[] = [];

/** The grid of one format family, built on first use: 256 (IQ2_XXS), 512 (IQ2_XS), 1024 (IQ2_S), 2048 (IQ1_S/IQ1_M). */
export function iqGrid(size: 256 | 512 | 1024 | 2048): IqGrid {
  const key = size === 256 ? 0 : size === 512 ? 1 : size === 1024 ? 2 : 3;
  let g = grids[key];
  if (!g) {
    // iq2xs_init_impl: nwant = 3 for IQ1_S/IQ1_M, 1 for IQ2_S, 2 for IQ2_XXS/IQ2_XS
    g =
      size === 256
        ? makeGrid(KGRID_2BIT_256, 2)
        : size === 512
          ? makeGrid(KGRID_2BIT_512, 2)
          : size === 1024
            ? makeGrid(KGRID_2BIT_1024, 1)
            : makeGrid(KGRID_1BIT_2048, 3);
    grids[key] = g;
  }
  return g;
}

const DIST = new Uint16Array(2048);
const COUNT = new Int32Array(8 * 36 + 1);

/**
 * Offset into g.nb of the neighbour list of off-grid code u (g.map[u] < 0): ggml sorts all grid
 * points by (squared distance, index) and keeps those at the nwant smallest distinct distances.
 * Distances are small integers, so a counting sort gives the same order.
 */
export function neighbours(g: IqGrid, u: number): number {
  const have = g.nbOff[u]!;
  if (have >= 0) return have;
  const size = g.size,
    codes = g.codes;
  const ulo = u & 255,
    uhi = u >> 8;
  COUNT.fill(0);
  for (let j = 0; j < size; j++) {
    const c = codes[j]!;
    const d = D4[((c & 255) << 8) | ulo]! + D4[((c >> 8) << 8) | uhi]!;
    DIST[j] = d;
    COUNT[d]!++;
  }
  // the nwant smallest distinct distances
  let nhave = 0,
    maxD = 0,
    n = 0;
  for (let d = 0; d < COUNT.length && nhave < g.nwant; d++) {
    if (COUNT[d]! > 0) {
      nhave++;
      maxD = d;
      n += COUNT[d]!;
    }
  }
  if (g.nbLen + n + 1 > g.nb.length) {
    const bigger = new Uint16Array(Math.max(2 * g.nb.length, g.nbLen + n + 1));
    bigger.set(g.nb.subarray(0, g.nbLen));
    g.nb = bigger;
  }
  const off = g.nbLen,
    nb = g.nb;
  nb[off] = n;
  // prefix positions per distance, then indices in increasing order within each distance
  let at = off + 1;
  for (let d = 0; d <= maxD; d++) {
    const c = COUNT[d]!;
    COUNT[d] = at;
    at += c;
  }
  for (let j = 0; j < size; j++) {
    const d = DIST[j]!;
    if (d <= maxD) nb[COUNT[d]!++] = j;
  }
  g.nbLen = off + n + 1;
  g.nbOff[u] = off;
  return off;
}

const E = new Float64Array(32); // w·(scale·pos − x)² per coordinate (4 per coordinate: one per level)
const P = new Float64Array(4); // scale·pos per level

/**
 * iq2_find_best_neighbour: among the neighbours of off-grid code u, the point minimising
 * Σ w·(scale·pos − x)² (first one wins ties); writes its levels to L[lo..lo+8) and returns its index.
 * Each coordinate's term depends only on its level, so the terms are computed once per level in
 * use (the same float32 values ggml computes per point); a point's float32 sum is formed only when
 * its exact sum could beat the best (terms are ≥ 0 or NaN: w is a square root).
 */
export function iq2BestNeighbour(
  g: IqGrid,
  u: number,
  x: Float32Array,
  xo: number,
  w: Float32Array,
  wo: number,
  scale: number,
  L: Int8Array,
  lo: number,
): number {
  const off = neighbours(g, u);
  const nb = g.nb,
    lv = g.levels,
    codes = g.codes;
  P[0] = fround(scale);
  P[1] = fround(scale * 3);
  P[2] = fround(scale * 5);
  P[3] = fround(scale * 7);
  const p0 = P[0]!,
    p1 = P[1]!,
    p2 = P[2]!,
    p3 = P[3]!;
  if (g.maxLevel === 2) {
    for (let i = 0; i < 8; i++) {
      const xi = x[xo + i]!,
        wi = w[wo + i]!;
      let diff = fround(p0 - xi);
      E[4 * i] = fround(fround(wi * diff) * diff);
      diff = fround(p1 - xi);
      E[4 * i + 1] = fround(fround(wi * diff) * diff);
      diff = fround(p2 - xi);
      E[4 * i + 2] = fround(fround(wi * diff) * diff);
    }
  } else {
    for (let i = 0; i < 8; i++) {
      const xi = x[xo + i]!,
        wi = w[wo + i]!;
      let diff = fround(p0 - xi);
      E[4 * i] = fround(fround(wi * diff) * diff);
      diff = fround(p1 - xi);
      E[4 * i + 1] = fround(fround(wi * diff) * diff);
      diff = fround(p2 - xi);
      E[4 * i + 2] = fround(fround(wi * diff) * diff);
      diff = fround(p3 - xi);
      E[4 * i + 3] = fround(fround(wi * diff) * diff);
    }
  }
  const n = nb[off]!;
  let best = 3.4028234663852886e38,
    gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = nb[off + j]!;
    const c = codes[idx]!;
    const e0 = E[c & 3]!,
      e1 = E[4 + ((c >> 2) & 3)]!,
      e2 = E[8 + ((c >> 4) & 3)]!,
      e3 = E[12 + ((c >> 6) & 3)]!;
    const e4 = E[16 + ((c >> 8) & 3)]!,
      e5 = E[20 + ((c >> 10) & 3)]!,
      e6 = E[24 + ((c >> 12) & 3)]!,
      e7 = E[28 + (c >> 14)]!;
    // The float32 sum in ggml's order is within 8 roundings (relative 2^-21, absolute 8·2^-149
    // for subnormals) of the exact sum: points whose exact sum is clearly no better are skipped
    // without the float32 chain. NaN fails the test and takes the exact path.
    if ((e0 + e1 + (e2 + e3) + (e4 + e5 + (e6 + e7))) * 0.999999 - 1.2e-44 >= best) continue;
    let d2 = fround(e0 + e1);
    d2 = fround(d2 + e2);
    d2 = fround(d2 + e3);
    d2 = fround(d2 + e4);
    d2 = fround(d2 + e5);
    d2 = fround(d2 + e6);
    d2 = fround(d2 + e7);
    if (d2 < best) {
      best = d2;
      gi = idx;
    }
  }
  if (gi < 0)
    throw new LowbitError(
      'IQ2 quantization found no grid point for a group of 8 weights (ggml asserts here): non-finite weights or negative importances?',
    );
  const p = 8 * gi;
  for (let i = 0; i < 8; i++) L[lo + i] = lv[p + i]!;
  return gi;
}

const E1 = new Float64Array(24); // w·(scale·xg[l] − x)² per coordinate and level (IQ1: 3 levels)

/**
 * iq1_find_best_neighbour2: like iq2BestNeighbour but with the IQ1 values xg[l] (level l → value)
 * in place of positions. When no neighbour scores below FLT_MAX (NaN or overflow) ggml scans the
 * whole grid with a loop that reads xval[i] at the grid index i for every coordinate (its bug,
 * reproduced: that reads on into the rest of the source buffer; past its end lowbit refuses).
 */
export function iq1BestNeighbour(
  g: IqGrid,
  u: number,
  x: Float32Array,
  xo: number,
  w: Float32Array,
  wo: number,
  scale: number,
  xg: Float64Array,
  L: Int8Array,
  lo: number,
): number {
  const off = neighbours(g, u);
  const nb = g.nb,
    codes = g.codes,
    lv = g.levels;
  const s0 = fround(scale * xg[0]!),
    s1 = fround(scale * xg[1]!),
    s2 = fround(scale * xg[2]!);
  let nonNeg = true;
  for (let i = 0; i < 8; i++) {
    const xi = x[xo + i]!,
      wi = w[wo + i]!;
    if (wi < 0) nonNeg = false;
    let diff = fround(s0 - xi);
    E1[3 * i] = fround(fround(wi * diff) * diff);
    diff = fround(s1 - xi);
    E1[3 * i + 1] = fround(fround(wi * diff) * diff);
    diff = fround(s2 - xi);
    E1[3 * i + 2] = fround(fround(wi * diff) * diff);
  }
  const n = nb[off]!;
  let best = 3.4028234663852886e38,
    gi = -1;
  for (let j = off + 1; j <= off + n; j++) {
    const idx = nb[j]!;
    const c = codes[idx]!;
    const e0 = E1[c & 3]!,
      e1 = E1[3 + ((c >> 2) & 3)]!,
      e2 = E1[6 + ((c >> 4) & 3)]!,
      e3 = E1[9 + ((c >> 6) & 3)]!;
    const e4 = E1[12 + ((c >> 8) & 3)]!,
      e5 = E1[15 + ((c >> 10) & 3)]!,
      e6 = E1[18 + ((c >> 12) & 3)]!,
      e7 = E1[21 + (c >> 14)]!;
    // as in iq2BestNeighbour: skip points whose exact sum is clearly no better (terms ≥ 0 only)
    if (nonNeg && (e0 + e1 + (e2 + e3) + (e4 + e5 + (e6 + e7))) * 0.999999 - 1.2e-44 >= best) continue;
    let d2 = fround(e0 + e1);
    d2 = fround(d2 + e2);
    d2 = fround(d2 + e3);
    d2 = fround(d2 + e4);
    d2 = fround(d2 + e5);
    d2 = fround(d2 + e6);
    d2 = fround(d2 + e7);
    if (d2 < best) {
      best = d2;
      gi = idx;
    }
  }
  if (gi < 0) {
    for (let i = 0; i < g.size; i++) {
      if (xo + i >= x.length)
        throw new LowbitError(
          'IQ1 quantization found no grid point for a group of 8 weights (ggml reads out of bounds and asserts here): non-finite weights?',
        );
      const xi = x[xo + i]!,
        p = 8 * i;
      let d2 = 0;
      for (let j = 0; j < 8; j++) {
        const diff = fround(fround(scale * xg[lv[p + j]!]!) - xi);
        d2 = fround(d2 + fround(fround(w[wo + j]! * diff) * diff));
      }
      if (d2 < best) {
        best = d2;
        gi = i;
      }
    }
  }
  if (gi < 0)
    throw new LowbitError(
      'IQ1 quantization found no grid point for a group of 8 weights (ggml asserts here): non-finite weights?',
    );
  const p = 8 * gi;
  for (let i = 0; i < 8; i++) L[lo + i] = lv[p + i]!;
  return gi;
}

/** nearest_int(0.5f·(a − 1)) clamped to [0, 2], the literal way (for the rare arguments below). */
function slowLevel(a: number): number {
  const l = nearestInt(fround(0.5 * fround(fround(a) - 1)));
  return l < 0 ? 0 : l > 2 ? 2 : l;
}

const T2 = 2 + 2 ** -23; // fround(a) ≤ 2 exactly when a ≤ 2 + 2^-23 (the tie rounds to even, to 2)
const T4 = 4 - 2 ** -23; // fround(a) < 4 exactly when a < 4 − 2^-23 (the tie rounds to even, to 4)

/**
 * The IQ2 level search of ggml's scale loops for 8 values: l = MAX(0, MIN(2, nearest_int(0.5f·(id·x − 1))))
 * into L[lo..lo+8), returning their code u. With a = fround(id·x) that is 0 for a ≤ 2, 1 for
 * 2 < a < 4 and 2 from 4 on (a − 1 and the halving are exact near 2 and 4, and nearest_int rounds
 * half to even); id·x is exact in double, so the tests are made on it before rounding. Far from
 * the range where nearest_int is plain rounding, and for NaN, the literal computation is used.
 */
export function levels8(id: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  let u = 0;
  for (let i = 0; i < 8; i++) {
    const a = id * x[xo + i]!;
    const l = a > T2 ? (a < T4 ? 1 : a < 8388000 ? 2 : slowLevel(a)) : a > -8388000 ? 0 : slowLevel(a);
    L[lo + i] = l;
    u |= l << (2 * i);
  }
  return u;
}

/**
 * For ggml's sums Σ w·x·q and Σ w·q·q over q = 2l + 1: the float32 terms (w·x)·q and (w·q)·q per
 * value and level l = 0..3, at WXQ[4i + l] and WQ2[4i + l], so a scale candidate only adds them.
 */
export function termTables(w: Float32Array, x: Float32Array, n: number, WXQ: Float64Array, WQ2: Float64Array): void {
  for (let i = 0; i < n; i++) {
    const wi = w[i]!;
    const wx = fround(wi * x[i]!);
    for (let l = 0; l < 4; l++) {
      const q = 2 * l + 1;
      WXQ[4 * i + l] = fround(wx * q);
      WQ2[4 * i + l] = fround(fround(wi * q) * q);
    }
  }
}

/** ksigns_iq2xs: the 7 stored sign bits plus an eighth that makes the count of negatives even. */
export const KSIGNS_IQ2XS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let i = 0; i < 128; i++) {
    let p = 0;
    for (let b = 0; b < 7; b++) p ^= (i >> b) & 1;
    t[i] = i | (p << 7);
  }
  return t;
})();

/** The magnitudes of levels 0..3 in ggml-common.h's iq2xxs_grid, iq2xs_grid and iq2s_grid bytes. */
export const GRID_LEVELS: Float64Array = Float64Array.of(8, 25, 43, 62);

/**
 * glibc's qsort of (value, index) pairs by value as ggml's iq1 quantizers call it: for arrays this
 * small glibc sorts with msort_with_tmp, a top-down merge sort (left half n/2) that takes the left
 * element unless it compares greater, so equal values keep their order and NaN, equal to
 * everything under iq1_sort_helper, lands where the merges put it. Sorts
 * idx[0..n) by val[idx[...]] in place; tmp is scratch of n entries.
 */
export function msortIndices(
  val: Float32Array,
  vo: number,
  idx: Int32Array,
  tmp: Int32Array,
  lo: number,
  n: number,
): void {
  // without NaN the order is total and every stable sort gives glibc's result: insertion sort
  let nan = false;
  for (let i = lo; i < lo + n; i++) {
    const v = val[vo + idx[i]!]!;
    if (v !== v) {
      nan = true;
      break;
    }
  }
  if (!nan) {
    for (let i = lo + 1; i < lo + n; i++) {
      const e = idx[i]!,
        v = val[vo + e]!;
      let j = i - 1;
      while (j >= lo && val[vo + idx[j]!]! > v) {
        idx[j + 1] = idx[j]!;
        j--;
      }
      idx[j + 1] = e;
    }
    return;
  }
  mergeSort(val, vo, idx, tmp, lo, n);
}

function mergeSort(val: Float32Array, vo: number, idx: Int32Array, tmp: Int32Array, lo: number, n: number): void {
  if (n <= 1) return;
  const n1 = n >> 1,
    n2 = n - n1;
  mergeSort(val, vo, idx, tmp, lo, n1);
  mergeSort(val, vo, idx, tmp, lo + n1, n2);
  let i = lo,
    j = lo + n1,
    k = 0;
  const iEnd = lo + n1,
    jEnd = lo + n;
  while (i < iEnd && j < jEnd) {
    const a = val[vo + idx[i]!]!,
      b = val[vo + idx[j]!]!;
    // iq1_sort_helper: a < b ? -1 : a > b ? 1 : 0; take the left one unless the result is 1
    if (a > b) tmp[k++] = idx[j++]!;
    else tmp[k++] = idx[i++]!;
  }
  while (i < iEnd) tmp[k++] = idx[i++]!;
  // the rest of the right half is already in place
  for (let t = 0; t < k; t++) idx[lo + t] = tmp[t]!;
}
