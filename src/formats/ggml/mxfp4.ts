// MXFP4 (OCP microscaling FP4): blocks of 32 values, one E8M0 power-of-two scale byte and 32 4-bit
// E2M1 codes (±0, 0.5, 1, 1.5, 2, 3, 4, 6; ggml stores them doubled with a halved scale). ggml
// ignores the imatrix for this format.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { e8m0HalfTable } from '../e8m0.js';

const fround = Math.fround;

/** ggml's kvalues_mxfp4 (E2M1 values doubled). */
export const MXFP4_VALUES: Int8Array = Int8Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
const VF = Float64Array.from(MXFP4_VALUES);
const KD = new Float64Array(8); // the block's 8 non-negative levels times its scale, float32
const LV = new Float32Array(16); // the block's 16 dequantized levels

// For a finite block max every |x| < 16·d, and the level differences C compares are exact
// (Sterbenz: neighbouring levels are within a factor of 2), so the nearest level is the number of
// midpoints (0.5, 1.5, 2.5, 3.5, 5, 7, 10)·d strictly below |x|, ties to the lower level. With
// u = 2|x|/d the doubled midpoints are integers, so that count is MIDS_BELOW[ceil(u)].
// Entries 33.. are the same for negative x: indices 9..15, and 0 stays 0.
const MIDS_BELOW = (() => {
  const t = new Uint8Array(66);
  for (let c = 0; c <= 32; c++) {
    for (const m of [1, 3, 5, 7, 10, 14, 20]) if (m < c) t[c] = t[c]! + 1;
    t[33 + c] = t[c] ? t[c]! + 8 : 0;
  }
  return t;
})();

const F1 = new Float32Array(1);
const U1 = new Uint32Array(F1.buffer);

function floorLog2f(x: number): number {
  return Math.floor(Math.fround(Math.log2(x)));
}

// ROUND_UP[b], for a normal float of biased exponent b: the least mantissa at which log2f rounds up
// to the next integer (just below the next power of two); 2^23 when it never does. With it the
// floor of log2f is read off the float's bits instead of calling log2 per block.
const ROUND_UP = (() => {
  const t = new Uint32Array(256);
  for (let b = 1; b < 255; b++) {
    let lo = 0,
      hi = 0x800000;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      U1[0] = (b << 23) | mid;
      if (floorLog2f(F1[0]!) > b - 127) hi = mid;
      else lo = mid + 1;
    }
    t[b] = lo;
  }
  return t;
})();

/**
 * The scale byte: (uint8_t)(floorf(log2f(amax)) - 2 + 127). The float → uint8 conversion is
 * x86-64's (truncate to int32, keep the low byte): a tiny amax wraps to a large exponent, ±Inf
 * (int32 overflow, 0x80000000) gives 0. floor(log2f) is taken from float64 log2 rounded to float
 * (checked against glibc's log2f through ggml at every binade edge), tabulated for normal floats.
 */
export function mxfp4Exponent(amax: number): number {
  if (!(amax > 0)) return 0;
  if (amax === Infinity) return 0;
  F1[0] = amax;
  const bits = U1[0]!;
  const b = bits >>> 23;
  const f = b === 0 ? floorLog2f(amax) : b - 127 + Number((bits & 0x7fffff) >= ROUND_UP[b]!);
  return (f + 125) & 0xff;
}

export const mxfp4 = defineCodec({
  name: 'MXFP4',
  typeId: GGML_TYPE.MXFP4,
  imatrix: 'ignored',
  kernels: { quant: 'mxfp4_quant', dequant: 'mxfp4_dequant' },
  layout:
    'Blocks of 32 weights: one shared power-of-two scale byte (E8M0) and 32 4-bit E2M1 floats (±0, 0.5, 1, 1.5, 2, 3, 4, 6), 4.25 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nb = (nRows * nPerRow) / 32;
    for (let i = 0; i < nb; i++) {
      const x0 = i * 32,
        o = i * 17;
      let amax = 0;
      for (let j = 0; j < 32; j++) {
        const a = Math.abs(src[x0 + j]!);
        if (amax < a) amax = a;
      }
      const e = mxfp4Exponent(amax);
      const d = e8m0HalfTable[e]!;
      dst[o] = e;
      // e > 252: 8·d or 12·d overflow to Inf in float32, and the nearest level is no longer the
      // midpoint count, so those blocks take the literal search
      if (amax < Infinity && e <= 252) {
        const s = 2 / d; // u = 2|x|/d is exact in float64: d is a power of two
        for (let j = 0; j < 16; j++) {
          const v0 = src[x0 + j]!,
            v1 = src[x0 + 16 + j]!;
          const u0 = Math.abs(v0) * s,
            u1 = Math.abs(v1) * s;
          // NaN → 0, as in C; the sign picks the table half (branch-free: signs are random)
          const i0 = u0 < 32 ? MIDS_BELOW[Math.ceil(u0) + 33 * Number(v0 < 0)]! : 0;
          const i1 = u1 < 32 ? MIDS_BELOW[Math.ceil(u1) + 33 * Number(v1 < 0)]! : 0;
          dst[o + 1 + j] = i0 | (i1 << 4);
        }
      } else {
        for (let k = 0; k < 8; k++) KD[k] = fround(VF[k]! * d);
        for (let j = 0; j < 16; j++) dst[o + 1 + j] = bestIndex(src[x0 + j]!) | (bestIndex(src[x0 + 16 + j]!) << 4);
      }
    }
  },
  dequantize(src, dst, n) {
    for (let i = 0; i < n / 32; i++) {
      const o = i * 17,
        y = i * 32;
      const d = e8m0HalfTable[src[o]!]!;
      for (let k = 0; k < 16; k++) LV[k] = fround(VF[k]! * d);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 1 + j]!;
        dst[y + j] = LV[q & 15]!;
        dst[y + j + 16] = LV[q >> 4]!;
      }
    }
  },
});

/**
 * best_index_mxfp4(x, d): the first of the 16 levels with the least float32 |level·d - x|.
 * The levels are ± mirror images and |−k·d − x| = |k·d − |x|| in float32 too, so only the 8
 * non-negative ones are scanned against |x|, with the sign picking the index half: for x < 0
 * the positive levels are never nearer than 0 (index 0 comes first and wins ties), and index 8
 * (-0) always ties with index 0. The errors fall then rise along the levels (float rounding is
 * monotone), so the scan stops at the first strict rise. Used for blocks with an infinite max,
 * where every error rounds to the same value and the midpoint shortcut does not hold.
 */
function bestIndex(x: number): number {
  const a = Math.abs(x);
  let best = 0;
  let bestErr = a; // |0·d − a|
  for (let k = 1; k < 8; k++) {
    const err = Math.abs(fround(KD[k]! - a));
    if (err < bestErr) {
      best = k;
      bestErr = err;
    } else if (err > bestErr) break;
  }
  return x < 0 && best > 0 ? best + 8 : best;
}
