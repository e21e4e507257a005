// `lowbit explain VALUE --format T`: where one value lands in a format. A block format stores a
// value relative to its block, so the value is put first in the example block of `explain --format
// T` (the same smooth sample weights); the block is quantized with the format's own codec and the
// value read back. For the formats whose block layout is a scale and one code per weight, the
// stored scale (and min) and the value's code are decoded from the bytes and checked against the
// codec's own dequantization. Scalar formats (FP8, INTn, NF4, FP16, BF16) store it as one code.
import type { BlockCodec } from '../formats/codec.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { fp16ToFp32 } from '../formats/half.js';
import type { ScalarFormat } from '../formats/scalar/registry.js';

export interface ValueInFormat {
  format: string;
  value: number;
  storedAs: number;
  absError: number;
  /** block formats: the block's bytes (hex) */
  blockBytes?: string;
  /** the stored scale (and min) and the value's code, where the layout has them */
  scale?: number;
  min?: number;
  code?: number;
  text: string;
}

/** The sample block of `explain --format`, with `value` as its first weight. */
function sampleBlock(c: BlockCodec, value: number): Float32Array {
  const n = Math.max(c.type.blockSize, c.name.endsWith('_K') || c.type.blockSize === 256 ? 256 : 32);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.05 * Math.sin(i * 0.37) + 0.02 * Math.cos(i * 1.9) - 0.004;
  x[0] = value;
  return x;
}

const num = (v: number) =>
  v === 0 ? '0' : Math.abs(v) >= 1e5 || Math.abs(v) < 1e-4 ? v.toExponential(4) : String(+v.toPrecision(6));
const IQ4_NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const f16 = (b: Uint8Array, o: number) => fp16ToFp32(b[o]! | (b[o + 1]! << 8));

