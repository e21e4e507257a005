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

/** refine(x, row bytes, n, importances or null): improves the row's blocks in place. */
export type Refiner = (x: Float32Array, row: Uint8Array, n: number, w: Float32Array | null) => void;

const fround = Math.fround;

// ---------------------------------------------------------------------------------------------
// Q4_0: a wider scale search than ggml's max/-8: many candidate scales around it, each followed by
// a weighted least-squares refit of the scale to its codes (rounded to FP16), codes re-rounded.

function refineQ4_0(x: Float32Array, row: Uint8Array, n: number, w: Float32Array | null): void {
  const q = new Int8Array(32);
  for (let b = 0, i = 0; i < n; b++, i += 32) {
    const o = b * 18;
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) { const v = x[i + j]!; if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; } }
    if (amax === 0 || !Number.isFinite(amax)) continue;
    const errOf = (d: number) => {
      let e = 0;
      for (let j = 0; j < 32; j++) {
        let l = Math.round(x[i + j]! / d);
        l = l < -8 ? -8 : l > 7 ? 7 : l;
        q[j] = l;
        const r = x[i + j]! - fround(l * d);
        e += (w ? w[i + j]! : 1) * r * r;
      }
      return e;
    };
    // the block's current error and scale
    const d0 = fp16Table[getHalf(row, o)]!;
    let bestE = 0;
    for (let j = 0; j < 16; j++) {
      const byte = row[o + 2 + j]!;
      const r0 = x[i + j]! - fround(((byte & 0xf) - 8) * d0), r1 = x[i + j + 16]! - fround(((byte >> 4) - 8) * d0);
      bestE += (w ? w[i + j]! : 1) * r0 * r0 + (w ? w[i + j + 16]! : 1) * r1 * r1;
    }
    let bestD = NaN;
    for (let k = -24; k <= 24; k++) {
      for (const den of [-8, 7]) {
        let d = fround(fp16Table[fp32ToFp16(max / (den + k / 16))]!);
        if (!(Math.abs(d) > 0) || !Number.isFinite(d)) continue;
        for (let it = 0; it < 2; it++) {
          const e = errOf(d);
          if (e < bestE) { bestE = e; bestD = d; }
          // refit: the scale that minimises the weighted error for these codes
          let sxq = 0, sqq = 0;
          for (let j = 0; j < 32; j++) { const ww = w ? w[i + j]! : 1; sxq += ww * x[i + j]! * q[j]!; sqq += ww * q[j]! * q[j]!; }
          if (!(sqq > 0)) break;
          const nd = fp16Table[fp32ToFp16(sxq / sqq)]!;
          if (nd === d || !(Math.abs(nd) > 0) || !Number.isFinite(nd)) break;
          d = nd;
        }
      }
    }
    if (Number.isNaN(bestD)) continue;
    errOf(bestD);
    putHalf(row, o, fp32ToFp16(bestD));
    for (let j = 0; j < 16; j++) row[o + 2 + j] = (q[j]! + 8) | ((q[j + 16]! + 8) << 4);
  }
}

// ---------------------------------------------------------------------------------------------
// K-quants: coordinate descent over the super-block's quantized sub-block scales (and mins), then
// small steps of the FP16 super-scales, codes re-rounded each time by the format's finishBlock.

