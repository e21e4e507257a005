// IQ2_XS: super-blocks of 256 weights, 74 bytes (2.3125 bits per weight): an FP16 scale d, 32 uint16
// (per 8 weights: a 9-bit index into a 512-point grid of 8-vectors with entries {8, 25, 43} and a
// 7-bit sign pattern whose eighth sign makes the count of negatives even), then eight bytes of two
// 4-bit scales (one per 16 weights). Value = d·(0.5 + s)/4 · grid · sign.
// Quantization is ggml's quantize_row_iq2_xs_impl, which needs an importance matrix (ggml asserts
// without one; lowbit refuses with a LowbitError). Float32 arithmetic with Math.fround throughout.
import type { BlockCodec } from '../codec.js';
import { LowbitError } from '../../errors.js';
import { GGML_TYPE, ggmlTypeById } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { checkDequantize, checkQuantize } from './codec-args.js';
import { GROUP_MAX_EPS, nearestInt } from './search.js';
import { evenSigns8 } from './iq-signs.js';
import { wasmBlocks, wasmLatticeQuantize } from '../wasm/kernels.js';
import { GRID_LEVELS, iq2BestNeighbour, iqGrid, levels8, termTables, KSIGNS_IQ2XS as KSIGNS } from './iq2-grids.js';

const fround = Math.fround;
const TYPE = ggmlTypeById(GGML_TYPE.IQ2_XS)!;
const F01 = fround(0.1);

const DEQ = new Float64Array(16);

const WEIGHT = new Float32Array(16);
const WAUX = new Float32Array(16);
const XVAL = new Float32Array(16);
const L = new Int8Array(16);
const WXQ = new Float64Array(64);
const WQ2 = new Float64Array(64);
const LAUX = new Int8Array(16);
const SIGNS = new Uint8Array(2);
const SCALES = new Float64Array(16);
const Q2 = new Uint16Array(32);

function quantizeRow(x: Float32Array, xo: number, dst: Uint8Array, o: number, nPerRow: number, qw: Float32Array): void {
  const g = iqGrid(512);
  const map = g.map;
  for (let ibl = 0; ibl < nPerRow / 256; ibl++) {
    const xbl = xo + 256 * ibl;
    const out = o + 74 * ibl;
    Q2.fill(0);
    let maxScale = 0;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) {
      const v = x[xbl + i]!;
      sumx2 = fround(sumx2 + fround(v * v));
    }
    const sigma2 = fround(sumx2 / 256);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      const qo = 256 * ibl + 16 * ib;
      for (let i = 0; i < 16; i++) {
        const v = x[xb + i]!;
        const w = fround(qw[qo + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
        WEIGHT[i] = w;
        WAUX[i] = Math.sqrt(w);
      }
      for (let k = 0; k < 2; k++) SIGNS[k] = evenSigns8(x, xb + 8 * k, WEIGHT, 8 * k, XVAL, 8 * k) & 127;
      let max = XVAL[0]!;
      for (let i = 1; i < 16; i++) {
        const v = XVAL[i]!;
        max = max > v ? max : v;
      }
      L.fill(0);
      if (max < GROUP_MAX_EPS) {
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
        SIGNS[0] = ~SIGNS[0]! & 127;
        SIGNS[1] = ~SIGNS[1]! & 127;
      }
      for (let k = 0; k < 2; k++) {
        let u = 0;
        for (let i = 0; i < 8; i++) u |= L[8 * k + i]! << (2 * i);
        u &= 0xffff;
        const gi = u < map.length ? map[u]! : -1;
        if (gi < 0) throw new LowbitError(`IQ2_XS: point ${u} not on the grid (ggml aborts here; non-finite input?)`);
        Q2[2 * ib + k] = gi | (SIGNS[k]! << 9);
      }
      if (!(scale >= 0))
        throw new LowbitError('IQ2_XS: negative or NaN block scale (ggml asserts here; non-finite input?)');
      SCALES[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      dst.fill(0, out, out + 74);
      continue;
    }
    const d = fround(maxScale / 31);
    const h = fp32ToFp16(d);
    dst[out] = h & 255;
    dst[out + 1] = h >>> 8;
    const id = fround(1 / d);
    for (let ib = 0; ib < 16; ib += 2) {
      let l0 = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
      l0 = l0 < 0 ? 0 : l0 > 15 ? 15 : l0;
      let l1 = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib + 1]!) - 1)));
      l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
      dst[out + 66 + (ib >> 1)] = l0 | (l1 << 4);
    }
    for (let j = 0; j < 32; j++) {
      const v = Q2[j]!,
        p = out + 2 + 2 * j;
      dst[p] = v & 255;
      dst[p + 1] = v >>> 8;
    }
  }
}