/** Scale, min and code of weight 0 for the scale-and-code layouts, with the formula that reads it back. */
function anatomy(
  c: BlockCodec,
  b: Uint8Array,
):
  | { scale: number; min?: number; code: number; codeBits: number; formula: string; back: number; scaleBytes: string }
  | undefined {
  const T = GGML_TYPE;
  switch (c.type.id) {
    case T.Q4_0: {
      const d = f16(b, 0),
        q = b[2]! & 15;
      return {
        scale: d,
        code: q,
        codeBits: 4,
        formula: `(q − 8)·d = (${q} − 8)·${num(d)}`,
        back: (q - 8) * d,
        scaleBytes: 'FP16, bytes 0-1',
      };
    }
    case T.Q4_1: {
      const d = f16(b, 0),
        m = f16(b, 2),
        q = b[4]! & 15;
      return {
        scale: d,
        min: m,
        code: q,
        codeBits: 4,
        formula: `q·d + m = ${q}·${num(d)} + ${num(m)}`,
        back: q * d + m,
        scaleBytes: 'FP16, d in bytes 0-1, m in bytes 2-3',
      };
    }
    case T.Q5_0: {
      const d = f16(b, 0),
        q = (b[6]! & 15) | ((b[2]! & 1) << 4);
      return {
        scale: d,
        code: q,
        codeBits: 5,
        formula: `(q − 16)·d = (${q} − 16)·${num(d)}`,
        back: (q - 16) * d,
        scaleBytes: 'FP16, bytes 0-1',
      };
    }
    case T.Q5_1: {
      const d = f16(b, 0),
        m = f16(b, 2),
        q = (b[8]! & 15) | ((b[4]! & 1) << 4);
      return {
        scale: d,
        min: m,
        code: q,
        codeBits: 5,
        formula: `q·d + m = ${q}·${num(d)} + ${num(m)}`,
        back: q * d + m,
        scaleBytes: 'FP16, d in bytes 0-1, m in bytes 2-3',
      };
    }
    case T.Q8_0: {
      const d = f16(b, 0),
        q = (b[2]! << 24) >> 24;
      return {
        scale: d,
        code: q,
        codeBits: 8,
        formula: `q·d = ${q}·${num(d)}`,
        back: q * d,
        scaleBytes: 'FP16, bytes 0-1',
      };
    }
    case T.IQ4_NL: {
      const d = f16(b, 0),
        q = b[2]! & 15;
      return {
        scale: d,
        code: q,
        codeBits: 4,
        formula: `d·table[q] = ${num(d)}·${IQ4_NL_VALUES[q]}`,
        back: d * IQ4_NL_VALUES[q]!,
        scaleBytes: 'FP16, bytes 0-1',
      };
    }
    default:
      return undefined;
  }
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

export function valueInBlockFormat(c: BlockCodec, value: number): ValueInFormat {
  const x = sampleBlock(c, value);
  const n = x.length;
  const q = new Uint8Array((n / c.type.blockSize) * c.type.typeSize);
  c.quantize(x, q, 1, n, c.requiresImatrix ? new Float32Array(n).fill(1) : null);
  const y = new Float32Array(n);
  c.dequantize(q, y, n);
  const block = q.subarray(0, c.type.typeSize);
  const storedAs = y[0]!;
  const err = storedAs - value;
  const a = anatomy(c, block);
  // the decoded anatomy must give what the codec itself reads back; otherwise it is not shown
  const anat = a && Math.abs(a.back - storedAs) <= 1e-6 * Math.max(1, Math.abs(storedAs)) ? a : undefined;
  const lines = [
    c.type.blockSize === 1
      ? `${num(value)} in ${c.name}: one weight per element, no block`
      : `${num(value)} in ${c.name}: put first in a block of ${c.type.blockSize} weights (the rest: the example weights of explain --format ${c.name})`,
    `  ${c.type.blockSize === 1 ? 'its' : "the block's"} ${c.type.typeSize} bytes: ${hex(block)}${c.type.blockSize === 1 ? ' (little-endian)' : ''}`,
  ];
  if (anat) {
    lines.push(
      `  stored scale d = ${num(anat.scale)}${anat.min !== undefined ? `, min m = ${num(anat.min)}` : ''} (${anat.scaleBytes}), chosen from the block's values`,
    );
    lines.push(
      `  the value's code: q = ${anat.code} (${anat.codeBits} bits, ${anat.code.toString(2).padStart(anat.codeBits, '0')}), read back as ${anat.formula} = ${num(anat.back)}`,
    );
  } else {
    lines.push(`  layout: ${c.layout}`);
  }
  lines.push(
    `  stored as ${num(storedAs)}: error ${num(err)}${value !== 0 ? ` (${((err / value) * 100).toFixed(2)}%)` : ''}`,
  );
  return {
    format: c.name,
    value,
    storedAs,
    absError: Math.abs(err),
    blockBytes: hex(block),
    ...(anat ? { scale: anat.scale, min: anat.min, code: anat.code } : {}),
    text: lines.join('\n'),
  };
}

export function valueInScalarFormat(f: ScalarFormat, value: number): ValueInFormat {
  // floats: the value cast as it is (no scaling), so it lands on the format's own grid; integer
  // codes and NF4 scale a tensor, so the value goes first among the example weights, per tensor
  const float = f.kind === 'float';
  const x = float
    ? Float32Array.of(value)
    : Float32Array.from({ length: 32 }, (_, i) =>
        i === 0 ? value : 0.05 * Math.sin(i * 0.37) + 0.02 * Math.cos(i * 1.9) - 0.004,
      );
  const qz = f.quantize(x, float ? { scaled: false } : {});
  const storedAs = f.dequantize(qz)[0]!;
  const code = Number(qz.codes[0]);
  const err = storedAs - value;
  const lines = [
    float
      ? `${num(value)} in ${f.name}: cast to the nearest of the format's values (no scaling)`
      : `${num(value)} in ${f.name}: first of 32 weights (the rest: the example weights of explain --format ${f.name}), one scale for all`,
    `  code ${code} (${f.bits} bits, ${code.toString(2).padStart(f.bits, '0')})${float ? '' : `, scale ${num(qz.scales[0]!)}${qz.zeroPoints ? `, zero point ${qz.zeroPoints[0]}` : ''}`}`,
    `  stored as ${num(storedAs)}: error ${num(err)}${value !== 0 && Number.isFinite(storedAs) ? ` (${((err / value) * 100).toFixed(2)}%)` : ''}${qz.clampedCount ? ' (clamped: beyond the largest value)' : ''}`,
  ];
  return {
    format: f.name,
    value,
    storedAs,
    absError: Math.abs(err),
    code,
    ...(float ? {} : { scale: qz.scales[0] }),
    text: lines.join('\n'),
  };
}
