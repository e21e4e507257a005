// ONNX TensorProto data: element types, sizes, and typed views of the payload in whichever field
// the writer used (raw_data, float_data, int32_data, ...). Browser-safe.
import { create } from '@bufbuild/protobuf';
import { LowbitError } from '../../errors.js';
import {
  TensorProtoSchema,
  TensorProto_DataType as DT,
  TensorProto_DataLocation,
  type TensorProto,
} from './proto/onnx_pb.js';

export { DT };

/** Bits per element of each fixed-size ONNX data type (0 = not fixed-size: strings, undefined). */
export function elemBits(t: number): number {
  switch (t) {
    case DT.FLOAT:
    case DT.INT32:
    case DT.UINT32:
      return 32;
    case DT.DOUBLE:
    case DT.INT64:
    case DT.UINT64:
    case DT.COMPLEX64:
      return 64;
    case DT.COMPLEX128:
      return 128;
    case DT.FLOAT16:
    case DT.BFLOAT16:
    case DT.INT16:
    case DT.UINT16:
      return 16;
    case DT.UINT8:
    case DT.INT8:
    case DT.BOOL:
    case DT.FLOAT8E4M3FN:
    case DT.FLOAT8E4M3FNUZ:
    case DT.FLOAT8E5M2:
    case DT.FLOAT8E5M2FNUZ:
    case DT.FLOAT8E8M0:
      return 8;
    case DT.UINT4:
    case DT.INT4:
    case DT.FLOAT4E2M1:
      return 4;
    case DT.UINT2:
    case DT.INT2:
      return 2;
    default:
      return 0;
  }
}

export function dtName(t: number): string {
  return DT[t] ?? `type ${t}`;
}

export function numElements(dims: readonly bigint[] | readonly number[]): number {
  let n = 1;
  for (const d of dims) {
    const v = Number(d);
    if (!Number.isSafeInteger(v) || v < 0) throw new LowbitError(`tensor has invalid dimension ${String(d)}`);
    n *= v;
  }
  if (!Number.isSafeInteger(n)) throw new LowbitError('tensor has more elements than can be addressed');
  return n;
}

/** Bytes the tensor's raw little-endian payload takes (sub-byte types are packed, rounded up). */
export function rawByteLength(t: TensorProto): number {
  const bits = elemBits(t.dataType);
  if (!bits) throw new LowbitError(`tensor ${t.name}: ${dtName(t.dataType)} has no fixed element size`);
  return Math.ceil((numElements(t.dims) * bits) / 8);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL;
}

/**
 * The tensor's payload as little-endian raw bytes, whichever field holds it. External tensors must be
 * loaded first (see loadExternalData).
 */
export function tensorRawBytes(t: TensorProto): Uint8Array {
  if (isExternal(t)) throw new LowbitError(`tensor ${t.name}: external data not loaded`);
  const n = numElements(t.dims);
  if (t.rawData.length) {
    const need = rawByteLength(t);
    if (t.rawData.length !== need)
      throw new LowbitError(`tensor ${t.name}: raw_data has ${t.rawData.length} bytes, dims need ${need}`);
    return t.rawData;
  }
  // dims come from the file: the values actually present must match them before anything is allocated
  const present = typedFieldLength(t);
  if (present === undefined) throw new LowbitError(`tensor ${t.name}: cannot read ${dtName(t.dataType)} data`);
  const need = elemBits(t.dataType) < 8 ? rawByteLength(t) : n;
  if (n === 0) return new Uint8Array(0);
  if (present.length !== need)
    throw new LowbitError(`tensor ${t.name}: ${present.field} has ${present.length} values, dims need ${need}`);
  const out = new Uint8Array(rawByteLength(t));
  const dv = new DataView(out.buffer);
  switch (t.dataType) {
    case DT.FLOAT:
      t.floatData.forEach((v, i) => dv.setFloat32(i * 4, v, true));
      break;
    case DT.DOUBLE:
      t.doubleData.forEach((v, i) => dv.setFloat64(i * 8, v, true));
      break;
    case DT.INT64:
      t.int64Data.forEach((v, i) => dv.setBigInt64(i * 8, v, true));
      break;
    case DT.UINT64:
      t.uint64Data.forEach((v, i) => dv.setBigUint64(i * 8, v, true));
      break;
    case DT.UINT32:
      t.uint64Data.forEach((v, i) => dv.setUint32(i * 4, Number(v), true));
      break;
    case DT.INT32:
      t.int32Data.forEach((v, i) => dv.setInt32(i * 4, v, true));
      break;
    // 16-bit and 8-bit types are stored one per int32_data entry (bit pattern for the float types)
    case DT.FLOAT16:
    case DT.BFLOAT16:
    case DT.UINT16:
    case DT.INT16:
      t.int32Data.forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
      break;
    case DT.UINT8:
    case DT.INT8:
    case DT.BOOL:
    case DT.FLOAT8E4M3FN:
    case DT.FLOAT8E4M3FNUZ:
    case DT.FLOAT8E5M2:
    case DT.FLOAT8E5M2FNUZ:
    case DT.FLOAT8E8M0:
      t.int32Data.forEach((v, i) => {
        out[i] = v & 0xff;
      });
      break;
    case DT.INT4:
    case DT.UINT4:
    case DT.FLOAT4E2M1:
      // packed two per int32_data entry? the spec packs them into int32_data already pairwise
      t.int32Data.forEach((v, i) => {
        if (i < out.length) out[i] = v & 0xff;
      });
      break;
    default:
      throw new LowbitError(`tensor ${t.name}: cannot read ${dtName(t.dataType)} data`);
  }
  return out;
}

