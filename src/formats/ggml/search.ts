// ggml's shared rounding and scale-search helpers (ggml-quants.c: nearest_int, make_qx_quants,
// make_qkx3_quants), reproduced step for step in float32. JS computes in float64, so every result
// C rounds to float is passed through Math.fround; products/sums of two float32 values rounded
// once by fround are exact float32 ops (double rounding is harmless for a single +,-,*,/,sqrt).
// Arrays come with offsets instead of subarrays so hot loops allocate nothing.
const fround = Math.fround;

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

/** ggml's GROUP_MAX_EPS (1e-15f): below this a group's max |x| counts as all zero. */
export const GROUP_MAX_EPS = fround(1e-15);

/**
 * ggml's nearest_int(float): adds 1.5·2^23 in float32 and reads the low mantissa bits. For
 * |x| ≤ 4194303 that is round-half-to-even; outside it (ggml only asserts in debug builds) the
 * bit pattern is reproduced: ±Inf → -4194304, NaN → 0, huge values → wrapped mantissa bits.
 * The argument is rounded to float32 first, as C's float parameter would be.
 */
export function nearestInt(fval: number): number {
  const v = fround(fround(fval) + 12582912);
  if (v >= 8388608 && v < 16777216) return v - 12582912;
  return mantissaInt(v);
}

/** nearest_int's bit read of val = fval + 12582912.f, for values outside the plain range. */
function mantissaInt(v: number): number {
  F32[0] = v;
  return (I32[0]! & 0x007fffff) - 0x00400000;
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type, qw): symmetric quantization of x[xOff..xOff+n) to
 * levels L in [0, 2·nmax) (stored as l + nmax) with a scale search; returns the scale.
 * rmse_type 0: plain rounding; negative: one weighted pass averaged with 1/iscale; 1..4: weights
 * x², 1, |x|, sqrt|x| (or qw when given) and a search over 18 nearby scales.
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xOff: number,
  L: Int8Array,
  lOff: number,
  rmseType: number,
  qw: Float32Array | null,
  qwOff: number,
): number {
  const fround = Math.fround; // local: cheaper than a module binding in the hot loops
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    const ax = Math.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lOff, lOff + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(iscale * x[xOff + i]!);
      L[lOff + i] = nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l);
    }
    return fround(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  // without qw the weights depend only on x: compute them once (same float32 values ggml uses)
  let w = qw;
  let wOff = qwOff;
  if (!w) {
    if (qxScratch.length < n) qxScratch = new Float32Array(n);
    w = qxScratch;
    wOff = 0;
    for (let i = 0; i < n; i++) w[i] = qxWeight(rmseType, x[xOff + i]!);
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    const wi = w[wOff + i]!;
    const v = fround(fround(iscale * xi) + 12582912);
    let l = v >= 8388608 && v < 16777216 ? v - 12582912 : mantissaInt(v);
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lOff + i] = l + nmax;
    sumlx = fround(sumlx + fround(fround(wi * xi) * l));
    suml2 = fround(suml2 + fround(fround(wi * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0; // C truthiness: NaN counts as nonzero
  if (returnEarly) return suml2 > 0 ? fround(0.5 * fround(scale + fround(1 / iscale))) : fround(1 / iscale);
  let best = fround(scale * sumlx);
  const tenth = fround(0.1);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(tenth * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i]!;
      const wi = w[wOff + i]!;
      const v = fround(fround(iscale * xi) + 12582912);
      let l = v >= 8388608 && v < 16777216 ? v - 12582912 : mantissaInt(v);
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      sumlx = fround(sumlx + fround(fround(wi * xi) * l));
      suml2 = fround(suml2 + fround(fround(wi * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(iscale * x[xOff + i]!);
        L[lOff + i] = nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l);
      }
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

let qxScratch = new Float32Array(256);

function qxWeight(rmseType: number, xi: number): number {
  return rmseType === 1
    ? fround(xi * xi)
    : rmseType === 2
      ? 1
      : rmseType === 3
        ? Math.abs(xi)
        : fround(Math.sqrt(Math.abs(xi)));
}

/**
 * make_qkx3_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep, use_mad):
 * asymmetric (scale + min) quantization to L in [0, nmax] with a weighted least-squares search
 * over nstep+1 scales. Weights default to x² when null. Returns the scale; writes -min to
 * theMin[theMinIdx] (ggml's *the_min). Laux is scratch of n bytes at lauxOff.
 */
export function makeQkx3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xOff: number,
  weights: Float32Array | null,
  wOff: number,
  L: Uint8Array,
  lOff: number,
  theMin: Float32Array,
  theMinIdx: number,
  Laux: Uint8Array,
  lauxOff: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  const fround = Math.fround; // local: cheaper than a module binding in the hot loops
  rmin = fround(rmin);
  rdelta = fround(rdelta);
  const x0 = x[xOff]!;
  let min = x0;
  let max = x0;
  let sumW = weights ? weights[wOff]! : fround(x0 * x0);
  let sumX = fround(sumW * x0);
  for (let i = 1; i < n; i++) {
    const xi = x[xOff + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights ? weights[wOff + i]! : fround(xi * xi);
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    L.fill(0, lOff, lOff + n);
    theMin[theMinIdx] = -min;
    return 0;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    const l = nearestInt(iscale * fround(xi - min));
    const q = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lOff + i] = q;
    let diff = fround(fround(fround(scale * q) + min) - xi);
    diff = useMad ? Math.abs(diff) : fround(diff * diff);
    const w = weights ? weights[wOff + i]! : fround(xi * xi);
    bestMad = fround(bestMad + fround(w * diff));
  }
  if (nstep < 1) {
    theMin[theMinIdx] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // max - min, not the initial range: min moves whenever a better fit is found
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0,
      sumL2 = 0,
      sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i]!;
      const v = fround(fround(iscale * fround(xi - min)) + 12582912);
      let l = v >= 8388608 && v < 16777216 ? v - 12582912 : mantissaInt(v);
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      Laux[lauxOff + i] = l;
      const w = weights ? weights[wOff + i]! : fround(xi * xi);
      const wl = fround(w * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * xi));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xOff + i]!;
        let diff = fround(fround(fround(thisScale * Laux[lauxOff + i]!) + thisMin) - xi);
        diff = useMad ? Math.abs(diff) : fround(diff * diff);
        const w = weights ? weights[wOff + i]! : fround(xi * xi);
        mad = fround(mad + fround(w * diff));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[lOff + i] = Laux[lauxOff + i]!;
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[theMinIdx] = -min;
  return scale;
}