interface KFormat {
  codec: BlockCodec;
  typeSize: number;
  nSub: number;
  subLen: number;
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

const u8a = new Uint8Array(16), u8b = new Uint8Array(16);
const i8 = new Int8Array(16);

const K_FORMATS: KFormat[] = [
  {
    codec: q4_K, typeSize: 144, nSub: 8, subLen: 32, scLo: 0, scHi: 63, mHi: 63, dOff: 0, dminOff: 2,
    get: (r, o, sc, m) => { unpackScaleMinK4(r, o + 4, u8a, u8b); for (let j = 0; j < 8; j++) { sc[j] = u8a[j]!; m[j] = u8b[j]!; } },
    put: (r, o, sc, m) => { for (let j = 0; j < 8; j++) { u8a[j] = sc[j]!; u8b[j] = m[j]!; } packScaleMinK4(r, o + 4, u8a, u8b); },
    finish: finishQ4K,
  },
  {
    codec: q5_K, typeSize: 176, nSub: 8, subLen: 32, scLo: 0, scHi: 63, mHi: 63, dOff: 0, dminOff: 2,
    get: (r, o, sc, m) => { unpackScaleMinK4(r, o + 4, u8a, u8b); for (let j = 0; j < 8; j++) { sc[j] = u8a[j]!; m[j] = u8b[j]!; } },
    put: (r, o, sc, m) => { for (let j = 0; j < 8; j++) { u8a[j] = sc[j]!; u8b[j] = m[j]!; } packScaleMinK4(r, o + 4, u8a, u8b); },
    finish: finishQ5K,
  },
  {
    codec: q2_K, typeSize: 84, nSub: 16, subLen: 16, scLo: 0, scHi: 15, mHi: 15, dOff: 80, dminOff: 82,
    get: (r, o, sc, m) => { for (let j = 0; j < 16; j++) { sc[j] = r[o + j]! & 0xf; m[j] = r[o + j]! >> 4; } },
    put: (r, o, sc, m) => { for (let j = 0; j < 16; j++) r[o + j] = sc[j]! | (m[j]! << 4); },
    finish: finishQ2K,
  },
  {
    codec: q3_K, typeSize: 110, nSub: 16, subLen: 16, scLo: -32, scHi: 31, mHi: 0, dOff: 108, dminOff: -1,
    get: (r, o, sc) => { unpackScales6(r, o + 96, i8); for (let j = 0; j < 16; j++) sc[j] = i8[j]!; },
    put: (r, o, sc) => { r.fill(0, o + 96, o + 108); for (let j = 0; j < 16; j++) putScale6(r, o + 96, j, sc[j]! + 32); },
    finish: finishQ3K,
  },
  {
    codec: q6_K, typeSize: 210, nSub: 16, subLen: 16, scLo: -128, scHi: 127, mHi: 0, dOff: 208, dminOff: -1,
    get: (r, o, sc) => { for (let j = 0; j < 16; j++) sc[j] = (r[o + 192 + j]! << 24) >> 24; },
    put: (r, o, sc) => { for (let j = 0; j < 16; j++) r[o + 192 + j] = sc[j]! & 255; },
    finish: finishQ6K,
  },
];

function kRefiner(f: KFormat): Refiner {
  const QK = 256;
  const sc = new Int32Array(f.nSub), m = new Int32Array(f.nSub);
  const blk = new Uint8Array(f.typeSize);
  const y = new Float32Array(QK);
  const subErr = new Float64Array(f.nSub);
  return (x, row, n, w) => {
    for (let b = 0; b * QK < n; b++) {
      const o = b * f.typeSize, xo = b * QK;
      const xb = x.subarray(xo, xo + QK);
      const wb = w ? w.subarray(xo, xo + QK) : null;
      blk.set(row.subarray(o, o + f.typeSize));
      /** decodes blk, fills subErr, returns the block's error */
      const evalBlk = () => {
        f.codec.dequantize(blk, y, QK);
        let tot = 0;
        for (let s = 0; s < f.nSub; s++) {
          let e = 0;
          for (let j = s * f.subLen; j < (s + 1) * f.subLen; j++) { const r = xb[j]! - y[j]!; e += (wb ? wb[j]! : 1) * r * r; }
          subErr[s] = e;
          tot += e;
        }
        return tot;
      };
      // the codes of the given bytes may not be the nearest ones: re-round first, keep if not worse
      let best = evalBlk();
      if (!Number.isFinite(best)) continue;
      const saved = new Uint8Array(blk);
      f.finish(xb, 0, blk, 0);
      let e = evalBlk();
      if (e <= best) { best = e; saved.set(blk); } else { blk.set(saved); evalBlk(); }
      const bestSub = new Float64Array(subErr);
      f.get(blk, 0, sc, m);
      const steps = f.mHi ? [[-1, 0], [1, 0], [0, -1], [0, 1], [-1, -1], [1, 1], [-1, 1], [1, -1], [-2, 0], [2, 0], [0, -2], [0, 2]] : [[-1, 0], [1, 0], [-2, 0], [2, 0], [-3, 0], [3, 0]];
      for (let pass = 0; pass < 2; pass++) {
        let changed = false;
        for (let s = 0; s < f.nSub; s++) {
          for (const [ds, dm] of steps) {
            const s0 = sc[s]!, m0 = m[s]!;
            const ns = s0 + ds!, nm = m0 + dm!;
            if (ns < f.scLo || ns > f.scHi || nm < 0 || nm > f.mHi) continue;
            sc[s] = ns; m[s] = nm;
            f.put(blk, 0, sc, m);
            f.finish(xb, 0, blk, 0);
            e = evalBlk();
            // other sub-blocks' codes are re-rounded too, but against unchanged scales: the same
            if (e < best && subErr[s]! < bestSub[s]!) { best = e; bestSub.set(subErr); saved.set(blk); changed = true; }
            else { sc[s] = s0; m[s] = m0; blk.set(saved); }
          }
        }
        // the FP16 super-scales, a few steps each way
        for (const off of f.dminOff >= 0 ? [f.dOff, f.dminOff] : [f.dOff]) {
          for (const step of [-2, -1, 1, 2]) {
            const h = getHalf(saved, off);
            const v = fp16Table[h]!;
            if (!Number.isFinite(v)) continue;
            // the neighbouring FP16 values (bit steps move away from or toward zero: either is fine)
            const nh = h + step;
            if (nh < 0 || nh > 0xffff || ((nh ^ h) & 0x8000) || !Number.isFinite(fp16Table[nh]!)) continue;
            blk.set(saved);
            putHalf(blk, off, nh);
            f.finish(xb, 0, blk, 0);
            e = evalBlk();
            if (e < best) { best = e; bestSub.set(subErr); saved.set(blk); changed = true; } else blk.set(saved);
          }
        }
        f.get(saved, 0, sc, m);
        if (!changed) break;
      }
      row.set(saved, o);
    }
  };
}

export const FORMAT_REFINERS: ReadonlyMap<number, Refiner> = new Map<number, Refiner>([
  [T.Q4_0, refineQ4_0],
  ...K_FORMATS.map((f) => [f.codec.type.id, kRefiner(f)] as [number, Refiner]),
]);
