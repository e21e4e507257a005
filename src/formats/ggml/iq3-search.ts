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

/**
 * iq3_find_best_neighbour for group k (values 4k..4k+3) against SQ (the scale's level values):
 * the first neighbour with the smallest weighted squared error. Writes its levels to out.
 */
function bestNeighbour(g: Iq3Grid, u: number, k4: number, out: Uint8Array, name: string): void {
  const nb = g.neighbours, lv = g.levels;
  const off = -g.map[u]! - 1;
  const n = nb[off]!;
  const x0 = XVAL[k4]!, x1 = XVAL[k4 + 1]!, x2 = XVAL[k4 + 2]!, x3 = XVAL[k4 + 3]!;
  const w0 = WAUX[k4]!, w1 = WAUX[k4 + 1]!, w2 = WAUX[k4 + 2]!, w3 = WAUX[k4 + 3]!;
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
    if (d2 < best) { best = d2; gi = idx; }
  }
  if (gi < 0) tooLarge(name);
  const b = 4 * gi;
  out[k4] = lv[b]!; out[k4 + 1] = lv[b + 1]!; out[k4 + 2] = lv[b + 2]!; out[k4 + 3] = lv[b + 3]!;
}

function setSq(scale: number): void {
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
  for (let i = 0; i < 32; i++) {
    const w = WEIGHT[i]!;
    WAUX[i] = fround(Math.sqrt(w));
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
        const t = fround(0.5 * fround(fround(id * XVAL[4 * k + i]!) - 1));
        const v = fround(t + 12582912);
        let l = v >= 8388608 && v < 16777216 ? v - 12582912 : nearestInt(t);
        l = l < 0 ? 0 : l > 7 ? 7 : l;
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
