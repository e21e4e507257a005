// The safetensors reader, validated as strictly as the reference implementation (huggingface/
// safetensors read_metadata + validate): header size ≤ 100 MB and within the file, UTF-8 JSON
// object, `__metadata__` a string→string map, known dtypes, tensors sorted by offset must tile the
// data area exactly from 0 to its end, and each tensor's byte length must be shape × dtype size
// with no overflow. Tensor data is read on demand, so files of any size stream.
import { FileFormatError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { dtypeBytes, isSafetensorsDtype, toFloat32, FLOAT_DECODABLE, type SafetensorsDtype } from './dtypes.js';

export const SAFETENSORS_MAX_HEADER = 100_000_000;

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** offsets within the data area (after the 8 + N header bytes), as in the file */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  source: ByteSource;
  /** header JSON length N; data starts at 8 + N */
  headerSize: number;
  /** `__metadata__` (JSON.parse order: integer-like keys first); null when absent */
  metadata: Map<string, string> | null;
  /** in JSON.parse order of the header */
  tensors: SafetensorsTensor[];
  byName: Map<string, SafetensorsTensor>;
}

export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsFile> {
  // tensor names and V8's JSON messages come from the file: control characters would break the one-line message
  const bad = (problem: string): never => {
    throw new FileFormatError(src.name, problem.replace(/[\x00-\x1f\x7f]/g, ' '));
  };
  if (src.size < 8) bad(`too small for safetensors (${src.size} bytes, header size needs 8)`);
  const lenBytes = await src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER)) bad(`header size ${n64} is over the 100 MB limit`);
  const n = Number(n64);
  if (8 + n > src.size) bad(`header size ${n} runs past the end of the file (${src.size} bytes)`);
  const raw = await src.read(8, n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return bad('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) bad('header is not a JSON object');

  let metadata: Map<string, string> | null = null;
  const tensors: SafetensorsTensor[] = [];
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null) continue;
      if (typeof info !== 'object' || Array.isArray(info)) bad('__metadata__ is not an object');
      metadata = new Map();
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') bad(`__metadata__ value of '${k}' is not a string`);
        metadata.set(k, v as string);
      }
      continue;
    }
    tensors.push(parseTensorInfo(name, info, bad));
  }

  // validate as the reference does: sorted by offsets, each begins where the previous ended
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let start = 0;
  for (const t of sorted) {
    if (t.begin !== start || t.end < t.begin) {
      bad(
        t.begin < start
          ? `tensor '${t.name}' overlaps the previous tensor (offsets [${t.begin}, ${t.end}], previous ends at ${start})`
          : t.end < t.begin
            ? `tensor '${t.name}' ends before it begins ([${t.begin}, ${t.end}])`
            : `tensor '${t.name}' starts at ${t.begin}, leaving a gap after offset ${start}`,
      );
    }
    start = t.end;
    let count = 1;
    for (const d of t.shape) {
      count *= d;
      if (!Number.isSafeInteger(count)) bad(`tensor '${t.name}': shape [${t.shape.join(', ')}] overflows`);
    }
    const nb = dtypeBytes(t.dtype, count);
    if (nb === undefined || !Number.isSafeInteger(nb))
      bad(`tensor '${t.name}': ${count} elements of ${t.dtype} do not fill whole bytes`);
    if (t.end - t.begin !== nb)
      bad(
        `tensor '${t.name}': shape [${t.shape.join(', ')}] of ${t.dtype} needs ${nb} bytes, offsets give ${t.end - t.begin}`,
      );
  }
  const dataBytes = src.size - 8 - n;
  if (start !== dataBytes) {
    bad(
      start > dataBytes
        ? `tensor data runs past the end of the file (needs ${start} bytes after the header, file has ${dataBytes})`
        : `tensors cover ${start} of the ${dataBytes} data bytes: the offsets must reach the end of the file`,
    );
  }
  return { source: src, headerSize: n, metadata, tensors, byName: new Map(tensors.map((t) => [t.name, t])) };
}

function parseTensorInfo(name: string, info: unknown, bad: (p: string) => never): SafetensorsTensor {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) bad(`tensor '${name}' is not an object`);
  const o = info as Record<string, unknown>;
  if (!isSafetensorsDtype(o.dtype)) bad(`tensor '${name}' has unknown dtype ${JSON.stringify(o.dtype)}`);
  const shape = o.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    bad(`tensor '${name}' has an invalid shape`);
  const off = o.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`tensor '${name}' has invalid data_offsets`);
  }
  return {
    name,
    dtype: o.dtype as SafetensorsDtype,
    shape: shape as number[],
    begin: (off as number[])[0]!,
    end: (off as number[])[1]!,
  };
}

export function safetensorsTensor(f: SafetensorsFile, name: string): SafetensorsTensor {
  const t = f.byName.get(name);
  if (!t) throw new FileFormatError(f.source.name, `no tensor '${name}'`);
  return t;
}

/** The raw little-endian bytes of a tensor. */
export function readSafetensorsBytes(f: SafetensorsFile, t: SafetensorsTensor | string): Promise<Uint8Array> {
  const info = typeof t === 'string' ? safetensorsTensor(f, t) : t;
  return f.source.read(8 + f.headerSize + info.begin, info.end - info.begin);
}

/** A tensor's values as float32 (F32/F16/BF16/F64 and integer types). */
export async function readSafetensorsF32(f: SafetensorsFile, t: SafetensorsTensor | string): Promise<Float32Array> {
  const info = typeof t === 'string' ? safetensorsTensor(f, t) : t;
  if (!FLOAT_DECODABLE.has(info.dtype))
    throw new FileFormatError(
      f.source.name,
      `tensor '${info.name.replace(/[\x00-\x1f\x7f]/g, ' ')}' is ${info.dtype}, which lowbit cannot convert to float`,
    );
  return toFloat32(await readSafetensorsBytes(f, info), info.dtype);
}
