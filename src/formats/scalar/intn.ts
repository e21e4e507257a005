// INTn (n = 2..8) linear quantization at three granularities, the arithmetic of ONNX Runtime's
// quantizer (affine.ts) generalised from int8/int4 to any width:
//   code range   signed [-2^(n-1), 2^(n-1)-1], unsigned [0, 2^n-1]
//   symmetric    scale over [-(2^(n-1)-1), 2^(n-1)-1] when signed (int8: ±127), zero point 0;
//                unsigned: scale over the full range, zero point round_half_even((qmin+qmax)/2)
//   affine       rmin = min(x, 0), rmax = max(x, 0) (0 must be exact), scale = (rmax-rmin)/(qmax-qmin),
//                zero point = round_half_even(qmin - rmin/scale)
//   code         clamp(round_half_even(float32(x / scale)) + zero point)   (QuantizeLinear)
//   value        float32((code - zero point) * scale)                        (DequantizeLinear)
// Granularity (per tensor, per channel, per group) follows ONNX's QuantizeLinear: granularity.ts.
// lowbit additions: scales come from the finite values only (and from float64 where float32's
// rmax - rmin would overflow); ±Inf is clamped to the end code and
// counted with the other clamped values; NaN is stored as the zero point (the code of 0) and counted.
// Browser-safe.
import { LowbitError } from '../../errors.js';
import { computeScaleZp, roundHalfEven } from './affine.js';
import {
  forEachParam as forEach,
  paramLayout as layout,
  type Granularity,
  type GranularityOptions,
  type ScaleLayout,
} from './granularity.js';

export type { Granularity };

export interface IntnOptions extends GranularityOptions {
  /** bits per code, 2..8 */
  bits: number;
  /** two's complement codes (default) or unsigned */
  signed?: boolean;
  /** zero point fixed at the middle (default) or chosen from the range (affine) */
  symmetric?: boolean;
  /** quantize with these parameters instead of computing them (static calibration); shapes as `scaleDims` */
  params?: { scales: Float32Array; zeroPoints: Int32Array };
}

export interface IntnQuantized extends ScaleLayout {
  bits: number;
  signed: boolean;
  codes: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** values that fell outside the code range (infinities included) and were clamped to its ends */
  clampedCount: number;
  /** NaN inputs, stored as the zero point */
  nanCount: number;
}

