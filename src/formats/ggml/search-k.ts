// Search helpers only the K-quants use (ggml-quants.c: make_qkx2_quants, make_q3_quants,
// make_qp_quants, the 6-bit scale/min packing) plus shared K-quant plumbing.
// ggml computes in float32; every float op result and float assignment is rounded with
// Math.fround here (for + - * / sqrt of floats, double-then-fround equals the float result).
// Functions take offsets into caller arrays instead of subarrays so the hot path allocates nothing.
import type { BlockCodec } from '../codec.js';
import { LowbitError } from '../../errors.js';
import { defineCodec } from '../define-codec.js';
import { ggmlTypeById } from '../ggml-types.js';
import type { BlockKernelName, RowKernelName } from '../wasm/kernels.js';
import { GROUP_MAX_EPS, nearestInt } from './search.js';

const fround = Math.fround;

export const QK_K = 256;

const lAux = new Uint8Array(32);
const xs = new Float32Array(32);
const ws = new Float32Array(32);
const xMin = new Float32Array(32);
// per-element products for the level currently in lAux: w·l, w·l·l, w·l·x (float32, as C forms them)
const cWl = new Float32Array(32);
const cWll = new Float32Array(32);
const cWlx = new Float32Array(32);

/**
 * make_qkx2_quants over x[xo..xo+n): asymmetric nmax-level quantization with a weighted
 * scale/min search. Writes levels to L[lo..], the scale to scales[j] and -min to mins[j].
 * With weights given, make_qkx3_quants does the identical arithmetic (its `max <= min` test
 * equals `max == min` because max >= min always holds), so the imatrix paths use this too.
 *
 * Exact shortcuts, none of which changes a result:
 * - a candidate (scale, min, error) depends only on the levels Laux (the sums use l, w, x, not
 *   min), so a step whose levels equal the previous step's cannot win and is skipped;
 * - w·l, w·l², w·l·x are recomputed only for elements whose level changed;
 * - with no negative weight every error term is >= 0 (or NaN), float addition is monotone, so
 *   once the running error reaches the best error the candidate cannot win and the loop stops.
 */
