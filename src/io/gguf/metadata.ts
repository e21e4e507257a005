// The typed key/value model of GGUF metadata. Every value keeps its exact GGUF type so that a file
// read and written back is byte-identical, and so that writers can say "u32" where ggml insists
// on it (general.alignment, imatrix.chunk_count).
import type { GgufTypeName } from './constants.js';
import { LowbitError } from '../../errors.js';

export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigIntType = 'u64' | 'i64';

/** Array elements: typed arrays for numbers (compact for tokenizer tables), plain arrays otherwise. */
export type GgufArrayItems =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

export interface GgufArray {
  readonly itemType: GgufTypeName;
  readonly items: GgufArrayItems;
}

export type GgufValue =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigIntType; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'array'; readonly value: GgufArray };

/** Ordered: GGUF keeps keys in file order and so do we. */
export type GgufMetadata = Map<string, GgufValue>;

// Constructors, so callers write gv.u32(32) rather than object literals.
export const gv = {
  u8: (value: number): GgufValue => num('u8', value),
  i8: (value: number): GgufValue => num('i8', value),
  u16: (value: number): GgufValue => num('u16', value),
  i16: (value: number): GgufValue => num('i16', value),
  u32: (value: number): GgufValue => num('u32', value),
  i32: (value: number): GgufValue => num('i32', value),
  f32: (value: number): GgufValue => num('f32', value),
  f64: (value: number): GgufValue => num('f64', value),
  u64: (value: bigint | number): GgufValue => ({ type: 'u64', value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ type: 'i64', value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  arr: (itemType: GgufTypeName, items: GgufArrayItems): GgufValue => ({ type: 'array', value: { itemType, items } }),
  strings: (items: string[]): GgufValue => ({ type: 'array', value: { itemType: 'string', items } }),
};

function num(type: GgufNumberType, value: number): GgufValue {
  return { type, value };
}

const INT_RANGE: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

/** Throws LowbitError when a value cannot be stored as its declared type (writer side). */
export function checkValue(key: string, v: GgufValue, depth = 0): void {
  const bad = (why: string): never => {
    throw new LowbitError(`GGUF metadata '${key}': ${why}`);
  };
  switch (v.type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32': {
      const [lo, hi] = INT_RANGE[v.type]!;
      if (!Number.isInteger(v.value) || v.value < lo || v.value > hi) bad(`${v.value} is not a ${v.type}`);
      break;
    }
    case 'f32':
    case 'f64':
      if (typeof v.value !== 'number') bad(`not a number`);
      break;
    case 'u64':
      if (typeof v.value !== 'bigint' || v.value < 0n || v.value >= 1n << 64n) bad(`${v.value} is not a u64`);
      break;
    case 'i64':
      if (typeof v.value !== 'bigint' || v.value < -(1n << 63n) || v.value >= 1n << 63n)
        bad(`${v.value} is not an i64`);
      break;
    case 'bool':
      if (typeof v.value !== 'boolean') bad('not a boolean');
      break;
    case 'string':
      if (typeof v.value !== 'string') bad('not a string');
      if (!isWellFormed(v.value)) bad('string is not valid Unicode (lone surrogate)');
      break;
    case 'array':
      checkArray(key, v.value, depth + 1, bad);
      break;
    default:
      bad(`unknown value type ${(v as { type: string }).type}`);
  }
}

const ARRAY_CLASS: Partial<Record<GgufTypeName, Function>> = {
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  u64: BigUint64Array,
  i64: BigInt64Array,
};

function checkArray(key: string, a: GgufArray, depth: number, bad: (why: string) => never): void {
  if (depth > 64) bad('arrays nested too deeply');
  const cls = ARRAY_CLASS[a.itemType];
  if (cls) {
    if (!(a.items instanceof cls)) bad(`array of ${a.itemType} must be a ${cls.name}`);
    return;
  }
  if (!Array.isArray(a.items)) bad(`array of ${a.itemType} must be a plain array`);
  const items = a.items as unknown[];
  if (a.itemType === 'bool') {
    if (!items.every((x) => typeof x === 'boolean')) bad('array of bool holds a non-boolean');
  } else if (a.itemType === 'string') {
    for (const s of items)
      if (typeof s !== 'string' || !isWellFormed(s)) bad('array of string holds a non-string or invalid Unicode');
  } else if (a.itemType === 'array') {
    for (const x of items) checkArray(key, x as GgufArray, depth + 1, bad);
  } else bad(`unknown array item type ${a.itemType}`);
}

function isWellFormed(s: string): boolean {
  // String.prototype.isWellFormed is in Node 20 and current browsers; fall back to a regex elsewhere
  const f = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  if (f) return f.call(s);
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

// Typed getters: undefined when absent, LowbitError when present with another type.
function getTyped<T extends GgufValue['type']>(
  m: GgufMetadata,
  key: string,
  types: readonly T[],
): Extract<GgufValue, { type: T }> | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  if (!(types as readonly string[]).includes(v.type))
    throw new LowbitError(`GGUF metadata '${key}' is ${v.type}, expected ${types.join(' or ')}`);
  return v as Extract<GgufValue, { type: T }>;
}

export function metaString(m: GgufMetadata, key: string): string | undefined {
  return getTyped(m, key, ['string'] as const)?.value;
}

/** Any integer type, as a number (u64/i64 must be safe integers). */
export function metaInt(m: GgufMetadata, key: string): number | undefined {
  const v = getTyped(m, key, ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64'] as const);
  if (v === undefined) return undefined;
  if (typeof v.value === 'bigint') {
    if (v.value > BigInt(Number.MAX_SAFE_INTEGER) || v.value < -BigInt(Number.MAX_SAFE_INTEGER))
      throw new LowbitError(`GGUF metadata '${key}' = ${v.value} is too large`);
    return Number(v.value);
  }
  return v.value;
}

export function metaFloat(m: GgufMetadata, key: string): number | undefined {
  return (getTyped(m, key, ['f32', 'f64'] as const) as { value: number } | undefined)?.value;
}

export function metaBool(m: GgufMetadata, key: string): boolean | undefined {
  return getTyped(m, key, ['bool'] as const)?.value;
}

export function metaArray(m: GgufMetadata, key: string): GgufArray | undefined {
  return getTyped(m, key, ['array'] as const)?.value;
}

export function metaStrings(m: GgufMetadata, key: string): string[] | undefined {
  const a = metaArray(m, key);
  if (a === undefined) return undefined;
  if (a.itemType !== 'string')
    throw new LowbitError(`GGUF metadata '${key}' is an array of ${a.itemType}, expected strings`);
  return a.items as string[];
}
