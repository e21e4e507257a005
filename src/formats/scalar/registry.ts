// The scalar (non-ggml) numeric formats as one table, so analysis and teaching can iterate them:
// FP16, BF16, FP8 E4M3FN/E5M2, INTn/UINTn for n = 2..8 and NF4, each with quantize/dequantize over a
// Float32Array and the same result shape (codes, scales, zero points, what went out of range).
// Values beyond a format's range are clamped and counted, never silently turned into Inf.
// Browser-safe.
import { LowbitError } from '../../errors.js';
import { bf16ToFp32, f32Bits, fp16ToFp32, fp32BitsToBf16, fp32BitsToFp16 } from '../half.js';
import type { Fp8Format } from './fp8.js';
import { dequantizeFp8, FP8_MAX, fp8Levels, quantizeFp8 } from './fp8-tensor.js';
import {
  forEachParam,
  paramLayout,
  type Granularity,
  type GranularityOptions,
  type ScaleLayout,
} from './granularity.js';
import { dequantizeIntn, intnRange, quantizeIntn } from './intn.js';
import { nf4Code, NF4_LEVELS } from './nf4.js';

export interface ScalarOptions extends GranularityOptions {
  /** INTn: symmetric (zero point fixed) or affine; default symmetric for INTn, affine for UINTn */
  symmetric?: boolean;
  /** FP8/FP16/BF16: clamp to ±max (default) or give ONNX's non-saturating NaN/Inf */
  saturate?: boolean;
  /** FP8: scale each tensor/channel/group by absmax / max first (default true; false is a plain Cast) */
  scaled?: boolean;
}

export interface ScalarQuantized extends ScaleLayout {
  format: string;
  codes: Uint8Array | Uint16Array | Int32Array;
  /** one per tensor/channel/group (all 1 for plain casts; NF4: the absmax) */
  scales: Float32Array;
  /** INTn only */
  zeroPoints?: Int32Array;
  /** values (infinities included) set to the format's largest code because they did not fit */
  clampedCount: number;
  /** NaN inputs (kept as NaN by float formats, stored as the code of 0 by INTn and NF4) */
  nanCount: number;
}

export interface LevelGrid {
  /** how many distinct finite values the codes stand for (before scaling) */
  count: number;
  min: number;
  max: number;
  /** the values, ascending, when a listing helps (FP8, NF4, INTn codes); undefined for FP16/BF16 */
  values?: number[];
  /** what one code step is worth, for evenly spaced grids */
  step?: string;
}

export interface ScalarFormat {
  name: string;
  aliases: readonly string[];
  bits: number;
  kind: 'float' | 'integer' | 'lookup';
  description: string;
  grid(): LevelGrid;
  quantize(x: Float32Array, opts?: ScalarOptions): ScalarQuantized;
  dequantize(q: ScalarQuantized): Float32Array;
}

/** Round-to-nearest-even 16-bit float with clamping: codes whose exponent field is all ones are Inf/NaN */
function half16(
  name: string,
  toBits: (u: number) => number,
  toFloat: (h: number) => number,
  maxCode: number,
  infCode: number,
) {
  const max = toFloat(maxCode);
  const quantize = (x: Float32Array, opts: ScalarOptions = {}): ScalarQuantized => {
    const saturate = opts.saturate ?? true;
    const L = paramLayout(x.length, opts);
    const codes = new Uint16Array(x.length);
    let clampedCount = 0,
      nanCount = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      let h = toBits(f32Bits(v));
      if (Number.isNaN(v)) nanCount++;
      // counted where rounding alone would reach Inf: values just above max round down to it anyway
      else if ((h & 0x7fff) === infCode && saturate) {
        h = (h & 0x8000) | maxCode;
        clampedCount++;
      }
      codes[i] = h;
    }
    return {
      format: name,
      codes,
      scales: Float32Array.of(1),
      scaleDims: [1],
      dims: L.dims,
      granularity: 'tensor',
      axis: 0,
      groupSize: x.length,
      clampedCount,
      nanCount,
    };
  };
  const dequantize = (q: ScalarQuantized): Float32Array => Float32Array.from(q.codes, (h) => toFloat(h));
  return { max, quantize, dequantize };
}

