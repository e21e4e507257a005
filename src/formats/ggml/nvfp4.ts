// NVFP4: blocks of 64 weights in four sub-blocks of 16, each with a UE4M3 scale byte (an unsigned
// 8-bit float, 3 mantissa bits) and 16 4-bit E2M1 codes (±0, 0.5, 1, 1.5, 2, 3, 4, 6; ggml stores
// them doubled with a halved scale, as for MXFP4). Layout: the 4 scale bytes, then 8 code bytes per
// sub-block (value j in the low nibble of byte j, value j+8 in its high nibble). ggml ignores the
// imatrix for this format.
import { defineCodec } from '../define-codec.js';
import { GGML_TYPE } from '../ggml-types.js';
import { fp32ToUe4m3, ue4m3Table } from '../ue4m3.js';
import { amaxSkipNaN } from './q2_0.js';

const fround = Math.fround;
const max = Math.max;

/** ggml's kvalues_fp4 (ggml-common.h): E2M1 values doubled, shared with MXFP4. */
const VF = Float64Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

// Every decoded scale d has 4 significant bits and every level at most 2, so the levels k·d are
// exact in float32 (d >= 2^-10, 12·d <= 2880). For |x| < 16·d the level differences C compares are
// exact where they matter (Sterbenz between neighbouring levels; the others are a whole level
// farther), so best_index_mxfp4 is the number of midpoints (0.5, 1.5, 2.5, 3.5, 5, 7, 10)·d
// strictly below |x|, ties to the lower level. With v = 2|x|/d the doubled midpoints are integers,
// so the count is MIDS_BELOW[ceil(v)]. v is computed as |x|·(2/d) in float64: its error (< 2^-51
// relative) is far below the distance of |x| to any midpoint that is not hit exactly (> 2^-25
// relative), so the ceiling is right. Entries 33.. serve negative x: indices 9..15, and 0 stays 0.
const MIDS_BELOW = (() => {
  const t = new Uint8Array(66);
  for (let c = 0; c <= 32; c++) {
    for (const m of [1, 3, 5, 7, 10, 14, 20]) if (m < c) t[c] = t[c]! + 1;
    t[33 + c] = t[c] ? t[c]! + 8 : 0;
  }
  return t;
})();

/**
 * best_index_mxfp4(x, d) literally: the first of the 16 levels with the least float32 |level·d - x|.
 * The levels are ± mirror images, so the 8 non-negative ones are scanned against |x| and the sign
 * picks the index half (for x < 0 no positive level beats index 0, and -0 only ties with it). For
 * |x| >= 16·d (a clamped scale, a subnormal scale's coarse rounding, ±Inf) and NaN (gives 0).
 */
function bestIndex(x: number, d: number): number {
  const a = Math.abs(x);
  let best = 0;
  let bestErr = a;
  for (let k = 1; k < 8; k++) {
    const err = Math.abs(fround(VF[k]! * d - a));
    if (err < bestErr) {
      best = k;
      bestErr = err;
    }
  }
  return x < 0 && best > 0 ? best + 8 : best;
}

/** Every dequantized value's bits: LEVELS[scale byte · 16 + code] = kvalues_fp4[code] · d (exact, see above). */
const LEVELS = (() => {
  const t = new Float32Array(256 * 16);
  for (let ue = 0; ue < 256; ue++) for (let k = 0; k < 16; k++) t[ue * 16 + k] = VF[k]! * ue4m3Table[ue]!;
  return new Int32Array(t.buffer); // as float32 bits: copied without float conversions
})();

function code(x: number, s2: number, d: number): number {
  const v = Math.abs(x) * s2;
  return v < 32 ? MIDS_BELOW[Math.ceil(v) + 33 * Number(x < 0)]! : bestIndex(x, d);
}

export const nvfp4 = defineCodec({
  name: 'NVFP4',
  typeId: GGML_TYPE.NVFP4,
  imatrix: 'ignored',
  layout:
    'Blocks of 64 weights: four sub-blocks of 16, each with an FP8 (UE4M3) scale byte and 16 4-bit E2M1 floats (±0, 0.5, 1, 1.5, 2, 3, 4, 6), 4.5 bits per weight.',
  quantize(src, dst, nRows, nPerRow) {
    const nSub = (nRows * nPerRow) / 16;
    for (let sb = 0; sb < nSub; sb++) {
      const x0 = sb * 16;
      const o = (sb >> 2) * 36,
        s = sb & 3;
      // C's `if (amax < a) amax = a` skips NaN; Math.max (branch-free) spreads it, so a NaN result
      // means the sub-block holds one and takes C's loop
      let amax = 0;
      for (let j = x0; j < x0 + 16; j++) amax = max(amax, Math.abs(src[j]!));
      if (amax !== amax) amax = amaxSkipNaN(src, x0, 16);
      const ue = fp32ToUe4m3(fround(amax / 6));
      dst[o + s] = ue;
      const q = o + 4 + 8 * s;
      if (ue === 0) {
        // d = 0: every level is 0 and index 0 wins
        for (let j = 0; j < 8; j++) dst[q + j] = 0;
        continue;
      }
      const d = ue4m3Table[ue]!;
      const s2 = 2 / d;
      for (let j = 0; j < 8; j++) dst[q + j] = code(src[x0 + j]!, s2, d) | (code(src[x0 + 8 + j]!, s2, d) << 4);
    }
  },
  dequantize(src, dst, n) {
    const nSub = n / 16;
    const out = new Int32Array(dst.buffer, dst.byteOffset, n);
    for (let sb = 0; sb < nSub; sb++) {
      const o = (sb >> 2) * 36;
      const t = src[o + (sb & 3)]! << 4;
      const q = o + 4 + 8 * (sb & 3),
        y = sb * 16;
      const b0 = src[q]!,
        b1 = src[q + 1]!,
        b2 = src[q + 2]!,
        b3 = src[q + 3]!;
      const b4 = src[q + 4]!,
        b5 = src[q + 5]!,
        b6 = src[q + 6]!,
        b7 = src[q + 7]!;
      out[y] = LEVELS[t | (b0 & 15)]!;
      out[y + 1] = LEVELS[t | (b1 & 15)]!;
      out[y + 2] = LEVELS[t | (b2 & 15)]!;
      out[y + 3] = LEVELS[t | (b3 & 15)]!;
      out[y + 4] = LEVELS[t | (b4 & 15)]!;
      out[y + 5] = LEVELS[t | (b5 & 15)]!;
      out[y + 6] = LEVELS[t | (b6 & 15)]!;
      out[y + 7] = LEVELS[t | (b7 & 15)]!;
      out[y + 8] = LEVELS[t | (b0 >> 4)]!;
      out[y + 9] = LEVELS[t | (b1 >> 4)]!;
      out[y + 10] = LEVELS[t | (b2 >> 4)]!;
      out[y + 11] = LEVELS[t | (b3 >> 4)]!;
      out[y + 12] = LEVELS[t | (b4 >> 4)]!;
      out[y + 13] = LEVELS[t | (b5 >> 4)]!;
      out[y + 14] = LEVELS[t | (b6 >> 4)]!;
      out[y + 15] = LEVELS[t | (b7 >> 4)]!;
    }
  },
});
