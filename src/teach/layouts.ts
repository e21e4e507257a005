// Each block format's bytes as fields, for drawing a block's layout (the web app's learn view):
// ggml's block structs in order (ggml-common.h), field by field. A format not listed, or whose
// fields do not add up to its block size, is drawn as one field with its layout text.
import type { BlockCodec } from '../formats/codec.js';

export interface LayoutField {
  /** ggml's field name */
  name: string;
  bytes: number;
  /** what it holds */
  what: string;
}

const d = (what = 'FP16 scale'): LayoutField => ({ name: 'd', bytes: 2, what });
const dmin: LayoutField = { name: 'dmin', bytes: 2, what: 'FP16 scale of the mins' };

const FIELDS: Record<string, LayoutField[]> = {
  F32: [{ name: 'value', bytes: 4, what: 'IEEE float32: 1 sign, 8 exponent, 23 mantissa bits' }],
  F16: [{ name: 'value', bytes: 2, what: 'IEEE half: 1 sign, 5 exponent, 10 mantissa bits' }],
  BF16: [{ name: 'value', bytes: 2, what: 'brain float: 1 sign, 8 exponent, 7 mantissa bits' }],
  Q8_0: [d(), { name: 'qs', bytes: 32, what: '32 signed 8-bit codes' }],
  Q4_0: [d(), { name: 'qs', bytes: 16, what: '32 4-bit codes, two per byte' }],
  Q4_1: [d(), { name: 'm', bytes: 2, what: 'FP16 minimum' }, { name: 'qs', bytes: 16, what: '32 4-bit codes' }],
  Q5_0: [
    d(),
    { name: 'qh', bytes: 4, what: 'the 5th bit of each of the 32 codes' },
    { name: 'qs', bytes: 16, what: 'low 4 bits of the 32 codes' },
  ],
  Q5_1: [
    d(),
    { name: 'm', bytes: 2, what: 'FP16 minimum' },
    { name: 'qh', bytes: 4, what: 'the 5th bit of each code' },
    { name: 'qs', bytes: 16, what: 'low 4 bits of the 32 codes' },
  ],
  Q2_K: [
    { name: 'scales', bytes: 16, what: '16 sub-blocks: 4-bit scale and 4-bit min each' },
    { name: 'qs', bytes: 64, what: '256 2-bit codes' },
    d('FP16 super-block scale'),
    dmin,
  ],
  Q3_K: [
    { name: 'hmask', bytes: 32, what: 'the high (3rd) bit of the 256 codes' },
    { name: 'qs', bytes: 64, what: 'low 2 bits of the 256 codes' },
    { name: 'scales', bytes: 12, what: '16 6-bit sub-block scales' },
    d('FP16 super-block scale'),
  ],
  Q4_K: [
    d('FP16 super-block scale'),
    dmin,
    { name: 'scales', bytes: 12, what: '8 sub-blocks: 6-bit scale and 6-bit min' },
    { name: 'qs', bytes: 128, what: '256 4-bit codes' },
  ],
  Q5_K: [
    d('FP16 super-block scale'),
    dmin,
    { name: 'scales', bytes: 12, what: '8 sub-blocks: 6-bit scale and 6-bit min' },
    { name: 'qh', bytes: 32, what: 'the 5th bit of the 256 codes' },
    { name: 'qs', bytes: 128, what: 'low 4 bits of the 256 codes' },
  ],
  Q6_K: [
    { name: 'ql', bytes: 128, what: 'low 4 bits of the 256 codes' },
    { name: 'qh', bytes: 64, what: 'high 2 bits of the 256 codes' },
    { name: 'scales', bytes: 16, what: '16 signed 8-bit sub-block scales' },
    d('FP16 super-block scale'),
  ],
  IQ4_NL: [d(), { name: 'qs', bytes: 16, what: '32 4-bit indices into 16 non-linear levels' }],
  IQ4_XS: [
    d('FP16 super-block scale'),
    { name: 'scales_h', bytes: 2, what: 'high 2 bits of the 8 sub-block scales' },
    { name: 'scales_l', bytes: 4, what: 'low 4 bits of the 8 sub-block scales' },
    { name: 'qs', bytes: 128, what: '256 4-bit indices into 16 non-linear levels' },
  ],
  MXFP4: [
    { name: 'e', bytes: 1, what: 'E8M0 power-of-two scale' },
    { name: 'qs', bytes: 16, what: '32 4-bit E2M1 floats' },
  ],
  TQ1_0: [
    { name: 'qs', bytes: 48, what: 'trits, 5 per byte' },
    { name: 'qh', bytes: 4, what: 'trits, 4 per byte' },
    d(),
  ],
  TQ2_0: [{ name: 'qs', bytes: 64, what: '256 2-bit codes for -1, 0, +1' }, d()],
  IQ2_XXS: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 64, what: 'per 32 weights: four 8-bit grid indices, four 7-bit sign sets, a 4-bit scale' },
  ],
  IQ2_XS: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 64, what: 'per 8 weights: a 9-bit grid index and 7 sign bits' },
    { name: 'scales', bytes: 8, what: '16 4-bit sub-block scales' },
  ],
  IQ2_S: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 64, what: 'low 8 bits of the grid indices, then the sign bits' },
    { name: 'qh', bytes: 8, what: 'high 2 bits of the grid indices' },
    { name: 'scales', bytes: 8, what: '16 4-bit sub-block scales' },
  ],
  IQ3_XXS: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 96, what: '64 8-bit grid indices, then per 32 weights 28 sign bits and a 4-bit scale' },
  ],
  IQ3_S: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 64, what: 'low 8 bits of the 64 grid indices' },
    { name: 'qh', bytes: 8, what: 'their 9th bits' },
    { name: 'signs', bytes: 32, what: 'one sign bit per weight' },
    { name: 'scales', bytes: 4, what: '8 4-bit sub-block scales' },
  ],
  IQ1_S: [
    d('FP16 super-block scale'),
    { name: 'qs', bytes: 32, what: 'low 8 bits of the 32 grid indices' },
    { name: 'qh', bytes: 16, what: 'per 32 weights: high index bits, a 3-bit scale, the shift sign' },
  ],
  IQ1_M: [
    { name: 'qs', bytes: 32, what: 'low 8 bits of the 32 grid indices' },
    { name: 'qh', bytes: 16, what: 'high index bits and shift signs' },
    { name: 'scales', bytes: 8, what: '3-bit scales per 16 weights; the FP16 scale spread over their top bits' },
  ],
};

/** The block's fields, in byte order; one field (the layout text) when the format is not listed. */
export function blockFields(c: BlockCodec): LayoutField[] {
  const f = FIELDS[c.name] ?? FIELDS[c.type.ggmlName];
  if (f && f.reduce((n, x) => n + x.bytes, 0) === c.type.typeSize) return f;
  return [{ name: 'block', bytes: c.type.typeSize, what: c.layout }];
}
