// safetensors element types (the names the format uses) and their sizes in bits, plus decoding of
// the float and integer types to float32 for conversion.
import { fp16Table, bf16ToFp32 } from '../../formats/half.js';
import { LowbitError } from '../../errors.js';

export const SAFETENSORS_DTYPE_BITS = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BITS;

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BITS, s);
}

/** The order the reference writer sorts by (its Dtype enum, by increasing alignment). */
export const DTYPE_ORDER: readonly SafetensorsDtype[] = [
  'BOOL',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'C64',
  'I64',
  'U64',
];

/** Byte length of `n` elements, or undefined when sub-byte types do not fill whole bytes. */
export function dtypeBytes(dtype: SafetensorsDtype, n: number): number | undefined {
  const bits = n * SAFETENSORS_DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : undefined;
}

/** Types toFloat32 can decode. */
export const FLOAT_DECODABLE: ReadonlySet<SafetensorsDtype> = new Set<SafetensorsDtype>([
  'F32',
  'F16',
  'BF16',
  'F64',
  'I8',
  'U8',
  'I16',
  'U16',
  'I32',
  'U32',
  'BOOL',
]);

/** Little-endian bytes of `dtype` → float32 values (rounded as C's (float) cast does). */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = SAFETENSORS_DTYPE_BITS[dtype] / 8;
  const n = bytes.length / size;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = fp16Table[dv.getUint16(i * 2, true)]!;
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToFp32(dv.getUint16(i * 2, true));
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i]!;
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      break;
    default:
      throw new LowbitError(`toFloat32: ${dtype} is not decodable`, 'EUNSUPPORTED');
  }
  return out;
}