export function makeQkx2(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
  scales: Float32Array,
  mins: Float32Array,
  j: number,
): void {
  let min = x[xo]!;
  let max = min;
  let sumW = weights[0]!;
  let sumX = fround(sumW * min);
  let negW = sumW < 0;
  xs[0] = min;
  ws[0] = sumW;
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    const w = weights[i]!;
    xs[i] = xi;
    ws[i] = w;
    if (w < 0) negW = true;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    mins[j] = -min;
    scales[j] = 0;
    return;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = xs[i]!;
    const xm = fround(xi - min);
    xMin[i] = xm;
    let l = nearestInt(fround(iscale * xm));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = l;
    let diff = fround(fround(fround(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fround(diff * diff);
    bestError = fround(bestError + fround(ws[i]! * diff));
  }
  if (nstep < 1) {
    mins[j] = -min;
    scales[j] = scale;
    return;
  }
  lAux.fill(255, 0, n); // no valid level: the first step computes everything
  for (let is = 0; is <= nstep; is++) {
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let changed = false;
    for (let i = 0; i < n; i++) {
      // nearest_int inlined: adding 1.5·2^23 in float32 rounds to an integer (ties to even)
      const p = fround(iscale * xMin[i]!);
      const t = fround(p + 12582912);
      let l = t >= 8388608 && t < 16777216 ? (t - 12582912) | 0 : nearestInt(p);
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (l !== lAux[i]) {
        lAux[i] = l;
        changed = true;
        const wl = fround(ws[i]! * l);
        cWl[i] = wl;
        cWll[i] = wl * l;
        cWlx[i] = wl * xs[i]!;
      }
    }
    if (!changed) continue;
    let sumL = 0,
      sumL2 = 0,
      sumXL = 0;
    for (let i = 0; i < n; i++) {
      sumL = fround(sumL + cWl[i]!);
      sumL2 = fround(sumL2 + cWll[i]!);
      sumXL = fround(sumXL + cWlx[i]!);
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let curError = 0;
      let i = 0;
      if (useMad) {
        for (; i < n; i++) {
          const diff = Math.abs(fround(fround(fround(thisScale * lAux[i]!) + thisMin) - xs[i]!));
          curError = fround(curError + fround(ws[i]! * diff));
          if (curError >= bestError && !negW) break;
        }
      } else {
        for (; i < n; i++) {
          const d = fround(fround(fround(thisScale * lAux[i]!) + thisMin) - xs[i]!);
          curError = fround(curError + fround(ws[i]! * fround(d * d)));
          if (curError >= bestError && !negW) break;
        }
      }
      if (i === n && curError < bestError) {
        for (let k = 0; k < n; k++) L[lo + k] = lAux[k]!;
        bestError = curError;
        scale = thisScale;
        if (thisMin !== min) {
          min = thisMin;
          for (let k = 0; k < n; k++) xMin[k] = xs[k]! - min;
        }
      }
    }
  }
  mins[j] = -min;
  scales[j] = scale;
}

/**
 * make_q3_quants(n, nmax, x + xo, L + lo, do_rmse = true): symmetric levels in [0, 2*nmax)
 * written to L (int8), returns the scale. Weights are x² (the only way Q3_K calls it).
 */
export function makeQ3(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  let max = 0,
    amax = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const ax = Math.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumlx = 0,
    suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(fround(iscale * xi));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lo + i] = l;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const w = fround(xi * xi);
      const li = L[lo + i]!;
      let slx = fround(sumlx - fround(fround(w * xi) * li));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * li) * li));
        let newL = nearestInt(fround(fround(xi * sl2) / slx));
        newL = newL < -nmax ? -nmax : newL > nmax - 1 ? nmax - 1 : newL;
        if (newL !== li) {
          slx = fround(slx + fround(fround(w * xi) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/**
 * make_qp_quants: non-negative levels 0..nmax for non-negative x (the sub-block scales or mins),
 * weighted by quantWeights; levels to L (uint8, as C stores them), returns the scale.
 */
export function makeQp(n: number, nmax: number, x: Float32Array, L: Uint8Array, quantWeights: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    max = max > xi ? max : xi;
  }
  if (max < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  let iscale = fround(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(fround(iscale * x[i]!));
  const scale = fround(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    const diff = fround(xi - fround(scale * L[i]!));
    bestMse = fround(bestMse + fround(fround(quantWeights[i]! * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fround(fround(fround(fround(0.1) * is) + nmax) / max);
    const scaleIs = fround(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      let l = nearestInt(fround(iscaleIs * xi));
      if (l > nmax) l = nmax;
      const diff = fround(xi - fround(scaleIs * l));
      mse = fround(mse + fround(fround(quantWeights[i]! * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0,
    suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    let l = nearestInt(fround(iscale * xi));
    if (l > nmax) l = nmax;
    L[i] = l;
    const w = quantWeights[i]!;
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = quantWeights[i]!;
      const xi = x[i]!;
      const li = L[i]!;
      let slx = fround(sumlx - fround(fround(w * xi) * li));
      let sl2 = fround(suml2 - fround(fround(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(fround(fround(xi * sl2) / slx));
        if (newL > nmax) newL = nmax;
        if (newL !== li) {
          slx = fround(slx + fround(fround(w * xi) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/**
 * Packs eight 6-bit scales and mins into the 12-byte Q4_K/Q5_K scales field at dst[o..o+12):
 * bytes 0-3 hold scales 0-3, 4-7 mins 0-3, 8-11 the low nibbles of scales/mins 4-7, and the
 * top two bits of scales/mins 4-7 ride in bits 6-7 of bytes 0-7.
 */
export function packScaleMinK4(dst: Uint8Array, o: number, ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    dst[o + j] = ls[j]!;
    dst[o + j + 4] = lm[j]!;
  }
  for (let j = 4; j < 8; j++) {
    const s = ls[j]!,
      m = lm[j]!;
    dst[o + j + 4] = (s & 0xf) | ((m & 0xf) << 4);
    dst[o + j - 4] = dst[o + j - 4]! | ((s >> 4) << 6);
    dst[o + j] = dst[o + j]! | ((m >> 4) << 6);
  }
}

/** get_scale_min_k4 for all eight sub-blocks: unpacks the 12-byte field into sc[0..8), m[0..8). */
export function unpackScaleMinK4(q: Uint8Array, o: number, sc: Uint8Array, m: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    sc[j] = q[o + j]! & 63;
    m[j] = q[o + j + 4]! & 63;
  }
  for (let j = 4; j < 8; j++) {
    sc[j] = (q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4);
    m[j] = (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4);
  }
}

/** Writes an fp16 bit pattern little-endian at dst[o]. */
export function putHalf(dst: Uint8Array, o: number, h: number): void {
  dst[o] = h & 255;
  dst[o + 1] = h >>> 8;
}

export function getHalf(src: Uint8Array, o: number): number {
  return src[o]! | (src[o + 1]! << 8);
}

/** What a K-quant codec supplies; kQuantCodec adds the block loops (defineCodec the checks and WASM dispatch). */
export interface KQuantSpec {
  name: string;
  typeId: number;
  layout: string;
  /** its WebAssembly kernels: blocks without an imatrix, rows with one, dequantize */
  kernels: { quant: BlockKernelName; quantImatrix: RowKernelName; dequant: BlockKernelName };
  /** one block without an imatrix (the _ref function) */
  quantizeBlockRef(x: Float32Array, xo: number, dst: Uint8Array, o: number): void;
  /** one block with the imatrix at qw[qo..qo+256) (the _impl function) */
  quantizeBlockImatrix(x: Float32Array, xo: number, qw: Float32Array, qo: number, dst: Uint8Array, o: number): void;
  dequantize(src: Uint8Array, dst: Float32Array, n: number): void;
}

/**
 * The codec definition every K-quant shares: the TS reference loops the blocks. The imatrix
 * restarts at each row (ggml passes it per row), so that path walks rows × blocks.
 */
export function kQuantCodec(spec: KQuantSpec): BlockCodec {
  const { quantizeBlockRef, quantizeBlockImatrix } = spec;
  const typeSize = ggmlTypeById(spec.typeId)!.typeSize;
  return defineCodec({
    name: spec.name,
    typeId: spec.typeId,
    layout: spec.layout,
    imatrix: 'used',
    kernels: spec.kernels,
    quantize(src, dst, nRows, nPerRow, imatrix) {
      const nbRow = nPerRow / QK_K;
      if (!imatrix) {
        const nb = nRows * nbRow;
        for (let b = 0; b < nb; b++) quantizeBlockRef(src, b * QK_K, dst, b * typeSize);
        return;
      }
      for (let r = 0; r < nRows; r++) {
        for (let i = 0; i < nbRow; i++) {
          const b = r * nbRow + i;
          quantizeBlockImatrix(src, b * QK_K, imatrix, i * QK_K, dst, b * typeSize);
        }
      }
    },
    dequantize: spec.dequantize,
  });
}
