// IQ1_M: super-blocks of 256 weights, 56 bytes (1.75 bits per weight): 32 bytes of low index bits
// (one per 8 weights), 16 bytes of 3-bit high index bits and shift signs (two groups of 8 per byte),
// then four uint16 holding sixteen 3-bit scales (one per 16 weights) and, in their top nibbles, the
// FP16 super-block scale d. Each index picks one of 2048 grid 8-vectors with entries in {-1, 0, 1};
// each group of 8 has its own shift δ = ±0.125. Value = d·(2s + 1)·(grid + δ).
// Quantization is ggml's quantize_row_iq1_m_impl: an exhaustive split of each sorted 16-block into
// three levels for the four shift combinations, then the grid; without an importance matrix the
// weights are x². Float32 arithmetic with Math.fround throughout. This is the reference and the
// fallback of the WebAssembly kernel (../wasm/iq1m.as), which quantize uses when it is available.
import { defineCodec } from '../define-codec.js';
import { LowbitError } from '../../errors.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp16Table, fp32ToFp16 } from '../half.js';
import { nearestInt } from './search.js';
import { iq1BestNeighbour, iqGrid, msortIndices } from './iq2-grids.js';
import { IQ1_DELTA } from './iq1_s.js';

const fround = Math.fround;
const GROUP_MAX_EPS_IQ1_M = fround(1e-7);
const FLT_MAX = 3.4028234663852886e38;
const X_P = Float64Array.of(-1 + IQ1_DELTA, IQ1_DELTA, 1 + IQ1_DELTA);
const X_M = Float64Array.of(-1 - IQ1_DELTA, -IQ1_DELTA, 1 - IQ1_DELTA);
const MASKS = Uint8Array.of(0x00, 0x80, 0x08, 0x88);

const WEIGHT = new Float32Array(16);
const L = new Int8Array(16);
const IDX = new Int32Array(16);
const TMP = new Int32Array(16);
const INDEX = new Uint16Array(2);
const SCALES = new Float64Array(16);
const SHIFTS = new Int8Array(16);
// per sorted position j and level: the float32 terms w·x_p·x, w·x_m·x, w·x_p², w·x_m² of element IDX[j]
const TXP = new Float64Array(48),
  TXM = new Float64Array(48),
  TQP = new Float64Array(48),
  TQM = new Float64Array(48);
const FIRST = new Uint8Array(16); // 1 when IDX[j] lies in the first group of 8
const SC = new Uint16Array(4);
const DEQ = new Float64Array(12);

function setWeights(x: Float32Array, xb: number, qw: Float32Array | null, qo: number, sigma2: number): void {
  if (qw) {
    for (let i = 0; i < 16; i++) {
      const v = x[xb + i]!;
      WEIGHT[i] = fround(qw[qo + i]! * fround(Math.sqrt(fround(sigma2 + fround(v * v)))));
    }
  } else {
    for (let i = 0; i < 16; i++) {
      const v = x[xb + i]!;
      WEIGHT[i] = fround(v * v);
    }
  }
}