const fp16 = half16('FP16', fp32BitsToFp16, fp16ToFp32, 0x7bff, 0x7c00);
const bf16 = half16('BF16', fp32BitsToBf16, bf16ToFp32, 0x7f7f, 0x7f80);

function fp8Format(name: string, aliases: string[], f: Fp8Format, description: string): ScalarFormat {
  return {
    name,
    aliases,
    bits: 8,
    kind: 'float',
    description,
    grid: () => {
      const v = fp8Levels(f);
      return { count: v.length, min: v[0]!, max: v[v.length - 1]!, values: v };
    },
    quantize(x, opts = {}) {
      const q = quantizeFp8(x, f, { ...opts, scaled: opts.scaled ?? true });
      return {
        format: name,
        codes: q.codes,
        scales: q.scales,
        scaleDims: q.scaleDims,
        dims: q.dims,
        granularity: q.granularity,
        axis: q.axis,
        groupSize: q.groupSize,
        clampedCount: q.clampedCount,
        nanCount: q.nanCount,
      };
    },
    dequantize: (q) =>
      dequantizeFp8({
        ...q,
        format: f,
        codes: q.codes as Uint8Array,
        overflowCount: 0,
        underflowCount: 0,
        nanCount: q.nanCount,
        clampedCount: q.clampedCount,
      }),
  };
}

function intnFormat(bits: number, signed: boolean): ScalarFormat {
  const name = `${signed ? 'INT' : 'UINT'}${bits}`;
  const [lo, hi] = intnRange(bits, signed);
  return {
    name,
    aliases: [],
    bits,
    kind: 'integer',
    description:
      `${bits}-bit ${signed ? 'signed' : 'unsigned'} integer codes ${lo}..${hi}, value = (code - zero point) × scale; ` +
      `${signed ? 'symmetric by default (scale = absmax / ' + hi + ', zero point 0)' : 'affine by default (scale = (max - min) / ' + hi + ' over a range including 0)'}`,
    grid: () => ({
      count: hi - lo + 1,
      min: lo,
      max: hi,
      values: Array.from({ length: hi - lo + 1 }, (_, i) => lo + i),
      step: '1 code = scale',
    }),
    quantize(x, opts = {}) {
      const q = quantizeIntn(x, { ...opts, bits, signed, symmetric: opts.symmetric ?? signed });
      return {
        format: name,
        codes: q.codes,
        scales: q.scales,
        zeroPoints: q.zeroPoints,
        scaleDims: q.scaleDims,
        dims: q.dims,
        granularity: q.granularity,
        axis: q.axis,
        groupSize: q.groupSize,
        clampedCount: q.clampedCount,
        nanCount: q.nanCount,
      };
    },
    dequantize(q) {
      if (!q.zeroPoints) throw new LowbitError(`${name} data has no zero points`);
      return dequantizeIntn({ ...q, bits, signed, codes: q.codes as Int32Array, zeroPoints: q.zeroPoints });
    },
  };
}

/**
 * NF4 over any granularity (default: groups of 64 consecutive values, QLoRA's blocks): scale = absmax
 * of the finite values of the group, code = the nearest NF4 level of float32(x * float32(1/absmax))
 * through bitsandbytes' midpoints (nf4.ts, ONNX Runtime's MatMulBnb4 arithmetic).
 */
