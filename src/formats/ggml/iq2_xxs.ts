// IQ2_XXS: super-blocks of 256 weights, 66 bytes (2.0625 bits per weight): an FP16 scale d and, per
// 32 weights, two uint32: four 8-bit indices into a 256-point grid of 8-vectors with entries
// {8, 25, 43}, then four 7-bit sign patterns (the eighth sign makes the count of negatives even)
// and a 4-bit block scale in the top bits. Value = d·(0.5 + s)/4 · grid · sign.
// Quantization is ggml's quantize_row_iq2_xxs_impl, which needs an importance matrix (ggml asserts
// without one; lowbit refuses with a LowbitError). Float32 arithmetic with Math.fround throughout.
import { defineCodec } from '../define-codec.js';
import { LowbitError } from '../../errors.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { GROUP_MAX_EPS, nearestInt } from './search.js';
import { makeQp } from './search-k.js';
import { evenSigns8 } from './iq-signs.js';
import { GRID_LEVELS, iq2BestNeighbour, iqGrid, levels8, termTables, KSIGNS_IQ2XS as KSIGNS } from './iq2-grids.js';

const fround = Math.fround;
const F01 = fround(0.1);

const DEQ = new Float64Array(8);

const WEIGHT = new Float32Array(32);
const WAUX = new Float32Array(32);
const XVAL = new Float32Array(32);
const L = new Int8Array(32);
const WXQ = new Float64Array(128);
const WQ2 = new Float64Array(128);
const LAUX = new Int8Array(32);
const LQP = new Uint8Array(32);
const SIGNS = new Uint8Array(4);
const SCALES = new Float64Array(8);
const Q2 = new Uint32Array(16);

function quantizeRow(x: Float32Array, xo: number, dst: Uint8Array, o: number, nPerRow: number, qw: Float32Array): void {
  const g = iqGrid(256);
  const map = g.map,
    levels = g.levels;
  for (let ibl = 0; ibl < nPerRow / 256; ibl++) {
    const xbl = xo + 256 * ibl;
    const out = o + 66 * ibl;
    Q2.fill(0);
    let maxScale = 0;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) {
      const v = x[xbl + i]!;
      sumx2 = fround(sumx2 + fround(v * v));
    }
    const sigma2 = fround(sumx2 / 256);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      const qo = 256 * ibl + 32 * ib;
      for (let i = 0; i < 32; i++) {
        const v = x[xb + i]!;
        const w = fround(qw[qo + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
        WEIGHT[i] = w;
        WAUX[i] = Math.sqrt(w);
      }
      for (let k = 0; k < 4; k++) SIGNS[k] = evenSigns8(x, xb + 8 * k, WEIGHT, 8 * k, XVAL, 8 * k) & 127;
      let max = XVAL[0]!;
      for (let i = 1; i < 32; i++) {
        const v = XVAL[i]!;
        max = max > v ? max : v;
      }
      if (max < GROUP_MAX_EPS) {
        SCALES[ib] = 0;
        continue;
      }
      let scale = makeQp(32, 4, XVAL, LQP, WEIGHT);
      const effMax = fround(scale * 3);
      if (effMax <= 0) {
        SCALES[ib] = 0;
        continue;
      }
      for (let i = 0; i < 32; i++) L[i] = (LQP[i]! << 24) >> 24; // C reads the uint8 levels as int8
      termTables(WEIGHT, XVAL, 32, WXQ, WQ2);
      let best = 0;
      for (let is = -6; is <= 6; is++) {
        const id = fround(fround(5 + fround(is * F01)) / effMax);
        const thisScale = fround(1 / id);
        for (let k = 0; k < 4; k++) {
          const u = levels8(id, XVAL, 8 * k, LAUX, 8 * k);
          if (map[u]! < 0) iq2BestNeighbour(g, u, XVAL, 8 * k, WAUX, 8 * k, thisScale, LAUX, 8 * k);
        }
        let sumqx = 0,
          sumq2 = 0;
        for (let i = 0; i < 32; i++) {
          const t = 4 * i + LAUX[i]!;
          sumqx = fround(sumqx + WXQ[t]!);
          sumq2 = fround(sumq2 + WQ2[t]!);
        }
        if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
          scale = fround(sumqx / sumq2);
          best = fround(scale * sumqx);
          L.set(LAUX);
        }
      }
      if (scale > 0) {
        const id = fround(1 / scale);
        for (let k = 0; k < 4; k++) {
          const u = levels8(id, XVAL, 8 * k, L, 8 * k);
          let gi = map[u]!;
          if (gi < 0) gi = iq2BestNeighbour(g, u, XVAL, 8 * k, WAUX, 8 * k, scale, L, 8 * k);
          for (let i = 0; i < 8; i++) L[8 * k + i] = levels[8 * gi + i]!;
        }
        let sumqx = 0,
          sumq2 = 0;
        for (let i = 0; i < 32; i++) {
          const t = 4 * i + L[i]!;
          sumqx = fround(sumqx + WXQ[t]!);
          sumq2 = fround(sumq2 + WQ2[t]!);
        }
        if (sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) SIGNS[k] = ~SIGNS[k]! & 127;
      }
      let idx = 0,
        sg = 0;
      for (let k = 0; k < 4; k++) {
        let u = 0;
        for (let i = 0; i < 8; i++) u |= L[8 * k + i]! << (2 * i);
        u &= 0xffff;
        const gi = u < map.length ? map[u]! : -1;
        if (gi < 0) throw new LowbitError(`IQ2_XXS: point ${u} not on the grid (ggml aborts here; non-finite input?)`);
        idx |= gi << (8 * k);
        sg |= SIGNS[k]! << (7 * k);
      }
      if (!(scale >= 0))
        throw new LowbitError('IQ2_XXS: negative or NaN block scale (ggml asserts here; non-finite input?)');
      Q2[2 * ib] = idx;
      Q2[2 * ib + 1] = sg;
      SCALES[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      dst.fill(0, out, out + 66);
      continue;
    }
    const d = fround(maxScale / 31);
    const h = fp32ToFp16(d);
    dst[out] = h & 255;
    dst[out + 1] = h >>> 8;
    const id = fround(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      Q2[2 * ib + 1] = (Q2[2 * ib + 1]! | (l << 28)) >>> 0;
    }
    for (let j = 0; j < 16; j++) {
      const v = Q2[j]!,
        p = out + 2 + 4 * j;
      dst[p] = v & 255;
      dst[p + 1] = (v >>> 8) & 255;
      dst[p + 2] = (v >>> 16) & 255;
      dst[p + 3] = v >>> 24;
    }
  }
}

