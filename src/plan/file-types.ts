// llama.cpp's file types (enum llama_ftype, stored as general.file_type) and the default tensor type
// each one quantizes to (llama_ftype_get_default_type). Names and aliases follow llama-quantize's
// QUANT_OPTIONS so `--type q4_k` means what it means there.
import { GGML_TYPE } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';

export interface FileType {
  /** llama-quantize's name, e.g. 'Q4_K_M' */
  readonly name: string;
  /** LLAMA_FTYPE_* value, written to general.file_type */
  readonly id: number;
  /** ggml type id most tensors get */
  readonly defaultType: number;
  /** a few words for listings */
  readonly summary: string;
}

const T = GGML_TYPE;

export const FILE_TYPES: readonly FileType[] = [
  { name: 'F32', id: 0, defaultType: T.F32, summary: '32-bit floats' },
  { name: 'F16', id: 1, defaultType: T.F16, summary: '16-bit floats' },
  { name: 'Q4_0', id: 2, defaultType: T.Q4_0, summary: '4.5 bpw, one scale per 32' },
  { name: 'Q4_1', id: 3, defaultType: T.Q4_1, summary: '5.0 bpw, scale and min per 32' },
  { name: 'Q8_0', id: 7, defaultType: T.Q8_0, summary: '8.5 bpw, one scale per 32' },
  { name: 'Q5_0', id: 8, defaultType: T.Q5_0, summary: '5.5 bpw, one scale per 32' },
  { name: 'Q5_1', id: 9, defaultType: T.Q5_1, summary: '6.0 bpw, scale and min per 32' },
  { name: 'Q2_K', id: 10, defaultType: T.Q2_K, summary: 'k-quant mix around Q2_K' },
  { name: 'Q3_K_S', id: 11, defaultType: T.Q3_K, summary: 'k-quant mix, small' },
  { name: 'Q3_K_M', id: 12, defaultType: T.Q3_K, summary: 'k-quant mix, medium' },
  { name: 'Q3_K_L', id: 13, defaultType: T.Q3_K, summary: 'k-quant mix, large' },
  { name: 'Q4_K_S', id: 14, defaultType: T.Q4_K, summary: 'k-quant mix, small' },
  { name: 'Q4_K_M', id: 15, defaultType: T.Q4_K, summary: 'k-quant mix, medium' },
  { name: 'Q5_K_S', id: 16, defaultType: T.Q5_K, summary: 'k-quant mix, small' },
  { name: 'Q5_K_M', id: 17, defaultType: T.Q5_K, summary: 'k-quant mix, medium' },
  { name: 'Q6_K', id: 18, defaultType: T.Q6_K, summary: '6.56 bpw k-quant' },
  { name: 'IQ2_XXS', id: 19, defaultType: T.IQ2_XXS, summary: '2.06 bpw, needs an imatrix' },
  { name: 'IQ2_XS', id: 20, defaultType: T.IQ2_XS, summary: '2.31 bpw, needs an imatrix' },
  { name: 'Q2_K_S', id: 21, defaultType: T.Q2_K, summary: 'k-quant mix around Q2_K, needs an imatrix' },
  { name: 'IQ3_XS', id: 22, defaultType: T.IQ3_S, summary: '3.3 bpw, needs an imatrix' },
  { name: 'IQ3_XXS', id: 23, defaultType: T.IQ3_XXS, summary: '3.06 bpw, needs an imatrix' },
  { name: 'IQ1_S', id: 24, defaultType: T.IQ1_S, summary: '1.56 bpw, needs an imatrix' },
  { name: 'IQ4_NL', id: 25, defaultType: T.IQ4_NL, summary: '4.5 bpw non-linear' },
  { name: 'IQ3_S', id: 26, defaultType: T.IQ3_S, summary: '3.44 bpw' },
  { name: 'IQ3_M', id: 27, defaultType: T.IQ3_S, summary: '3.66 bpw mix' },
  { name: 'IQ2_S', id: 28, defaultType: T.IQ2_XS, summary: '2.5 bpw, needs an imatrix' },
  { name: 'IQ2_M', id: 29, defaultType: T.IQ2_S, summary: '2.7 bpw, needs an imatrix' },
  { name: 'IQ4_XS', id: 30, defaultType: T.IQ4_XS, summary: '4.25 bpw non-linear' },
  { name: 'IQ1_M', id: 31, defaultType: T.IQ1_M, summary: '1.75 bpw, needs an imatrix' },
  { name: 'BF16', id: 32, defaultType: T.BF16, summary: '16-bit brain floats' },
  { name: 'TQ1_0', id: 36, defaultType: T.TQ1_0, summary: '1.69 bpw ternary' },
  { name: 'TQ2_0', id: 37, defaultType: T.TQ2_0, summary: '2.06 bpw ternary' },
  { name: 'MXFP4_MOE', id: 38, defaultType: T.MXFP4, summary: 'MXFP4 experts, Q8_0 elsewhere' },
  { name: 'Q1_0', id: 40, defaultType: T.Q1_0, summary: '1.125 bpw' },
  { name: 'Q2_0', id: 41, defaultType: T.Q2_0, summary: '2.25 bpw' },
];

/** llama-quantize's aliases: the bare k-quant names mean the _M mix. */
export const FILE_TYPE_ALIASES: Readonly<Record<string, string>> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };

/** The numeric LLAMA_FTYPE_* values, for code that branches on a file type. */
export const FTYPE = Object.fromEntries(FILE_TYPES.map((f) => [f.name, f.id])) as Record<string, number>;

const byName = new Map(FILE_TYPES.map((f) => [f.name, f]));
const byId = new Map(FILE_TYPES.map((f) => [f.id, f]));

export function fileTypeById(id: number): FileType | undefined {
  return byId.get(id);
}

/** Case-insensitive name, alias, or the numeric id (as llama-quantize accepts `15` for Q4_K_M). */
export function parseFileType(s: string): FileType {
  const up = s.trim().toUpperCase();
  const f = byName.get(FILE_TYPE_ALIASES[up] ?? up) ?? (/^\d+$/.test(up) ? byId.get(Number(up)) : undefined);
  if (!f)
    throw new LowbitError(
      `unknown file type '${s}' (known: ${[...byName.keys(), ...Object.keys(FILE_TYPE_ALIASES)].join(', ')})`,
    );
  return f;
}