const nf4: ScalarFormat = {
  name: 'NF4',
  aliases: ['NF4_BNB'],
  bits: 4,
  kind: 'lookup',
  description:
    "QLoRA's 4-bit NormalFloat: 16 levels at quantiles of a normal distribution scaled into [-1, 1], an exact 0, one absmax scale per group (default 64 values)",
  grid: () => ({ count: 16, min: -1, max: 1, values: Array.from(NF4_LEVELS) }),
  quantize(x, opts = {}) {
    const L = paramLayout(
      x.length,
      opts.granularity ? opts : { ...opts, granularity: 'group', groupSize: opts.groupSize ?? 64 },
    );
    const absmax = new Float32Array(L.count);
    forEachParam(L, (i, p) => {
      const a = Math.abs(x[i]!);
      if (a !== Infinity && a > absmax[p]!) absmax[p] = a;
    });
    const codes = new Uint8Array(x.length);
    let clampedCount = 0,
      nanCount = 0;
    forEachParam(L, (i, p) => {
      const v = x[i]!;
      const m = absmax[p]!;
      if (Number.isNaN(v)) {
        nanCount++;
        codes[i] = 7;
        return;
      }
      if (!Number.isFinite(v)) {
        clampedCount++;
        codes[i] = v > 0 ? 15 : 0;
        return;
      }
      codes[i] = nf4Code(Math.fround(v * (m ? Math.fround(1 / m) : 0)));
    });
    return {
      format: 'NF4',
      codes,
      scales: absmax,
      scaleDims: L.scaleDims,
      dims: L.dims,
      granularity: L.granularity,
      axis: L.axis,
      groupSize: L.groupSize,
      clampedCount,
      nanCount,
    };
  },
  dequantize(q) {
    const out = new Float32Array(q.codes.length);
    forEachParam(paramLayout(q.codes.length, q), (i, p) => {
      out[i] = Math.fround(NF4_LEVELS[q.codes[i]! & 15]! * q.scales[p]!);
    });
    return out;
  },
};

const FORMATS: readonly ScalarFormat[] = [
  {
    name: 'FP16',
    aliases: ['FLOAT16', 'HALF'],
    bits: 16,
    kind: 'float',
    description:
      'IEEE half precision: 1 sign, 5 exponent, 10 mantissa bits, largest finite ±65504; round to nearest even, beyond ±65504 clamped and counted',
    grid: () => ({ count: 2 * 0x7bff + 1, min: -fp16.max, max: fp16.max }),
    quantize: fp16.quantize,
    dequantize: fp16.dequantize,
  },
  {
    name: 'BF16',
    aliases: ['BFLOAT16'],
    bits: 16,
    kind: 'float',
    description:
      "bfloat16: float32's 8-bit exponent with 7 mantissa bits, largest finite ±3.39e38; round to nearest even, beyond clamped and counted",
    grid: () => ({ count: 2 * 0x7f7f + 1, min: -bf16.max, max: bf16.max }),
    quantize: bf16.quantize,
    dequantize: bf16.dequantize,
  },
  fp8Format(
    'FP8_E4M3FN',
    ['FP8_E4M3', 'E4M3', 'E4M3FN', 'FLOAT8E4M3FN'],
    'e4m3fn',
    `OCP/ONNX FP8 E4M3FN: 1 sign, 4 exponent, 3 mantissa bits, no infinities, largest ±${FP8_MAX.e4m3fn}; scaled by absmax / ${FP8_MAX.e4m3fn} per tensor/channel/group by default`,
  ),
  fp8Format(
    'FP8_E5M2',
    ['E5M2', 'FLOAT8E5M2'],
    'e5m2',
    `OCP/ONNX FP8 E5M2: 1 sign, 5 exponent, 2 mantissa bits, IEEE-like with infinities, largest ±${FP8_MAX.e5m2}; scaled by absmax / ${FP8_MAX.e5m2} per tensor/channel/group by default`,
  ),
  ...[2, 3, 4, 5, 6, 7, 8].flatMap((b) => [intnFormat(b, true), intnFormat(b, false)]),
  nf4,
];

export function scalarFormats(): readonly ScalarFormat[] {
  return FORMATS;
}

/** The format a name or alias stands for (case-insensitive; '-' and '_' alike), or undefined */
export function findScalarFormat(name: string): ScalarFormat | undefined {
  const k = name.trim().toUpperCase().replace(/-/g, '_');
  return FORMATS.find((f) => f.name === k || f.aliases.includes(k));
}

export function scalarFormat(name: string): ScalarFormat {
  const f = findScalarFormat(name);
  if (!f) throw new LowbitError(`unknown scalar format "${name}"; known: ${FORMATS.map((x) => x.name).join(', ')}`);
  return f;
}

/** Storage per value: the codes plus float32 scales (unless all 1) and zero points at the code width (unless all 0) */
export function bitsPerValue(f: ScalarFormat, q: ScalarQuantized): number {
  const n = q.codes.length || 1;
  const scaled = q.scales.some((s) => s !== 1);
  const zps = q.zeroPoints?.some((z) => z !== 0) ? q.zeroPoints.length * f.bits : 0;
  return f.bits + ((scaled ? q.scales.length * 32 : 0) + zps) / n;
}
