// GGUF container facts, as ggml 0.23's gguf.h / gguf.cpp define them (little-endian only).
export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_MAGIC_BYTES = new Uint8Array([0x47, 0x47, 0x55, 0x46]);
export const GGUF_VERSION = 3;
export const GGUF_KEY_ALIGNMENT = 'general.alignment';
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS: a tensor has at most 4 dimensions */
export const GGML_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME: tensor names must be shorter than this (bytes, incl. the NUL ggml adds) */
export const GGML_MAX_NAME = 64;

/** GGUF metadata value type ids (enum gguf_type). */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufTypeName = keyof typeof GGUF_TYPE;

const NAMES: readonly GgufTypeName[] = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'f32',
  'bool',
  'string',
  'array',
  'u64',
  'i64',
  'f64',
];

export function ggufTypeName(id: number): GgufTypeName | undefined {
  return NAMES[id];
}

/** Bytes per element of fixed-size types; strings and arrays vary (0). */
export const GGUF_TYPE_SIZE: Readonly<Record<GgufTypeName, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: 0,
  array: 0,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** The fewest bytes one element of a type can occupy in a file (string: its u64 length; array: type + count). */
export function minEncodedSize(t: GgufTypeName): number {
  return t === 'string' ? 8 : t === 'array' ? 12 : GGUF_TYPE_SIZE[t];
}

/** Limits the reader enforces before allocating anything a file claims. */
export interface GgufLimits {
  /** bytes per string (keys, values, tensor names) */
  maxStringBytes: number;
  /** total header bytes (also never more than the file) */
  maxHeaderBytes: number;
  maxTensors: number;
  maxKeys: number;
  /** array nesting depth (1 = arrays of scalars only) */
  maxArrayDepth: number;
}

export const DEFAULT_GGUF_LIMITS: GgufLimits = {
  maxStringBytes: 1 << 20,
  maxHeaderBytes: 512 << 20,
  maxTensors: 1 << 20,
  maxKeys: 1 << 20,
  maxArrayDepth: 8,
};
