// FP8 over whole tensors: ONNX's Cast (scale 1) or QuantizeLinear to FP8 (x / scale, then Cast), with
// what went out of range counted. lowbit's default is ONNX's: saturate, so values beyond the largest
// finite value (448 for E4M3FN, 57344 for E5M2), infinities included, become ±max, and those that
// would otherwise have rounded to Inf/NaN are counted as clamped: never silently Inf/NaN. saturate=false gives ONNX's non-saturating results (NaN for
// E4M3FN, ±Inf for E5M2) and counts those as overflowed. With scaling, each tensor/channel/group gets
// scale = float32(absmax / max) so its largest value lands on ±max. Browser-safe.
import { LowbitError } from '../../errors.js';
import { floatToFp8, fp8ToFloat, type Fp8Format } from './fp8.js';
import {
  forEachParam,
  paramLayout,
  type Granularity,
  type GranularityOptions,
  type ScaleLayout,
} from './granularity.js';

export type { Fp8Format };

export interface Fp8Options extends GranularityOptions {
  /** ONNX Cast's `saturate` (default true) */
  saturate?: boolean;
  /** scale each tensor/channel/group by absmax / max first (default false: a plain Cast) */
  scaled?: boolean;
  /** quantize with these scales instead (QuantizeLinear with a float8 output and zero point 0) */
  scales?: Float32Array;
}

export interface Fp8Quantized extends ScaleLayout {
  format: Fp8Format;
  codes: Uint8Array;
  /** one per tensor/channel/group; all 1 for a plain Cast */
  scales: Float32Array;
  /** values (infinities included) that only saturation kept finite: set to ±max */
  clampedCount: number;
  /** finite values that became NaN/Inf (non-saturating) */
  overflowCount: number;
  /** nonzero values that became zero */
  underflowCount: number;
  nanCount: number;
}

/** The largest finite value of each format */
export const FP8_MAX: Record<Fp8Format, number> = { e4m3fn: 448, e5m2: 57344 };

export function quantizeFp8(x: Float32Array, format: Fp8Format, opts: Fp8Options = {}): Fp8Quantized {
  const saturate = opts.saturate ?? true;
  const L = paramLayout(x.length, opts);
  const max = FP8_MAX[format];
  let scales: Float32Array;
  if (opts.scales) {
    scales = opts.scales;
    if (scales.length !== L.count) throw new LowbitError(`expected ${L.count} scales, got ${scales.length}`);
    scales.forEach((s, p) => {
      if (!(Number.isFinite(s) && s > 0))
        throw new LowbitError(`scale ${p} must be a positive finite number, got ${s}`);
    });
  } else {
    scales = new Float32Array(L.count).fill(1);
    if (opts.scaled) {
      const absmax = new Float64Array(L.count);
      forEachParam(L, (i, p) => {
        const a = Math.abs(x[i]!);
        if (a > absmax[p]! && a !== Infinity) absmax[p] = a;
      });
      // a group of zeros (or only non-finite values) keeps scale 1
      for (let p = 0; p < L.count; p++) if (absmax[p]! > 0) scales[p] = Math.fround(absmax[p]! / max) || 1;
    }
  }
  const codes = new Uint8Array(x.length);
  let clampedCount = 0,
    overflowCount = 0,
    underflowCount = 0,
    nanCount = 0;
  forEachParam(L, (i, p) => {
    const s = scales[p]!;
    // QuantizeLinear divides in float32; a scale of 1 leaves x as it is
    const v = s === 1 ? x[i]! : Math.fround(x[i]! / s);
    const c = floatToFp8(v, format, saturate);
    codes[i] = c;
    if (Number.isNaN(v)) {
      nanCount++;
      return;
    }
    if (Math.abs(v) > max) {
      // counted only where saturation mattered: values just above max round down to it anyway
      const unsaturated = saturate ? floatToFp8(v, format, false) : c;
      if (!Number.isFinite(fp8ToFloat(unsaturated, format))) {
        if (saturate) clampedCount++;
        else if (Number.isFinite(v)) overflowCount++;
      }
    } else if (v !== 0 && (c & 0x7f) === 0) underflowCount++;
  });
  return {
    format,
    codes,
    scales,
    scaleDims: L.scaleDims,
    dims: L.dims,
    granularity: L.granularity,
    axis: L.axis,
    groupSize: L.groupSize,
    clampedCount,
    overflowCount,
    underflowCount,
    nanCount,
  };
}

/** DequantizeLinear from FP8: float32(decoded code * scale) */
export function dequantizeFp8(q: Fp8Quantized): Float32Array {
  const out = new Float32Array(q.codes.length);
  const L = paramLayout(q.codes.length, {
    dims: q.dims,
    granularity: q.granularity,
    axis: q.axis,
    groupSize: q.groupSize,
  });
  forEachParam(L, (i, p) => {
    out[i] = Math.fround(fp8ToFloat(q.codes[i]!, q.format) * q.scales[p]!);
  });
  return out;
}

/** Every finite value a format holds, ascending, -0 left out */
export function fp8Levels(format: Fp8Format): number[] {
  const out: number[] = [];
  for (let c = 0; c < 256; c++) {
    const v = fp8ToFloat(c, format);
    if (Number.isFinite(v) && !Object.is(v, -0)) out.push(v);
  }
  return out.sort((a, b) => a - b);
}
