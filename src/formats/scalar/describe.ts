// Plain-words description of a scalar format for `lowbit explain --format NAME`: its level grid
// (how many levels, the range, the step, or the levels themselves for NF4 and FP8 power by power of
// two) and a worked example read back through the format's own quantize/dequantize. Browser-safe.
import { bitsPerValue, type ScalarFormat, type ScalarOptions } from './registry.js';

export interface ScalarDescription {
  name: string;
  bits: number;
  kind: ScalarFormat['kind'];
  description: string;
  levels: { count: number; min: number; max: number; values?: number[] };
  example: { options: ScalarOptions; input: number[]; output: number[]; rmse: number; bitsPerValue: number };
  text: string;
}

const fmt = (v: number) =>
  v === 0
    ? '0'
    : Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3
      ? v.toExponential(3).replace(/\.?0+e/, 'e')
      : String(+v.toPrecision(6));

/** Positive FP8 levels by power of two: the subnormals, then one row per binade with its step */
function binadeRows(values: number[]): string[] {
  const pos = values.filter((v) => v > 0);
  // 2^mantissa bits levels per binade; the subnormals are the multiples of the smallest value below
  // the smallest normal, tiny * 2^mantissa bits
  const perBinade = pos.filter((v) => v >= 1 && v < 2).length;
  const minNormal = pos[0]! * perBinade;
  const sub = pos.filter((v) => v < minNormal);
  const rows = [`    subnormal  step ${fmt(pos[0]!)}: ${sub.map(fmt).join(' ')}`];
  for (let i = sub.length; i < pos.length;) {
    const e = Math.floor(Math.log2(pos[i]!));
    const row: number[] = [];
    while (i < pos.length && Math.floor(Math.log2(pos[i]!)) === e) row.push(pos[i++]!);
    rows.push(`    [2^${e}, 2^${e + 1})  step ${fmt(2 ** e / perBinade)}: ${row.map(fmt).join(' ')}`);
  }
  return rows;
}

export function describeScalarFormat(f: ScalarFormat): ScalarDescription {
  const g = f.grid();
  const lines = [
    `${f.name} (${f.bits} bits, ${f.kind === 'float' ? 'floating point' : f.kind === 'integer' ? 'integer codes' : 'lookup table'})`,
    `  ${f.description}`,
  ];
  if (f.kind === 'integer') {
    const signed = g.min < 0;
    const hi = g.max;
    lines.push(
      `  levels: ${g.count} codes ${g.min}..${g.max}, evenly spaced one scale apart; one scale and zero point per tensor, channel or group`,
      signed
        ? `  symmetric (default): scale = absmax / ${hi}, zero point 0, so ±absmax land on ±${hi}; code ${g.min} only holds clamped values`
        : `  affine (default): range [min, max] widened to include 0, scale = (max - min) / ${hi}, zero point = round(-min / scale) so 0 is exact`,
      `  step: one scale; e.g. ${signed ? 'absmax 1' : 'the range [0, 1]'} gives a step of ${fmt(1 / hi)}`,
    );
  } else if (f.name === 'NF4') {
    lines.push(`  levels: 16, from -1 to 1 times the group's absmax (nonuniform, denser near 0):`);
    g.values!.forEach((v, c) => {
      if (c % 4 === 0)
        lines.push(
          `    ${g
            .values!.slice(c, c + 4)
            .map((x, k) => `${String(c + k).padStart(2)}: ${x.toFixed(7).padStart(10)}`)
            .join('   ')}`,
        );
    });
  } else if (g.values) {
    lines.push(
      `  levels: ${g.count} finite values from ${fmt(g.min)} to ${fmt(g.max)}; the positive ones, power of two by power of two:`,
      ...binadeRows(g.values),
    );
  } else {
    const mant = f.name === 'FP16' ? 10 : 7;
    lines.push(
      `  levels: ${g.count} finite values from ${fmt(g.min)} to ${fmt(g.max)}; step 2^-${mant} of the power of two below each value (relative precision ≈ ${fmt(2 ** -(mant + 1))})`,
    );
  }
  // the same smooth sample of weights as the block formats' examples, so the numbers compare
  const n = 256;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.05 * Math.sin(i * 0.37) + 0.02 * Math.cos(i * 1.9) - 0.004;
  const options: ScalarOptions = f.kind === 'float' ? {} : { granularity: 'group', groupSize: 32 };
  const q = f.quantize(x, options);
  const y = f.dequantize(q);
  let se = 0;
  for (let i = 0; i < n; i++) se += (y[i]! - x[i]!) ** 2;
  const rmse = Math.sqrt(se / n);
  const bpv = bitsPerValue(f, q);
  const show = 6;
  lines.push(
    `  example, ${n} weights${f.kind === 'float' ? (q.scales[0] !== 1 ? ', one absmax scale' : '') : ', groups of 32'} (${+bpv.toFixed(4)} bits per weight with scales), first ${show}:`,
    `    in : ${Array.from(x.subarray(0, show), (v) => v.toFixed(5)).join('  ')}`,
    `    out: ${Array.from(y.subarray(0, show), (v) => v.toFixed(5)).join('  ')}`,
    `    rms error over the ${n}: ${rmse.toExponential(2)}`,
  );
  return {
    name: f.name,
    bits: f.bits,
    kind: f.kind,
    description: f.description,
    levels: { count: g.count, min: g.min, max: g.max, ...(g.values ? { values: g.values } : {}) },
    example: {
      options,
      input: Array.from(x.subarray(0, show)),
      output: Array.from(y.subarray(0, show)),
      rmse,
      bitsPerValue: bpv,
    },
    text: lines.join('\n'),
  };
}
