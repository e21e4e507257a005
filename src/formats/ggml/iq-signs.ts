// The sign handling the even-sign i-quants share (IQ2_XXS, IQ2_XS, IQ3_XXS): each group of eight
// weights stores only seven sign bits, the eighth being implied by an even count of negatives.
const fround = Math.fround;

/**
 * ggml's folding of the eight values at x[xo..]: their magnitudes into xval[vo..], and the sign
 * bits returned (bit i set for a negative value). With an odd count of negatives, the value that
 * costs least to flip (smallest w·x², the first on ties) is counted as flipped: its bit toggled and
 * its xval negated, as ggml does. Callers store the low seven bits.
 */
export function evenSigns8(
  x: Float32Array,
  xo: number,
  w: Float32Array | Float64Array,
  wo: number,
  xval: Float32Array | Float64Array,
  vo: number,
): number {
  let nflip = 0,
    s = 0;
  for (let i = 0; i < 8; i++) {
    const v = x[xo + i]!;
    if (v >= 0) xval[vo + i] = v;
    else {
      xval[vo + i] = -v;
      nflip++;
      s |= 1 << i;
    }
  }
  if (nflip & 1) {
    let imin = 0;
    let v = x[xo]!;
    let min = fround(fround(w[wo]! * v) * v);
    for (let i = 1; i < 8; i++) {
      v = x[xo + i]!;
      const ax = fround(fround(w[wo + i]! * v) * v);
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    xval[vo + imin] = -xval[vo + imin]!;
    s ^= 1 << imin;
  }
  return s;
}