/** The repeated field a tensor without raw_data keeps its values in, and how many it holds. */
function typedFieldLength(t: TensorProto): { field: string; length: number } | undefined {
  switch (t.dataType) {
    case DT.FLOAT:
      return { field: 'float_data', length: t.floatData.length };
    case DT.DOUBLE:
      return { field: 'double_data', length: t.doubleData.length };
    case DT.INT64:
      return { field: 'int64_data', length: t.int64Data.length };
    case DT.UINT64:
    case DT.UINT32:
      return { field: 'uint64_data', length: t.uint64Data.length };
    case DT.INT32:
    case DT.FLOAT16:
    case DT.BFLOAT16:
    case DT.UINT16:
    case DT.INT16:
    case DT.UINT8:
    case DT.INT8:
    case DT.BOOL:
    case DT.FLOAT8E4M3FN:
    case DT.FLOAT8E4M3FNUZ:
    case DT.FLOAT8E5M2:
    case DT.FLOAT8E5M2FNUZ:
    case DT.FLOAT8E8M0:
    case DT.INT4:
    case DT.UINT4:
    case DT.FLOAT4E2M1:
      return { field: 'int32_data', length: t.int32Data.length };
    default:
      return undefined;
  }
}

/** Float values of a FLOAT / FLOAT16 / BFLOAT16 / DOUBLE tensor as float32. */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const raw = tensorRawBytes(t);
  const n = numElements(t.dims);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  switch (t.dataType) {
    case DT.FLOAT:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case DT.DOUBLE:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case DT.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case DT.BFLOAT16:
      for (let i = 0; i < n; i++)
        out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!;
      break;
    default:
      throw new LowbitError(`tensor ${t.name}: ${dtName(t.dataType)} is not a float type`);
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1024 + m) * 2 ** (e - 25);
}

/** Integer values (int64 as number: tensors used for shapes/axes). */
export function tensorToInts(t: TensorProto): number[] {
  const raw = tensorRawBytes(t);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = numElements(t.dims);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (t.dataType) {
      case DT.INT64:
        out.push(Number(dv.getBigInt64(i * 8, true)));
        break;
      case DT.INT32:
        out.push(dv.getInt32(i * 4, true));
        break;
      case DT.INT8:
        out.push(dv.getInt8(i));
        break;
      case DT.UINT8:
        out.push(dv.getUint8(i));
        break;
      default:
        throw new LowbitError(`tensor ${t.name}: ${dtName(t.dataType)} is not an integer type`);
    }
  }
  return out;
}

/** A new initializer holding `bytes` as raw_data. */
export function makeTensor(name: string, dataType: DT, dims: readonly number[], bytes: Uint8Array): TensorProto {
  return create(TensorProtoSchema, { name, dataType, dims: dims.map((d) => BigInt(d)), rawData: bytes });
}

export function float32Tensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  return makeTensor(
    name,
    DT.FLOAT,
    dims,
    new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
  );
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const b = new Uint8Array(values.length * 8);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return makeTensor(name, DT.INT64, dims, b);
}
