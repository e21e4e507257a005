// IQ1_S: super-blocks of 256 weights, 50 bytes (1.5625 bits per weight): an FP16 scale d, 32 bytes of
// low index bits (one per 8 weights), then per 32 weights a uint16 with four 3-bit high index bits,
// a 3-bit block scale s and a sign bit for the shift δ = ±0.125. Each index picks one of 2048 grid
// 8-vectors with entries in {-1, 0, 1}. Value = d·(2s + 1)·(grid + δ).
// Quantization is ggml's quantize_row_iq1_s_impl: an exhaustive split of each sorted 32-block into
// three levels, then the grid. It needs an importance matrix (ggml asserts without one; lowbit
// refuses with a LowbitError). Float32 arithmetic with Math.fround throughout.
import { defineCodec } from '../define-codec.js';
import { LowbitError } from '../../errors.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { iq1BestNeighbour, iqGrid, msortIndices } from './iq2-grids.js';

const fround = Math.fround;
const GROUP_MAX_EPS_IQ1_S = fround(1e-12);
const FLT_MAX = 3.4028234663852886e38;
/** IQ1S_DELTA */
export const IQ1_DELTA = 0.125;
const X_P = Float64Array.of(-1 + IQ1_DELTA, IQ1_DELTA, 1 + IQ1_DELTA);
const X_M = Float64Array.of(-1 - IQ1_DELTA, -IQ1_DELTA, 1 - IQ1_DELTA);
const XP0 = X_P[0]!,
  XP1 = X_P[1]!,
  XP2 = X_P[2]!,
  XM0 = X_M[0]!,
  XM2 = X_M[2]!;

const WEIGHT = new Float32Array(32);
const L = new Int8Array(32);
const IDX = new Int32Array(32);
const TMP = new Int32Array(32);
const SUMX = new Float64Array(33);
const SUMW = new Float64Array(33);
// per split point: the first and last group's terms of sumqx/sumq2, for both shifts
const AXP = new Float64Array(33),
  AXM = new Float64Array(33),
  AWP = new Float64Array(33),
  AWM = new Float64Array(33);
const CXP = new Float64Array(33),
  CXM = new Float64Array(33),
  CWP = new Float64Array(33),
  CWM = new Float64Array(33);
const INDEX = new Uint16Array(4);
const SCALES = new Float64Array(8);
const SHIFTS = new Int8Array(8);

