// The row driver IQ2_XS and IQ2_S share (ggml's quantize_row_iq2_xs_impl, quantize_row_iq2_s_impl):
// per 16 weights two 8-vectors on a grid of {8, 25, 43[, 62]} magnitudes, a scale search over 19
// candidates with the nearest grid point for points off the grid, and a 4-bit scale per 16 of a
// super-block FP16 scale. What differs is written in Iq2Row16: grid, signs (seven with even parity
// or eight free), the all-zero threshold, the sigma² and importance-less weights, the packing.
// Float32 arithmetic with Math.fround throughout.
import { LowbitError } from '../../errors.js';
import { fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { evenSigns8 } from './iq-signs.js';
import { iq2BestNeighbour, iqGrid, levels8, termTables } from './iq2-grids.js';

const fround = Math.fround;
const F01 = fround(0.1);

export interface Iq2Row16 {
  name: 'IQ2_XS' | 'IQ2_S';
  /** grid points: 512 (IQ2_XS, 9-bit indices) or 1024 (IQ2_S, 10-bit) */
  grid: 512 | 1024;
  typeSize: number;
  /**
   * IQ2_XS: seven sign bits per 8 weights (the eighth makes the count of negatives even), packed
   * with the 9-bit index into one uint16 per 8; IQ2_S: eight free sign bits, index low bytes, high
   * bits and sign bytes apart.
   */
  evenSigns: boolean;
  /** a group whose max |x| is below this is all zero (GROUP_MAX_EPS, GROUP_MAX_EPS_IQ2_S) */
  eps: number;
  /** sigma² = sigmaScale · Σx² / 256 */
  sigmaScale: number;
  /** the FP16 scale stored is fround(d · dScale) */
  dScale: number;
  /** byte offset of the eight scale bytes in a block */
  scalesAt: number;
}

const WEIGHT = new Float32Array(16);
const WAUX = new Float32Array(16);
const XVAL = new Float32Array(16);
const L = new Int8Array(16);
const WXQ = new Float64Array(64);
const WQ2 = new Float64Array(64);
const LAUX = new Int8Array(16);
const SIGNS = new Uint8Array(2);
const SCALES = new Float64Array(16);

/** One row of nPerRow weights at x[xo..] into dst[o..]; qw null: IQ2_S's weights sigma²/4 + x². */
export function quantizeRowIq2x16(
  f: Iq2Row16,
  x: Float32Array,
  xo: number,
  dst: Uint8Array,
  o: number,
  nPerRow: number,
  qw: Float32Array | null,
): void {
  const g = iqGrid(f.grid);
  const map = g.map;
  const { typeSize, evenSigns, eps, scalesAt } = f;
  const signMask = evenSigns ? 127 : 255;
  for (let ibl = 0; ibl < nPerRow / 256; ibl++) {
    const xbl = xo + 256 * ibl;
    const out = o + typeSize * ibl;
    dst.fill(0, out, out + typeSize);
    let maxScale = 0;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) {
      const v = x[xbl + i]!;
      sumx2 = fround(sumx2 + fround(v * v));
    }
    const sigma2 = fround(fround(f.sigmaScale * sumx2) / 256);
    const sigma2q = fround(0.25 * sigma2);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      const qo = 256 * ibl + 16 * ib;
      if (qw) {
        for (let i = 0; i < 16; i++) {
          const v = x[xb + i]!;
          WEIGHT[i] = fround(qw[qo + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
        }
      } else {
        for (let i = 0; i < 16; i++) {
          const v = x[xb + i]!;
          WEIGHT[i] = fround(sigma2q + fround(v * v));
        }
      }
      for (let i = 0; i < 16; i++) WAUX[i] = Math.sqrt(WEIGHT[i]!);
      if (evenSigns) {
        for (let k = 0; k < 2; k++) SIGNS[k] = evenSigns8(x, xb + 8 * k, WEIGHT, 8 * k, XVAL, 8 * k) & 127;
      } else {
        for (let k = 0; k < 2; k++) {
          let s = 0;
          for (let i = 0; i < 8; i++) {
            const v = x[xb + 8 * k + i]!;
            if (v >= 0) XVAL[8 * k + i] = v;
            else {
              XVAL[8 * k + i] = -v;
              s |= 1 << i;
            }
          }
          SIGNS[k] = s;
        }
      }
      let max = XVAL[0]!;
      for (let i = 1; i < 16; i++) {
        const v = XVAL[i]!;
        max = max > v ? max : v;
      }
      L.fill(0);
      if (max < eps) {
        SCALES[ib] = 0;
        continue;
      }
      termTables(WEIGHT, XVAL, 16, WXQ, WQ2);
      let best = 0;
      let scale = fround(max / 5);
      let onGrid0 = true,
        onGrid1 = true;
      for (let is = -9; is <= 9; is++) {
        const id = fround(fround(5 + fround(is * F01)) / max);
        const thisScale = fround(1 / id);
        let aux0 = true,
          aux1 = true;
        for (let k = 0; k < 2; k++) {
          const u = levels8(id, XVAL, 8 * k, LAUX, 8 * k);
          if (map[u]! < 0) {
            if (k === 0) aux0 = false;
            else aux1 = false;
            iq2BestNeighbour(g, u, XVAL, 8 * k, WAUX, 8 * k, thisScale, LAUX, 8 * k);
          }
        }
        let sumqx = 0,
          sumq2 = 0;
        for (let i = 0; i < 16; i++) {
          const t = 4 * i + LAUX[i]!;
          sumqx = fround(sumqx + WXQ[t]!);
          sumq2 = fround(sumq2 + WQ2[t]!);
        }
        if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
          scale = fround(sumqx / sumq2);
          best = fround(scale * sumqx);
          L.set(LAUX);
          onGrid0 = aux0;
          onGrid1 = aux1;
        }
      }
      if ((!onGrid0 || !onGrid1) && scale > 0) {
        const id = fround(1 / scale);
        for (let k = 0; k < 2; k++) {
          if (k === 0 ? onGrid0 : onGrid1) continue;
          const u = levels8(id, XVAL, 8 * k, L, 8 * k);
          if (map[u]! < 0) iq2BestNeighbour(g, u, XVAL, 8 * k, WAUX, 8 * k, scale, L, 8 * k);
        }
        let sumqx = 0,
          sumq2 = 0;
        for (let i = 0; i < 16; i++) {
          const t = 4 * i + L[i]!;
          sumqx = fround(sumqx + WXQ[t]!);
          sumq2 = fround(sumq2 + WQ2[t]!);
        }
        if (sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      if (scale < 0) {
        scale = -scale;
        SIGNS[0] = ~SIGNS[0]! & signMask;
        SIGNS[1] = ~SIGNS[1]! & signMask;
      }
      for (let k = 0; k < 2; k++) {
        let u = 0;
        for (let i = 0; i < 8; i++) u |= L[8 * k + i]! << (2 * i);
        u &= 0xffff;
        const gi = u < map.length ? map[u]! : -1;
        if (gi < 0)
          throw new LowbitError(`${f.name}: point ${u} not on the grid (ggml aborts here; non-finite input?)`);
        const i8 = 2 * ib + k;
        if (evenSigns) {
          const v = gi | (SIGNS[k]! << 9);
          dst[out + 2 + 2 * i8] = v & 255;
          dst[out + 3 + 2 * i8] = v >>> 8;
        } else {
          dst[out + 2 + i8] = gi & 255;
          dst[out + 66 + (i8 >> 2)]! |= (gi >> 8) << (2 * (i8 & 3));
          dst[out + 34 + i8] = SIGNS[k]!;
        }
      }
      if (!(scale >= 0))
        throw new LowbitError(`${f.name}: negative or NaN block scale (ggml asserts here; non-finite input?)`);
      SCALES[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      // IQ2_XS zeroes the whole block; IQ2_S keeps the indices and signs of zero-scale groups
      if (evenSigns) dst.fill(0, out, out + typeSize);
      continue;
    }
    const d = fround(maxScale / 31);
    const h = fp32ToFp16(fround(d * f.dScale));
    dst[out] = h & 255;
    dst[out + 1] = h >>> 8;
    const id = fround(1 / d);
    for (let ib = 0; ib < 16; ib += 2) {
      let l0 = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
      l0 = l0 < 0 ? 0 : l0 > 15 ? 15 : l0;
      let l1 = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib + 1]!) - 1)));
      l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
      dst[out + scalesAt + (ib >> 1)] = l0 | (l1 << 4);
    }
  }
}
