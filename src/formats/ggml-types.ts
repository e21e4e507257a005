// Every ggml tensor type as GGUF stores it (ggml 0.23.0's enum ggml_type): the id, name, and block
// geometry. Parsers need sizes for all of them, including types lowbit cannot quantize to.
export interface GgmlTypeInfo {
  readonly id: number;
  /** ggml's own lower-case name, e.g. 'q4_K' */
  readonly ggmlName: string;
  /** elements per block */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
}

/** Every type's id, by ggml's upper-case name (GGML_TYPE_Q4_K is GGML_TYPE.Q4_K): the only place ids are written. */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;

/** [elements per block, bytes per block] of every type (ggml's type_traits blck_size, type_size). */
const GEOMETRY: Record<keyof typeof GGML_TYPE, readonly [number, number]> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  Q8_K: [256, 292],
  IQ2_XXS: [256, 66],
  IQ2_XS: [256, 74],
  IQ3_XXS: [256, 98],
  IQ1_S: [256, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [256, 110],
  IQ2_S: [256, 82],
  IQ4_XS: [256, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [256, 56],
  BF16: [1, 2],
  TQ1_0: [256, 54],
  TQ2_0: [256, 66],
  MXFP4: [32, 17],
  NVFP4: [64, 36],
  Q1_0: [128, 18],
  Q2_0: [64, 18],
};

/** All types in id order; ggmlName is ggml's type_name (lower case but for the K of K-quants). */
export const GGML_TYPES: readonly GgmlTypeInfo[] = (Object.keys(GGML_TYPE) as (keyof typeof GGML_TYPE)[]).map(
  (name) => ({
    id: GGML_TYPE[name],
    ggmlName: name.toLowerCase().replace(/_k$/, '_K'),
    blockSize: GEOMETRY[name][0],
    typeSize: GEOMETRY[name][1],
  }),
);

const byId = new Map(GGML_TYPES.map((t) => [t.id, t]));
const byName = new Map(GGML_TYPES.map((t) => [t.ggmlName.toLowerCase(), t]));

export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return byName.get(name.toLowerCase());
}

/** Bytes of a row of n elements, or undefined when the block size does not divide n. */
export function ggmlRowBytes(t: GgmlTypeInfo, n: number): number | undefined {
  return n % t.blockSize === 0 ? (n / t.blockSize) * t.typeSize : undefined;
}
