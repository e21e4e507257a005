// Format-specific refinements for `--encoder best` (see encoder.ts): each takes a row already
// encoded (ggml's blocks, or better ones) and searches around it on the judged objective,
// Σ w (x − x̂)², keeping a change only when the block's decoded error goes down. The codes are
// always re-rounded to the nearest level for the scales tried (the best codes for given scales in
// these formats), with the format's own code (finishBlock), and the error is measured with the
// format's own decoder, so what is kept is what ggml will decode.
import { GGML_TYPE as T } from './ggml-types.js';
import { fp16Table, fp32ToFp16 } from './half.js';
import { getHalf, packScaleMinK4, putHalf, unpackScaleMinK4 } from './ggml/search-k.js';
import { finishBlock as finishQ4K } from './ggml/q4_k.js';
import { finishBlock as finishQ5K } from './ggml/q5_k.js';
import { finishBlock as finishQ6K } from './ggml/q6_k.js';
import { finishBlock as finishQ3K, putScale6, unpackScales6 } from './ggml/q3_k.js';
import { finishBlock as finishQ2K } from './ggml/q2_k.js';
import { q4_K } from './ggml/q4_k.js';
import { q5_K } from './ggml/q5_k.js';
import { q6_K } from './ggml/q6_k.js';
import { q3_K } from './ggml/q3_k.js';
import { q2_K } from './ggml/q2_k.js';
import type { BlockCodec } from './codec.js';
import { packNibbles, packQ5 } from './ggml/legacy-block.js';

/** refine(x, row bytes, n, importances or null): improves the row's blocks in place. */
export type Refiner = (x: Float32Array, row: Uint8Array, n: number, w: Float32Array | null) => void;

const fround = Math.fround;

// ---------------------------------------------------------------------------------------------
// The 32-weight legacy formats. Symmetric (Q4_0, Q5_0, Q8_0: weight = d·q): a wider scale search than
// ggml's (max/-8 or its imatrix search over 18 scales): many candidate scales around max/lo and
// max/hi, each followed by a weighted least-squares refit of the scale to its codes (rounded to FP16),
// codes re-rounded. With a minimum (Q4_1, Q5_1: weight = d·q + m): candidate ranges [min, max]
// narrowed or widened at both ends, each followed by a weighted least-squares refit of d and m to
// the codes (both rounded to FP16), codes re-rounded.

interface LegacyFormat {
  typeSize: number;
  /** code range as the decoder reads it (weight = d·q [+ m]) */
  lo: number;
  hi: number;
  /** byte offset of the FP16 minimum, -1 for the symmetric formats */
  mOff: number;
  get(row: Uint8Array, o: number, q: Int32Array): void;
  put(row: Uint8Array, o: number, q: Int32Array): void;
}

/** The codes as the block stores them (q − bias), for the formats' own packers (legacy-block.ts). */
const stored = new Uint8Array(32);
function storedCodes(q: Int32Array, bias: number): Uint8Array {
  for (let j = 0; j < 32; j++) stored[j] = q[j]! - bias;
  return stored;
}

/** 4-bit codes in 16 bytes at o (low nibbles: weights 0..15, high: 16..31), stored as q - bias */
function nibbles(at: number, bias: number): Pick<LegacyFormat, 'get' | 'put'> {
  return {
    get(row, o, q) {
      for (let j = 0; j < 16; j++) {
        const b = row[o + at + j]!;
        q[j] = (b & 0xf) + bias;
        q[j + 16] = (b >> 4) + bias;
      }
    },
    put(row, o, q) {
      packNibbles(storedCodes(q, bias), row, o + at);
    },
  };
}