/** The code range a width can hold. */
export function intnRange(bits: number, signed: boolean): [number, number] {
  checkBits(bits);
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/** The code range the scale is computed over: ONNX Runtime's get_qmin_qmax_for_qType generalised. */
export function intnScaleRange(bits: number, signed: boolean, symmetric: boolean): [number, number] {
  const [lo, hi] = intnRange(bits, signed);
  // signed symmetric drops the lone most negative code so that ±absmax both land on a code
  return signed && symmetric ? [-hi, hi] : [lo, hi];
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new LowbitError(`INTn needs 2 to 8 bits, got ${bits}`);
}

export function quantizeIntn(x: Float32Array, opts: IntnOptions): IntnQuantized {
  const bits = opts.bits;
  const signed = opts.signed ?? true;
  const symmetric = opts.symmetric ?? true;
  const [lo, hi] = intnRange(bits, signed);
  const L = layout(x.length, opts);
  let scales: Float32Array, zeroPoints: Int32Array;
  if (opts.params) {
    ({ scales, zeroPoints } = opts.params);
    if (scales.length !== L.count || zeroPoints.length !== L.count)
      throw new LowbitError(
        `expected ${L.count} scales and zero points, got ${scales.length} and ${zeroPoints.length}`,
      );
    for (let p = 0; p < L.count; p++) {
      const s = scales[p]!,
        z = zeroPoints[p]!;
      if (!(Number.isFinite(s) && s > 0))
        throw new LowbitError(`scale ${p} must be a positive finite number, got ${s}`);
      if (!Number.isInteger(z) || z < lo || z > hi)
        throw new LowbitError(`zero point ${p} (${z}) is outside ${lo}..${hi}`);
    }
  } else {
    const mn = new Float64Array(L.count).fill(Infinity);
    const mx = new Float64Array(L.count).fill(-Infinity);
    forEach(L, (i, p) => {
      const v = x[i]!;
      // only finite values set the range: an infinity would make every scale infinite
      if (Number.isFinite(v)) {
        if (v < mn[p]!) mn[p] = v;
        if (v > mx[p]!) mx[p] = v;
      }
    });
    const [qmin, qmax] = intnScaleRange(bits, signed, symmetric);
    scales = new Float32Array(L.count);
    zeroPoints = new Int32Array(L.count);
    for (let p = 0; p < L.count; p++) {
      // a group with no finite value has the range [0, 0]: scale 1, zero point 0 (compute_scale_zp's answer)
      const a = mn[p] === Infinity ? 0 : mn[p]!,
        b = mx[p] === -Infinity ? 0 : mx[p]!;
      const sz = computeScaleZp(a, b, qmin, qmax, symmetric);
      if (sz.scale === Infinity) {
        // rmax - rmin overflowed float32 (a range near ±3.4e38; ORT's quantizer would store Inf): same formula in float64
        const r = Math.max(-Math.min(a, 0), Math.max(b, 0));
        const [l, h] = symmetric ? [-r, r] : [Math.min(a, 0), Math.max(b, 0)];
        sz.scale = Math.fround((h - l) / (qmax - qmin));
        sz.zeroPoint = symmetric ? roundHalfEven((qmin + qmax) / 2) : roundHalfEven(qmin - l / sz.scale);
      }
      scales[p] = sz.scale;
      zeroPoints[p] = sz.zeroPoint;
    }
  }
  const codes = new Int32Array(x.length);
  let clampedCount = 0,
    nanCount = 0;
  forEach(L, (i, p) => {
    const v = x[i]!;
    const z = zeroPoints[p]!;
    if (Number.isNaN(v)) {
      codes[i] = z;
      nanCount++;
      return;
    }
    const q = roundHalfEven(Math.fround(v / scales[p]!)) + z;
    if (q < lo) {
      codes[i] = lo;
      clampedCount++;
    } else if (q > hi) {
      codes[i] = hi;
      clampedCount++;
    } else codes[i] = q;
  });
  return {
    bits,
    signed,
    codes,
    scales,
    zeroPoints,
    scaleDims: L.scaleDims,
    dims: L.dims,
    granularity: L.granularity,
    axis: L.axis,
    groupSize: L.groupSize,
    clampedCount,
    nanCount,
  };
}

const F32_MAX = 3.4028234663852886e38;

/**
 * DequantizeLinear over the whole tensor: float32((code - zero point) * scale). Only with scales near
 * float32's limit can that product overflow; it is then held at ±FLT_MAX rather than becoming Inf.
 */
export function dequantizeIntn(q: IntnQuantized): Float32Array {
  const out = new Float32Array(q.codes.length);
  const L = layout(q.codes.length, { dims: q.dims, granularity: q.granularity, axis: q.axis, groupSize: q.groupSize });
  forEach(L, (i, p) => {
    const v = (q.codes[i]! - q.zeroPoints[p]!) * q.scales[p]!;
    out[i] = v > F32_MAX ? F32_MAX : v < -F32_MAX ? -F32_MAX : Math.fround(v);
  });
  return out;
}

/**
 * Codes packed little-endian as ONNX stores INT4/UINT4/INT2/UINT2 (and any n): the first value in the
 * lowest bits of the first byte; values never straddle a byte when n divides 8.
 */
export function packIntn(codes: ArrayLike<number>, bits: number): Uint8Array {
  checkBits(bits);
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  const mask = (1 << bits) - 1;
  for (let i = 0, bit = 0; i < codes.length; i++, bit += bits) {
    const v = (codes[i]! & mask) << (bit & 7);
    out[bit >> 3] = out[bit >> 3]! | (v & 0xff);
    if (v > 0xff) out[(bit >> 3) + 1] = out[(bit >> 3) + 1]! | (v >> 8);
  }
  return out;
}

export function unpackIntn(bytes: Uint8Array, n: number, bits: number, signed: boolean): Int32Array {
  checkBits(bits);
  if (bytes.length * 8 < n * bits) throw new LowbitError(`${bytes.length} bytes cannot hold ${n} ${bits}-bit codes`);
  const out = new Int32Array(n);
  const mask = (1 << bits) - 1;
  for (let i = 0, bit = 0; i < n; i++, bit += bits) {
    const word = bytes[bit >> 3]! | ((bytes[(bit >> 3) + 1] ?? 0) << 8);
    const v = (word >> (bit & 7)) & mask;
    out[i] = signed && v >= 1 << (bits - 1) ? v - (1 << bits) : v;
  }
  return out;
}
