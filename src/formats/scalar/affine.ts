// Affine (scale, zero point) integer quantization exactly as ONNX Runtime's Python quantizer
// computes it (quant_utils.py: compute_scale_zp, quantize_nparray): ranges widened to include 0,
// scale = float64 (rmax-rmin)/(qmax-qmin) stored as float32, zero point rounded half-to-even
// (numpy.round), values q = clip(round_half_even(float32(x / scale)) + zp). Browser-safe.

export type IntType = 'int8' | 'uint8' | 'int4' | 'uint4';

/** numpy.round: to nearest, ties to even */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** ONNX Runtime's get_qmin_qmax_for_qType */
export function qRange(t: IntType, opts: { symmetric?: boolean; reduceRange?: boolean } = {}): [number, number] {
  if (opts.reduceRange) {
    if (t === 'int8') return [-64, 64];
    if (t === 'uint8') return [0, 127];
  }
  switch (t) {
    case 'int8':
      return opts.symmetric ? [-127, 127] : [-128, 127];
    case 'uint8':
      return [0, 255];
    case 'int4':
      return opts.symmetric ? [-7, 7] : [-8, 7];
    case 'uint4':
      return [0, 15];
  }
}

export interface ScaleZp {
  scale: number;
  zeroPoint: number;
}

/** compute_scale_zp(rmin, rmax, qmin, qmax, symmetric) on float32 rmin/rmax */
export function computeScaleZp(rmin: number, rmax: number, qmin: number, qmax: number, symmetric: boolean): ScaleZp {
  rmin = Math.fround(Math.min(rmin, 0));
  rmax = Math.fround(Math.max(rmax, 0));
  if (symmetric) {
    const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  const dr = Math.fround(rmax - rmin); // float32 subtraction, then widened to float64
  const scale = dr / (qmax - qmin);
  if (scale < 1.1754943508222875e-38) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? roundHalfEven((qmin + qmax) / 2) : roundHalfEven(qmin - rmin / scale);
  return { scale: Math.fround(scale), zeroPoint };
}

/** quantize_nparray: q = clip(round_half_even(f32(x / scale)) + zp, qmin, qmax) with the type's full range */
export function quantizeValues(
  x: Float32Array,
  t: IntType,
  scale: number,
  zeroPoint: number,
  out?: Int32Array,
): Int32Array {
  const [lo, hi] = qRange(t);
  const q = out ?? new Int32Array(x.length);
  const s = Math.fround(scale);
  for (let i = 0; i < x.length; i++) {
    const v = roundHalfEven(Math.fround(x[i]! / s)) + zeroPoint;
    q[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return q;
}

export function minMax(x: ArrayLike<number>): [number, number] {
  if (x.length === 0) return [0, 0];
  let mn = Infinity,
    mx = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}

export interface QuantizedTensor {
  q: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
}

/** quantize_data on the whole tensor (per-tensor): one scale and zero point */
export function quantizePerTensor(
  x: Float32Array,
  t: IntType,
  symmetric: boolean,
  reduceRange = false,
): QuantizedTensor {
  const [mn, mx] = minMax(x);
  const [qmin, qmax] = qRange(t, { symmetric, reduceRange });
  const { scale, zeroPoint } = computeScaleZp(mn, mx, qmin, qmax, symmetric);
  return {
    q: quantizeValues(x, t, scale, zeroPoint),
    scales: Float32Array.of(scale),
    zeroPoints: Int32Array.of(zeroPoint),
  };
}

/**
 * quantize_weight_per_channel: one scale/zero point per index of `axis`, each slice quantized as
 * quantize_data would. `dims` is the row-major shape of x.
 */
export function quantizePerChannel(
  x: Float32Array,
  dims: readonly number[],
  axis: number,
  t: IntType,
  symmetric: boolean,
  reduceRange = false,
): QuantizedTensor {
  const C = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const q = new Int32Array(x.length);
  const scales = new Float32Array(C);
  const zeroPoints = new Int32Array(C);
  const slice = new Float32Array(outer * inner);
  const [qmin, qmax] = qRange(t, { symmetric, reduceRange });
  for (let c = 0; c < C; c++) {
    for (let o = 0; o < outer; o++) slice.set(x.subarray((o * C + c) * inner, (o * C + c + 1) * inner), o * inner);
    const [mn, mx] = minMax(slice);
    const { scale, zeroPoint } = computeScaleZp(mn, mx, qmin, qmax, symmetric);
    scales[c] = scale;
    zeroPoints[c] = zeroPoint;
    const qs = quantizeValues(slice, t, scale, zeroPoint);
    for (let o = 0; o < outer; o++) q.set(qs.subarray(o * inner, (o + 1) * inner), (o * C + c) * inner);
  }
  return { q, scales, zeroPoints };
}