function quantizeRow(x: Float32Array, xo: number, dst: Uint8Array, o: number, nPerRow: number, qw: Float32Array): void {
  const g = iqGrid(2048);
  const map = g.map,
    levels = g.levels;
  for (let ibl = 0; ibl < nPerRow / 256; ibl++) {
    const xbl = xo + 256 * ibl;
    const out = o + 50 * ibl;
    dst.fill(0, out, out + 50);
    let maxScale = 0;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) {
      const v = x[xbl + i]!;
      sumx2 = fround(sumx2 + fround(v * v));
    }
    const sigma2 = fround(fround(2 * sumx2) / 256);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      const qo = 256 * ibl + 32 * ib;
      for (let i = 0; i < 32; i++) {
        const v = x[xb + i]!;
        WEIGHT[i] = fround(qw[qo + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
      }
      let max = Math.abs(x[xb]!);
      for (let i = 1; i < 32; i++) {
        const a = Math.abs(x[xb + i]!);
        max = max > a ? max : a;
      }
      if (max < GROUP_MAX_EPS_IQ1_S) {
        SCALES[ib] = 0;
        SHIFTS[ib] = 1;
        continue;
      }
      for (let j = 0; j < 32; j++) IDX[j] = j;
      msortIndices(x, xb, IDX, TMP, 0, 32);
      SUMX[0] = 0;
      SUMW[0] = 0;
      for (let j = 0; j < 32; j++) {
        const i = IDX[j]!;
        SUMX[j + 1] = fround(SUMX[j]! + fround(WEIGHT[i]! * x[xb + i]!));
        SUMW[j + 1] = fround(SUMW[j]! + WEIGHT[i]!);
      }
      const sx0 = SUMX[0]!,
        sw0 = SUMW[0]!,
        sxN = SUMX[32]!,
        swN = SUMW[32]!;
      for (let k = 0; k <= 32; k++) {
        const a = fround(SUMX[k]! - sx0),
          aw = fround(SUMW[k]! - sw0);
        AXP[k] = fround(a * XP0);
        AXM[k] = fround(a * XM0);
        AWP[k] = fround(fround(aw * XP0) * XP0);
        AWM[k] = fround(fround(aw * XM0) * XM0);
        const c = fround(sxN - SUMX[k]!),
          cw = fround(swN - SUMW[k]!);
        CXP[k] = fround(c * XP2);
        CXM[k] = fround(c * XM2);
        CWP[k] = fround(fround(cw * XP2) * XP2);
        CWM[k] = fround(fround(cw * XM2) * XM2);
      }
      let bestScore = -FLT_MAX,
        scale = max;
      let besti1 = -1,
        besti2 = -1,
        bestShift = 0;
      // Per split: b·x_p[1] and b·x_m[1] are ±b/8 (the same float32 up to sign), and likewise the
      // middle sumq2 term is shared. A candidate wins when fround(sumqx²) > fround(best·sumq2).
      // Shortcut (same result): once best ≥ 0, each sum is first formed exactly in double, where
      // it is linear in the prefix sums: sumqx = K − SUMX[i2], sumq2 = K' − c·SUMW[i2]. ggml's
      // float32 sums (and the float32 pieces they add) lie within a few roundings of it: at most
      // 1e-6·(|first piece| + 3·max|SUMX|) (resp. SUMW), plus 1e-44 for subnormals. When even the
      // largest possible sumqx² is ≤ best times the smallest possible sumq2 the candidate cannot
      // win (rounding is monotone) and its float32 sums are skipped.
      let gx = 0,
        gw = 0;
      for (let k = 0; k <= 32; k++) {
        const ax = Math.abs(SUMX[k]!),
          aw = Math.abs(SUMW[k]!);
        gx = gx > ax ? gx : ax;
        gw = gw > aw ? gw : aw;
        if (ax !== ax) gx = NaN; // keep NaN (the comparisons above would drop it)
        if (aw !== aw) gw = NaN;
      }
      for (let i1 = 0; i1 <= 32; i1++) {
        const sx1 = SUMX[i1]!,
          sw1 = SUMW[i1]!;
        const axp = AXP[i1]!,
          axm = AXM[i1]!,
          awp = AWP[i1]!,
          awm = AWM[i1]!;
        const k1 = axp - 0.125 * sx1 + 1.125 * sxN,
          k2 = axm + 0.125 * sx1 + 0.875 * sxN;
        const k3 = awp - 0.015625 * sw1 + 1.265625 * swN,
          k4 = awm - 0.015625 * sw1 + 0.765625 * swN;
        const exp = 1e-6 * (Math.abs(axp) + 3 * gx) + 1e-44,
          exm = 1e-6 * (Math.abs(axm) + 3 * gx) + 1e-44;
        const eqp = 1e-6 * (Math.abs(awp) + 3 * gw) + 1e-44,
          eqm = 1e-6 * (Math.abs(awm) + 3 * gw) + 1e-44;
        for (let i2 = i1; i2 <= 32; i2++) {
          if (bestScore >= 0) {
            const sx = SUMX[i2]!,
              sw = SUMW[i2]!;
            const xp = Math.abs(k1 - sx) + exp,
              qp = k3 - 1.25 * sw - eqp;
            const xm = Math.abs(k2 - sx) + exm,
              qm = k4 - 0.75 * sw - eqm;
            if (xp * xp * 1.000000001 <= bestScore * qp && xm * xm * 1.000000001 <= bestScore * qm) continue;
          }
          const b = fround(SUMX[i2]! - sx1),
            bw = fround(SUMW[i2]! - sw1);
          const bp = fround(b * XP1);
          const bq = fround(fround(bw * XP1) * XP1);
          let sumqx = fround(fround(axp + bp) + CXP[i2]!);
          let sumq2 = fround(fround(awp + bq) + CWP[i2]!);
          // fround(a) > fround(b) implies a > b (both products exact in double): cheap test first
          if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2 && fround(sumqx * sumqx) > fround(bestScore * sumq2)) {
            scale = fround(sumqx / sumq2);
            bestScore = fround(scale * sumqx);
            besti1 = i1;
            besti2 = i2;
            bestShift = 1;
          }
          sumqx = fround(fround(axm - bp) + CXM[i2]!);
          sumq2 = fround(fround(awm + bq) + CWM[i2]!);
          if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2 && fround(sumqx * sumqx) > fround(bestScore * sumq2)) {
            scale = fround(sumqx / sumq2);
            bestScore = fround(scale * sumqx);
            besti1 = i1;
            besti2 = i2;
            bestShift = -1;
          }
        }
      }
      if (besti1 < 0 || besti2 < 0 || bestShift === 0) {
        SCALES[ib] = 0;
        SHIFTS[ib] = 1;
        continue;
      }
      for (let j = 0; j < besti1; j++) L[IDX[j]!] = 0;
      for (let j = besti1; j < besti2; j++) L[IDX[j]!] = 1;
      for (let j = besti2; j < 32; j++) L[IDX[j]!] = 2;
      if (scale < 0) {
        for (let j = 0; j < 32; j++) L[j] = 2 - L[j]!;
        scale = -scale;
        bestShift = -bestShift;
      }
      let allOnGrid = true;
      const xx = bestShift === 1 ? X_P : X_M;
      for (let k = 0; k < 4; k++) {
        let u = 0;
        for (let j = 0; j < 8; j++) u |= L[8 * k + j]! << (2 * j);
        let gi = map[u]!;
        if (gi < 0) {
          allOnGrid = false;
          gi = iq1BestNeighbour(g, u, x, xb + 8 * k, WEIGHT, 8 * k, scale, xx, L, 8 * k);
        }
        INDEX[k] = gi;
      }
      if (!allOnGrid) {
        let sumqx = 0,
          sumq2 = 0;
        for (let k = 0; k < 4; k++) {
          const p = 8 * INDEX[k]!;
          for (let j = 0; j < 8; j++) {
            const w = WEIGHT[8 * k + j]!;
            const q = xx[levels[p + j]!]!;
            const wq = fround(w * q);
            sumqx = fround(sumqx + fround(wq * x[xb + 8 * k + j]!));
            sumq2 = fround(sumq2 + fround(wq * q));
          }
        }
        if (sumqx > 0 && sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      let h = 0;
      for (let k = 0; k < 4; k++) {
        dst[out + 2 + 4 * ib + k] = INDEX[k]! & 255;
        h |= (INDEX[k]! >> 8) << (3 * k);
      }
      dst[out + 34 + 2 * ib] = h & 255;
      dst[out + 35 + 2 * ib] = h >> 8;
      if (!(scale >= 0))
        throw new LowbitError('IQ1_S: negative or NaN block scale (ggml asserts here; non-finite input?)');
      SCALES[ib] = scale;
      SHIFTS[ib] = bestShift;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    const d = fround(maxScale / 15);
    const hd = fp32ToFp16(fround(d * 1.125));
    dst[out] = hd & 255;
    dst[out + 1] = hd >>> 8;
    const id = fround(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      if (SHIFTS[ib] === -1) l |= 8;
      dst[out + 35 + 2 * ib]! |= l << 4;
    }
  }
}

const DEQ = new Float64Array(3);

export const iq1_s = defineCodec({
  name: 'IQ1_S',
  typeId: GGML_TYPE.IQ1_S,
  imatrix: 'required',
  kernels: { quantImatrix: 'iq1_s_quant_imatrix', dequant: 'iq1_s_dequant' },
  layout:
    'Super-blocks of 256 weights: an FP16 scale, per 8 weights an 11-bit index into a 2048-point grid of {-1, 0, 1} 8-vectors, per 32 weights a 3-bit scale and a ±1/8 shift, 1.56 bits per weight (needs an imatrix).',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const rb = (nPerRow / 256) * 50;
    for (let r = 0; r < nRows; r++) quantizeRow(src, r * nPerRow, dst, r * rb, nPerRow, imatrix!);
  },
  dequantize(src, dst, n) {
    const codes = iqGrid(2048).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 50 * i;
      const d = fp16Table[src[o]! | (src[o + 1]! << 8)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const qh = src[o + 34 + 2 * ib]! | (src[o + 35 + 2 * ib]! << 8);
        const dl = fround(d * (2 * ((qh >> 12) & 7) + 1));
        const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
        // dl·(grid + δ) for the three grid values −1, 0, 1 (levels 0..2)
        T[0] = fround(dl * (delta - 1));
        T[1] = fround(dl * delta);
        T[2] = fround(dl * (delta + 1));
        for (let l = 0; l < 4; l++) {
          const c = codes[src[o + 2 + 4 * ib + l]! | (((qh >> (3 * l)) & 7) << 8)]!;
          dst[y] = T[c & 3]!;
          dst[y + 1] = T[(c >> 2) & 3]!;
          dst[y + 2] = T[(c >> 4) & 3]!;
          dst[y + 3] = T[(c >> 6) & 3]!;
          dst[y + 4] = T[(c >> 8) & 3]!;
          dst[y + 5] = T[(c >> 10) & 3]!;
          dst[y + 6] = T[(c >> 12) & 3]!;
          dst[y + 7] = T[c >> 14]!;
          y += 8;
        }
      }
    }
  },
});