export const iq2_xxs = defineCodec({
  name: 'IQ2_XXS',
  typeId: GGML_TYPE.IQ2_XXS,
  imatrix: 'required',
  kernels: { quantImatrix: 'iq2_xxs_quant_imatrix', dequant: 'iq2_xxs_dequant' },
  layout:
    'Super-blocks of 256 weights: an FP16 scale, then per 32 weights four 8-bit indices into a 256-point grid of 8-vectors, four 7-bit sign patterns and a 4-bit scale, 2.06 bits per weight (needs an imatrix).',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const rb = (nPerRow / 256) * 66;
    for (let r = 0; r < nRows; r++) quantizeRow(src, r * nPerRow, dst, r * rb, nPerRow, imatrix!);
  },
  dequantize(src, dst, n) {
    const codes = iqGrid(256).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 66 * i;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const q = o + 2 + 8 * ib;
        const aux1 = (src[q + 4]! | (src[q + 5]! << 8) | (src[q + 6]! << 16) | (src[q + 7]! << 24)) >>> 0;
        const db = fround(fround(d * (0.5 + (aux1 >>> 28))) * 0.25);
        // the four grid magnitudes times db, then negated: T[sign·4 + level]
        for (let l = 0; l < 4; l++) {
          const v = fround(db * GRID_LEVELS[l]!);
          T[l] = v;
          T[4 + l] = -v;
        }
        for (let l = 0; l < 4; l++) {
          const c = codes[src[q + l]!]!;
          const signs = KSIGNS[(aux1 >>> (7 * l)) & 127]!;
          dst[y + 0] = T[(((signs >> 0) & 1) << 2) | ((c >> 0) & 3)]!;
          dst[y + 1] = T[(((signs >> 1) & 1) << 2) | ((c >> 2) & 3)]!;
          dst[y + 2] = T[(((signs >> 2) & 1) << 2) | ((c >> 4) & 3)]!;
          dst[y + 3] = T[(((signs >> 3) & 1) << 2) | ((c >> 6) & 3)]!;
          dst[y + 4] = T[(((signs >> 4) & 1) << 2) | ((c >> 8) & 3)]!;
          dst[y + 5] = T[(((signs >> 5) & 1) << 2) | ((c >> 10) & 3)]!;
          dst[y + 6] = T[(((signs >> 6) & 1) << 2) | ((c >> 12) & 3)]!;
          dst[y + 7] = T[(((signs >> 7) & 1) << 2) | ((c >> 14) & 3)]!;
          y += 8;
        }
      }
    }
  },
});