export const iq2_xs: BlockCodec & { readonly requiresImatrix: boolean } = {
  name: 'IQ2_XS',
  type: TYPE,
  usesImatrix: true,
  requiresImatrix: true, // ggml_quantize_requires_imatrix
  layout:
    'Super-blocks of 256 weights: an FP16 scale, per 8 weights a 9-bit index into a 512-point grid of 8-vectors plus 7 sign bits, and a 4-bit scale per 16 weights, 2.31 bits per weight (needs an imatrix).',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    checkQuantize('IQ2_XS', TYPE, src, dst, nRows, nPerRow, imatrix);
    if (!imatrix)
      throw new LowbitError('IQ2_XS needs an importance matrix (ggml refuses to quantize to it without one)');
    const rb = (nPerRow / 256) * 74;
    // the WebAssembly kernel (iq2.as) when available; where it flags input ggml aborts on, the
    // TypeScript path below reruns and throws the codec's error
    if (wasmLatticeQuantize(null, 'iq2_xs_quant_imatrix', src, dst, nRows, nPerRow, rb, imatrix) === 'done') return;
    for (let r = 0; r < nRows; r++) quantizeRow(src, r * nPerRow, dst, r * rb, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    checkDequantize('IQ2_XS', TYPE, src, dst, n);
    if (wasmBlocks('iq2_xs_dequant', src, dst, n / 256, 74, 256 * 4)) return;
    const codes = iqGrid(512).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 74 * i;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const sc = src[o + 66 + ib]!;
        const db0 = fround(fround(d * (0.5 + (sc & 15))) * 0.25);
        const db1 = fround(fround(d * (0.5 + (sc >> 4))) * 0.25);
        // the four grid magnitudes times each scale, then negated: T[half·8 + sign·4 + level]
        for (let l = 0; l < 4; l++) {
          const v0 = fround(db0 * GRID_LEVELS[l]!),
            v1 = fround(db1 * GRID_LEVELS[l]!);
          T[l] = v0;
          T[4 + l] = -v0;
          T[8 + l] = v1;
          T[12 + l] = -v1;
        }
        for (let l = 0; l < 4; l++) {
          const q = o + 2 + 2 * (4 * ib + l);
          const qv = src[q]! | (src[q + 1]! << 8);
          const c = codes[qv & 511]!;
          const signs = KSIGNS[qv >> 9]!;
          const h = l < 2 ? 0 : 8;
          dst[y + 0] = T[h | (((signs >> 0) & 1) << 2) | ((c >> 0) & 3)]!;
          dst[y + 1] = T[h | (((signs >> 1) & 1) << 2) | ((c >> 2) & 3)]!;
          dst[y + 2] = T[h | (((signs >> 2) & 1) << 2) | ((c >> 4) & 3)]!;
          dst[y + 3] = T[h | (((signs >> 3) & 1) << 2) | ((c >> 6) & 3)]!;
          dst[y + 4] = T[h | (((signs >> 4) & 1) << 2) | ((c >> 8) & 3)]!;
          dst[y + 5] = T[h | (((signs >> 5) & 1) << 2) | ((c >> 10) & 3)]!;
          dst[y + 6] = T[h | (((signs >> 6) & 1) << 2) | ((c >> 12) & 3)]!;
          dst[y + 7] = T[h | (((signs >> 7) & 1) << 2) | ((c >> 14) & 3)]!;
          y += 8;
        }
      }
    }
  },
};