/** 5-bit codes: the 5th bits in the 32-bit word at qhAt, the low nibbles in 16 bytes at qsAt, stored as q - bias */
function fiveBits(qhAt: number, qsAt: number, bias: number): Pick<LegacyFormat, 'get' | 'put'> {
  return {
    get(row, o, q) {
      const qh =
        (row[o + qhAt]! | (row[o + qhAt + 1]! << 8) | (row[o + qhAt + 2]! << 16) | (row[o + qhAt + 3]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const b = row[o + qsAt + j]!;
        q[j] = ((b & 0xf) | (((qh >>> j) & 1) << 4)) + bias;
        q[j + 16] = ((b >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + bias;
      }
    },
    put(row, o, q) {
      packQ5(storedCodes(q, bias), row, o + qhAt, o + qsAt);
    },
  };
}

const LEGACY: [number, LegacyFormat][] = [
  [T.Q4_0, { typeSize: 18, lo: -8, hi: 7, mOff: -1, ...nibbles(2, -8) }],
  [T.Q5_0, { typeSize: 22, lo: -16, hi: 15, mOff: -1, ...fiveBits(2, 6, -16) }],
  [
    T.Q8_0,
    {
      typeSize: 34,
      lo: -128,
      hi: 127,
      mOff: -1,
      get(row, o, q) {
        for (let j = 0; j < 32; j++) q[j] = (row[o + 2 + j]! << 24) >> 24;
      },
      put(row, o, q) {
        for (let j = 0; j < 32; j++) row[o + 2 + j] = q[j]! & 255;
      },
    },
  ],
  [T.Q4_1, { typeSize: 20, lo: 0, hi: 15, mOff: 2, ...nibbles(4, 0) }],
  [T.Q5_1, { typeSize: 24, lo: 0, hi: 31, mOff: 2, ...fiveBits(4, 8, 0) }],
];

const fp16 = (v: number) => fp16Table[fp32ToFp16(v)]!;

/** One block's values and their weights (1 without importances) as doubles, and the codes of the last scan. */
const bx = new Float64Array(32),
  bw = new Float64Array(32),
  bq = new Int32Array(32);
/** Sums of the last symmetric scan: Σ w·x·q, Σ w·q² */
let sXQ = 0,
  sQQ = 0;

/** Codes nearest x/d within [lo, hi] into bq; returns Σ w (x − d·q)², with the refit's sums in sXQ, sQQ. */
function scanSymmetric(d: number, lo: number, hi: number): number {
  let e = 0,
    sxq = 0,
    sqq = 0;
  for (let j = 0; j < 32; j++) {
    const v = bx[j]!,
      ww = bw[j]!;
    let l = Math.round(v / d);
    l = l < lo ? lo : l > hi ? hi : l;
    bq[j] = l;
    const r = v - fround(l * d);
    e += ww * r * r;
    sxq += ww * v * l;
    sqq += ww * l * l;
  }
  sXQ = sxq;
  sQQ = sqq;
  return e;
}

function symmetricRefiner(f: LegacyFormat): Refiner {
  const { lo, hi } = f;
  return (x, row, n, w) => {
    const cur = new Int32Array(32);
    for (let b = 0, i = 0; i < n; b++, i += 32) {
      const o = b * f.typeSize;
      let amax = 0,
        max = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[i + j]!;
        bx[j] = v;
        bw[j] = w ? w[i + j]! : 1;
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      if (amax === 0 || !Number.isFinite(amax)) continue;
      // the block's current error and scale
      const d0 = fp16Table[getHalf(row, o)]!;
      f.get(row, o, cur);
      let bestE = 0;
      for (let j = 0; j < 32; j++) {
        const r = bx[j]! - fround(cur[j]! * d0);
        bestE += bw[j]! * r * r;
      }
      let bestD = NaN;
      for (let k = -24; k <= 24; k++) {
        for (let side = 0; side < 2; side++) {
          let d = fround(fp16(max / ((side ? hi : lo) + k / 16)));
          if (!(Math.abs(d) > 0) || !Number.isFinite(d)) continue;
          for (let it = 0; it < 2; it++) {
            const e = scanSymmetric(d, lo, hi);
            if (e < bestE) {
              bestE = e;
              bestD = d;
            }
            // refit: the scale that minimises the weighted error for these codes
            if (!(sQQ > 0)) break;
            const nd = fp16(sXQ / sQQ);
            if (nd === d || !(Math.abs(nd) > 0) || !Number.isFinite(nd)) break;
            d = nd;
          }
        }
      }
      if (Number.isNaN(bestD)) continue;
      scanSymmetric(bestD, lo, hi);
      putHalf(row, o, fp32ToFp16(bestD));
      f.put(row, o, bq);
    }
  };
}

/** Sums of the last scan with a minimum: Σ w·q, Σ w·q², Σ w·x·q */
let sQ = 0;

/** Codes nearest (x − m)/d within [0, qmax] into bq; returns Σ w (x − d·q − m)², the refit's sums in sQ, sQQ, sXQ. */
function scanMin(d: number, m: number, qmax: number): number {
  let e = 0,
    sq = 0,
    sqq = 0,
    sxq = 0;
  const id = 1 / d;
  for (let j = 0; j < 32; j++) {
    const v = bx[j]!,
      ww = bw[j]!;
    let l = Math.round((v - m) * id);
    l = l < 0 ? 0 : l > qmax ? qmax : l;
    bq[j] = l;
    const r = v - (fround(l * d) + m);
    e += ww * r * r;
    sq += ww * l;
    sqq += ww * l * l;
    sxq += ww * v * l;
  }
  sQ = sq;
  sQQ = sqq;
  sXQ = sxq;
  return e;
}

function minRefiner(f: LegacyFormat): Refiner {
  const qmax = f.hi;
  return (x, row, n, w) => {
    const cur = new Int32Array(32);
    for (let b = 0, i = 0; i < n; b++, i += 32) {
      const o = b * f.typeSize;
      let min = Infinity,
        max = -Infinity,
        sw = 0,
        sx = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[i + j]!,
          ww = w ? w[i + j]! : 1;
        bx[j] = v;
        bw[j] = ww;
        sw += ww;
        sx += ww * v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const range = max - min;
      if (!(range > 0) || !Number.isFinite(range)) continue;
      const d0 = fp16Table[getHalf(row, o)]!,
        m0 = fp16Table[getHalf(row, o + f.mOff)]!;
      f.get(row, o, cur);
      let bestE = 0;
      for (let j = 0; j < 32; j++) {
        const r = bx[j]! - (fround(cur[j]! * d0) + m0);
        bestE += bw[j]! * r * r;
      }
      let bestD = NaN,
        bestM = NaN;
      const step = range / (qmax * 4);
      for (let a = -2; a <= 4; a++) {
        for (let c = -2; c <= 4; c++) {
          const lo = min + a * step,
            hi = max - c * step;
          if (!(hi > lo)) continue;
          let d = fp16((hi - lo) / qmax),
            m = fp16(lo);
          if (!(d > 0) || !Number.isFinite(d) || !Number.isFinite(m)) continue;
          for (let it = 0; it < 2; it++) {
            const e = scanMin(d, m, qmax);
            if (e < bestE) {
              bestE = e;
              bestD = d;
              bestM = m;
            }
            // refit d and m to these codes: weighted least squares of x ≈ d·q + m
            const det = sw * sQQ - sQ * sQ;
            if (!(det > 0)) break;
            const nd = fp16((sw * sXQ - sQ * sx) / det),
              nm = fp16((sQQ * sx - sQ * sXQ) / det);
            if ((nd === d && nm === m) || !(nd > 0) || !Number.isFinite(nd) || !Number.isFinite(nm)) break;
            d = nd;
            m = nm;
          }
        }
      }
      if (Number.isNaN(bestD)) continue;
      scanMin(bestD, bestM, qmax);
      putHalf(row, o, fp32ToFp16(bestD));
      putHalf(row, o + f.mOff, fp32ToFp16(bestM));
      f.put(row, o, bq);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// K-quants: coordinate descent over the super-block's quantized sub-block scales (and mins), then
// small steps of the FP16 super-scales, each sub-block's codes re-rounded to the nearest level;
// the result is written with the format's own finishBlock.

interface KFormat {
  codec: BlockCodec;
  typeSize: number;
  nSub: number;
  subLen: number;
  /** code range, as the decoder reads codes (value = D·q − M) */
  qLo: number;
  qHi: number;
  /** scale (and min) range of the stored integers */
  scLo: number;
  scHi: number;
  mHi: number; // 0: no mins
  dOff: number;
  dminOff: number; // -1: none
  get(row: Uint8Array, o: number, sc: Int32Array, m: Int32Array): void;
  put(row: Uint8Array, o: number, sc: Int32Array, m: Int32Array): void;
  finish(x: Float32Array, xo: number, row: Uint8Array, o: number): void;
}

const u8a = new Uint8Array(16),
  u8b = new Uint8Array(16);
const i8 = new Int8Array(16);

const K_FORMATS: KFormat[] = [
  {
    codec: q4_K,
    qLo: 0,
    qHi: 15,
    typeSize: 144,
    nSub: 8,
    subLen: 32,
    scLo: 0,
    scHi: 63,
    mHi: 63,
    dOff: 0,
    dminOff: 2,
    get: (r, o, sc, m) => {
      unpackScaleMinK4(r, o + 4, u8a, u8b);
      for (let j = 0; j < 8; j++) {
        sc[j] = u8a[j]!;
        m[j] = u8b[j]!;
      }
    },
    put: (r, o, sc, m) => {
      for (let j = 0; j < 8; j++) {
        u8a[j] = sc[j]!;
        u8b[j] = m[j]!;
      }
      packScaleMinK4(r, o + 4, u8a, u8b);
    },
    finish: finishQ4K,
  },
  {
    codec: q5_K,
    qLo: 0,
    qHi: 31,
    typeSize: 176,
    nSub: 8,
    subLen: 32,
    scLo: 0,
    scHi: 63,
    mHi: 63,
    dOff: 0,
    dminOff: 2,
    get: (r, o, sc, m) => {
      unpackScaleMinK4(r, o + 4, u8a, u8b);
      for (let j = 0; j < 8; j++) {
        sc[j] = u8a[j]!;
        m[j] = u8b[j]!;
      }
    },
    put: (r, o, sc, m) => {
      for (let j = 0; j < 8; j++) {
        u8a[j] = sc[j]!;
        u8b[j] = m[j]!;
      }
      packScaleMinK4(r, o + 4, u8a, u8b);
    },
    finish: finishQ5K,
  },
  {
    codec: q2_K,
    qLo: 0,
    qHi: 3,
    typeSize: 84,
    nSub: 16,
    subLen: 16,
    scLo: 0,
    scHi: 15,
    mHi: 15,
    dOff: 80,
    dminOff: 82,
    get: (r, o, sc, m) => {
      for (let j = 0; j < 16; j++) {
        sc[j] = r[o + j]! & 0xf;
        m[j] = r[o + j]! >> 4;
      }
    },
    put: (r, o, sc, m) => {
      for (let j = 0; j < 16; j++) r[o + j] = sc[j]! | (m[j]! << 4);
    },
    finish: finishQ2K,
  },
  {
    codec: q3_K,
    qLo: -4,
    qHi: 3,
    typeSize: 110,
    nSub: 16,
    subLen: 16,
    scLo: -32,
    scHi: 31,
    mHi: 0,
    dOff: 108,
    dminOff: -1,
    get: (r, o, sc) => {
      unpackScales6(r, o + 96, i8);
      for (let j = 0; j < 16; j++) sc[j] = i8[j]!;
    },
    put: (r, o, sc) => {
      r.fill(0, o + 96, o + 108);
      for (let j = 0; j < 16; j++) putScale6(r, o + 96, j, sc[j]! + 32);
    },
    finish: finishQ3K,
  },
  {
    codec: q6_K,
    qLo: -32,
    qHi: 31,
    typeSize: 210,
    nSub: 16,
    subLen: 16,
    scLo: -128,
    scHi: 127,
    mHi: 0,
    dOff: 208,
    dminOff: -1,
    get: (r, o, sc) => {
      for (let j = 0; j < 16; j++) sc[j] = (r[o + 192 + j]! << 24) >> 24;
    },
    put: (r, o, sc) => {
      for (let j = 0; j < 16; j++) r[o + 192 + j] = sc[j]! & 255;
    },
    finish: finishQ6K,
  },
];

function kRefiner(f: KFormat): Refiner {
  const QK = 256;
  const sc = new Int32Array(f.nSub),
    m = new Int32Array(f.nSub);
  const blk = new Uint8Array(f.typeSize);
  const L = f.subLen;
  return (x, row, n, w) => {
    for (let b = 0; b * QK < n; b++) {
      const o = b * f.typeSize,
        xo = b * QK;
      blk.set(row.subarray(o, o + f.typeSize));
      f.get(blk, 0, sc, m);
      let d = fp16Table[getHalf(blk, f.dOff)]!;
      let dmin = f.dminOff >= 0 ? fp16Table[getHalf(blk, f.dminOff)]! : 0;
      if (!Number.isFinite(d) || !Number.isFinite(dmin)) continue;
      /**
       * A sub-block's weighted error for integer scale s and min mm under super-scales dd, dm:
       * codes rounded to the nearest level as finishBlock rounds them, values as the decoder forms
       * them (the final choice is judged by the real decoder in encoder.ts anyway).
       */
      const subErr = (k: number, s: number, mm: number, dd: number, dm: number) => {
        const D = fround(dd * s),
          M = fround(dm * mm);
        const base = xo + k * L;
        let e = 0;
        for (let i = 0; i < L; i++) {
          const v = x[base + i]!;
          let y: number;
          if (D === 0) y = -M;
          else {
            let q = Math.round(fround(fround(v + M) / D));
            q = q < f.qLo ? f.qLo : q > f.qHi ? f.qHi : q;
            y = fround(D * q) - M;
          }
          const r = v - y;
          e += (w ? w[base + i]! : 1) * r * r;
        }
        return e;
      };
      const errs = new Float64Array(f.nSub);
      let total = 0;
      for (let k = 0; k < f.nSub; k++) {
        errs[k] = subErr(k, sc[k]!, m[k]!, d, dmin);
        total += errs[k]!;
      }
      if (!Number.isFinite(total)) continue;
      let changed = false;
      const R = f.mHi ? 2 : 3;
      for (let pass = 0; pass < 3; pass++) {
        let moved = false;
        for (let k = 0; k < f.nSub; k++) {
          const s0 = sc[k]!,
            m0 = m[k]!;
          let bs = s0,
            bm = m0,
            be = errs[k]!;
          for (let ds = -R; ds <= R; ds++) {
            const s1 = s0 + ds;
            if (s1 < f.scLo || s1 > f.scHi) continue;
            for (let dm = f.mHi ? -R : 0; dm <= (f.mHi ? R : 0); dm++) {
              const m1 = m0 + dm;
              if (m1 < 0 || m1 > f.mHi || (ds === 0 && dm === 0)) continue;
              const e = subErr(k, s1, m1, d, dmin);
              if (e < be) {
                be = e;
                bs = s1;
                bm = m1;
              }
            }
          }
          if (bs !== s0 || bm !== m0) {
            sc[k] = bs;
            m[k] = bm;
            errs[k] = be;
            moved = true;
          }
        }
        // the FP16 super-scales: a few representable steps each way, every sub-block re-rounded
        for (const which of f.dminOff >= 0 ? [0, 1] : [0]) {
          const h0 = fp32ToFp16(which ? dmin : d);
          for (const step of [-3, -2, -1, 1, 2, 3]) {
            const h = h0 + step;
            if (h < 0 || h > 0xffff || (h ^ h0) & 0x8000 || !Number.isFinite(fp16Table[h]!)) continue;
            const v = fp16Table[h]!;
            const nd = which ? d : v,
              nm = which ? v : dmin;
            let t = 0;
            for (let k = 0; k < f.nSub && t < total; k++) t += subErr(k, sc[k]!, m[k]!, nd, nm);
            if (t < total) {
              d = nd;
              dmin = nm;
              moved = true;
              for (let k = 0; k < f.nSub; k++) errs[k] = subErr(k, sc[k]!, m[k]!, d, dmin);
            }
            total = 0;
            for (let k = 0; k < f.nSub; k++) total += errs[k]!;
          }
        }
        total = 0;
        for (let k = 0; k < f.nSub; k++) total += errs[k]!;
        if (!moved) break;
        changed = true;
      }
      if (!changed) continue;
      putHalf(blk, f.dOff, fp32ToFp16(d));
      if (f.dminOff >= 0) putHalf(blk, f.dminOff, fp32ToFp16(dmin));
      f.put(blk, 0, sc, m);
      f.finish(x, xo, blk, 0);
      row.set(blk, o);
    }
  };
}

export const FORMAT_REFINERS: ReadonlyMap<number, Refiner> = new Map<number, Refiner>([
  ...LEGACY.map(([id, f]) => [id, f.mOff < 0 ? symmetricRefiner(f) : minRefiner(f)] as [number, Refiner]),
  ...K_FORMATS.map((f) => [f.codec.type.id, kRefiner(f)] as [number, Refiner]),
]);