function quantizeRow(
  x: Float32Array,
  xo: number,
  dst: Uint8Array,
  o: number,
  nPerRow: number,
  qw: Float32Array | null,
): void {
  const g = iqGrid(2048);
  const map = g.map,
    levels = g.levels;
  for (let ibl = 0; ibl < nPerRow / 256; ibl++) {
    const xbl = xo + 256 * ibl;
    const out = o + 56 * ibl;
    dst.fill(0, out, out + 56);
    let maxScale = 0;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) {
      const v = x[xbl + i]!;
      sumx2 = fround(sumx2 + fround(v * v));
    }
    const sigma2 = fround(fround(2 * sumx2) / 256);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      setWeights(x, xb, qw, 256 * ibl + 16 * ib, sigma2);
      let max = Math.abs(x[xb]!);
      for (let i = 1; i < 16; i++) {
        const a = Math.abs(x[xb + i]!);
        max = max > a ? max : a;
      }
      if (max < GROUP_MAX_EPS_IQ1_M) {
        SCALES[ib] = 0;
        SHIFTS[ib] = 0;
        continue;
      }
      for (let j = 0; j < 16; j++) IDX[j] = j;
      msortIndices(x, xb, IDX, TMP, 0, 16);
      for (let j = 0; j < 16; j++) {
        const i = IDX[j]!;
        const w = WEIGHT[i]!,
          v = x[xb + i]!;
        FIRST[j] = i < 8 ? 1 : 0;
        for (let lev = 0; lev < 3; lev++) {
          const wp = fround(w * X_P[lev]!),
            wm = fround(w * X_M[lev]!);
          TXP[3 * j + lev] = fround(wp * v);
          TXM[3 * j + lev] = fround(wm * v);
          TQP[3 * j + lev] = fround(wp * X_P[lev]!);
          TQM[3 * j + lev] = fround(wm * X_M[lev]!);
        }
      }
      let bestScore = -FLT_MAX,
        scale = max;
      let besti1 = -1,
        besti2 = -1,
        bestK = -1;
      // The four sums run over sorted positions j in order with level 0 below i1, 1 below i2, 2 after:
      // the partial sums up to i2 are shared by every split with the same i1 (kept in p*), and only
      // the level-2 tail is summed per split. k: 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-) shifts of the halves.
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        b0 = 0,
        b1 = 0,
        b2 = 0,
        b3 = 0; // partial sums over j < i1 at level 0
      for (let i1 = 0; i1 <= 16; i1++) {
        if (i1 > 0) {
          const j = i1 - 1,
            t = 3 * j;
          const xp = TXP[t]!,
            xm = TXM[t]!,
            qp = TQP[t]!,
            qm = TQM[t]!;
          a0 = fround(a0 + xp);
          a3 = fround(a3 + xm);
          b0 = fround(b0 + qp);
          b3 = fround(b3 + qm);
          if (FIRST[j]) {
            a1 = fround(a1 + xp);
            a2 = fround(a2 + xm);
            b1 = fround(b1 + qp);
            b2 = fround(b2 + qm);
          } else {
            a1 = fround(a1 + xm);
            a2 = fround(a2 + xp);
            b1 = fround(b1 + qm);
            b2 = fround(b2 + qp);
          }
        }
        let p0 = a0,
          p1 = a1,
          p2 = a2,
          p3 = a3,
          r0 = b0,
          r1 = b1,
          r2 = b2,
          r3 = b3;
        for (let i2 = i1; i2 <= 16; i2++) {
          if (i2 > i1) {
            const j = i2 - 1,
              t = 3 * j + 1;
            const xp = TXP[t]!,
              xm = TXM[t]!,
              qp = TQP[t]!,
              qm = TQM[t]!;
            p0 = fround(p0 + xp);
            p3 = fround(p3 + xm);
            r0 = fround(r0 + qp);
            r3 = fround(r3 + qm);
            if (FIRST[j]) {
              p1 = fround(p1 + xp);
              p2 = fround(p2 + xm);
              r1 = fround(r1 + qp);
              r2 = fround(r2 + qm);
            } else {
              p1 = fround(p1 + xm);
              p2 = fround(p2 + xp);
              r1 = fround(r1 + qm);
              r2 = fround(r2 + qp);
            }
          }
          let s0 = p0,
            s1 = p1,
            s2 = p2,
            s3 = p3,
            q0 = r0,
            q1 = r1,
            q2 = r2,
            q3 = r3;
          for (let j = i2; j < 16; j++) {
            const t = 3 * j + 2;
            const xp = TXP[t]!,
              xm = TXM[t]!,
              qp = TQP[t]!,
              qm = TQM[t]!;
            s0 = fround(s0 + xp);
            s3 = fround(s3 + xm);
            q0 = fround(q0 + qp);
            q3 = fround(q3 + qm);
            if (FIRST[j]) {
              s1 = fround(s1 + xp);
              s2 = fround(s2 + xm);
              q1 = fround(q1 + qp);
              q2 = fround(q2 + qm);
            } else {
              s1 = fround(s1 + xm);
              s2 = fround(s2 + xp);
              q1 = fround(q1 + qm);
              q2 = fround(q2 + qp);
            }
          }
          if (q0 > 0 && fround(s0 * s0) > fround(bestScore * q0)) {
            scale = fround(s0 / q0);
            bestScore = fround(scale * s0);
            besti1 = i1;
            besti2 = i2;
            bestK = 0;
          }
          if (q1 > 0 && fround(s1 * s1) > fround(bestScore * q1)) {
            scale = fround(s1 / q1);
            bestScore = fround(scale * s1);
            besti1 = i1;
            besti2 = i2;
            bestK = 1;
          }
          if (q2 > 0 && fround(s2 * s2) > fround(bestScore * q2)) {
            scale = fround(s2 / q2);
            bestScore = fround(scale * s2);
            besti1 = i1;
            besti2 = i2;
            bestK = 2;
          }
          if (q3 > 0 && fround(s3 * s3) > fround(bestScore * q3)) {
            scale = fround(s3 / q3);
            bestScore = fround(scale * s3);
            besti1 = i1;
            besti2 = i2;
            bestK = 3;
          }
        }
      }
      if (besti1 < 0 || besti2 < 0 || bestK < 0) {
        SCALES[ib] = 0;
        SHIFTS[ib] = 0;
        continue;
      }
      for (let j = 0; j < besti1; j++) L[IDX[j]!] = 0;
      for (let j = besti1; j < besti2; j++) L[IDX[j]!] = 1;
      for (let j = besti2; j < 16; j++) L[IDX[j]!] = 2;
      if (scale < 0) {
        for (let j = 0; j < 16; j++) L[j] = 2 - L[j]!;
        scale = -scale;
        bestK = 3 - bestK;
      }
      let allOnGrid = true;
      for (let k = 0; k < 2; k++) {
        const xx = (k === 0 ? bestK < 2 : bestK % 2 === 0) ? X_P : X_M;
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
        for (let k = 0; k < 2; k++) {
          const xx = (k === 0 ? bestK < 2 : bestK % 2 === 0) ? X_P : X_M;
          const p = 8 * INDEX[k]!;
          for (let j = 0; j < 8; j++) {
            const q = xx[levels[p + j]!]!;
            const wq = fround(WEIGHT[8 * k + j]! * q);
            sumqx = fround(sumqx + fround(wq * x[xb + 8 * k + j]!));
            sumq2 = fround(sumq2 + fround(wq * q));
          }
        }
        if (sumqx > 0 && sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      dst[out + 2 * ib] = INDEX[0]! & 255;
      dst[out + 2 * ib + 1] = INDEX[1]! & 255;
      dst[out + 32 + ib] = (INDEX[0]! >> 8) | ((INDEX[1]! >> 8) << 4);
      if (!(scale >= 0))
        throw new LowbitError('IQ1_M: negative or NaN block scale (ggml asserts here; non-finite input?)');
      SCALES[ib] = scale;
      SHIFTS[ib] = bestK;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    let d = fround(maxScale / 15);
    const id = fround(1 / d);
    let sumqx = 0,
      sumq2 = 0;
    SC.fill(0);
    for (let ib = 0; ib < 16; ib++) {
      let l = nearestInt(fround(0.5 * fround(fround(id * SCALES[ib]!) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      SC[ib >> 2] = SC[ib >> 2]! | (l << (3 * (ib & 3)));
      const sh = SHIFTS[ib]!;
      const qh = (dst[out + 32 + ib] = dst[out + 32 + ib]! | MASKS[sh]!);
      const xb = xbl + 16 * ib;
      setWeights(x, xb, qw, 256 * ibl + 16 * ib, sigma2);
      const m = 2 * l + 1;
      for (let k = 0; k < 2; k++) {
        const xx = (k === 0 ? sh < 2 : sh % 2 === 0) ? X_P : X_M;
        const p = 8 * (dst[out + 2 * ib + k]! + ((qh << (8 - 4 * k)) & 0x700));
        for (let j = 0; j < 8; j++) {
          const q = fround(xx[levels[p + j]!]! * m);
          const wq = fround(WEIGHT[8 * k + j]! * q);
          sumqx = fround(sumqx + fround(wq * x[xb + 8 * k + j]!));
          sumq2 = fround(sumq2 + fround(wq * q));
        }
      }
    }
    if (sumq2 > 0) d = fround(sumqx / sumq2);
    const s = fp32ToFp16(fround(d * fround(1.1125)));
    SC[0] = SC[0]! | ((s & 0x000f) << 12);
    SC[1] = SC[1]! | ((s & 0x00f0) << 8);
    SC[2] = SC[2]! | ((s & 0x0f00) << 4);
    SC[3] = SC[3]! | (s & 0xf000);
    for (let k = 0; k < 4; k++) {
      dst[out + 48 + 2 * k] = SC[k]! & 255;
      dst[out + 49 + 2 * k] = SC[k]! >> 8;
    }
  }
}

export const iq1_m = defineCodec({
  name: 'IQ1_M',
  typeId: GGML_TYPE.IQ1_M,
  imatrix: 'used',
  kernels: { quant: 'iq1_m_quant', quantImatrix: 'iq1_m_quant_imatrix', dequant: 'iq1_m_dequant' },
  layout:
    'Super-blocks of 256 weights: per 8 weights an 11-bit index into a 2048-point grid of {-1, 0, 1} 8-vectors and a ±1/8 shift, a 3-bit scale per 16 weights, and an FP16 scale spread over the scale words, 1.75 bits per weight.',
  quantize(src, dst, nRows, nPerRow, imatrix) {
    const rb = (nPerRow / 256) * 56;
    for (let r = 0; r < nRows; r++) quantizeRow(src, r * nPerRow, dst, r * rb, nPerRow, imatrix);
  },
  dequantize(src, dst, n) {
    const codes = iqGrid(2048).codes; // each point's eight 2-bit levels
    const T = DEQ;
    for (let i = 0; i < n / 256; i++) {
      const o = 56 * i;
      const sc0 = src[o + 48]! | (src[o + 49]! << 8),
        sc1 = src[o + 50]! | (src[o + 51]! << 8);
      const sc2 = src[o + 52]! | (src[o + 53]! << 8),
        sc3 = src[o + 54]! | (src[o + 55]! << 8);
      const d = fp16Table[(sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000)]!;
      let y = 256 * i;
      for (let ib = 0; ib < 8; ib++) {
        const sc = ib < 2 ? sc0 : ib < 4 ? sc1 : ib < 6 ? sc2 : sc3;
        const sh = 6 * (ib & 1);
        const dl1 = fround(d * (2 * ((sc >> sh) & 7) + 1));
        const dl2 = fround(d * (2 * ((sc >> (sh + 3)) & 7) + 1));
        const qh0 = src[o + 32 + 2 * ib]!,
          qh1 = src[o + 33 + 2 * ib]!;
        // dl·(grid + δ) for grid −1, 0, 1 is ±dl·0.875, ±dl·0.125, ±dl·1.125 (float32 rounding is
        // symmetric): T[6·half + 3·(δ < 0) + level] for both scales and both shifts
        for (let h = 0; h < 2; h++) {
          const dl = h === 0 ? dl1 : dl2;
          const a = fround(dl * 0.875),
            b = fround(dl * 0.125),
            c = fround(dl * 1.125);
          T[6 * h] = -a;
          T[6 * h + 1] = b;
          T[6 * h + 2] = c;
          T[6 * h + 3] = -c;
          T[6 * h + 4] = -b;
          T[6 * h + 5] = a;
        }
        for (let l = 0; l < 4; l++) {
          const qh = l < 2 ? qh0 : qh1;
          const c = codes[src[o + 4 * ib + l]! | ((qh << (l & 1 ? 4 : 8)) & 0x700)]!;
          const t = (l < 2 ? 0 : 6) + (qh & (l & 1 ? 0x80 : 0x08) ? 3 : 0);
          dst[y] = T[t + (c & 3)]!;
          dst[y + 1] = T[t + ((c >> 2) & 3)]!;
          dst[y + 2] = T[t + ((c >> 4) & 3)]!;
          dst[y + 3] = T[t + ((c >> 6) & 3)]!;
          dst[y + 4] = T[t + ((c >> 8) & 3)]!;
          dst[y + 5] = T[t + ((c >> 10) & 3)]!;
          dst[y + 6] = T[t + ((c >> 12) & 3)]!;
          dst[y + 7] = T[t + (c >> 14)]!;
          y += 8;
        }
      }
    }
  },
});
