// The safetensors writer. Output matches the reference serializer byte for byte: tensors sorted by
// dtype (largest alignment first) then name, compact JSON with `__metadata__` first, header padded
// with spaces to a multiple of 8. Data is streamed tensor by tensor from callbacks.
import { LowbitError } from '../../errors.js';
import type { ByteSink } from '../source.js';
import { DTYPE_ORDER, dtypeBytes, type SafetensorsDtype } from './dtypes.js';

export interface SafetensorsOutTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** the tensor's bytes, produced when it is written */
  data: () => Promise<Uint8Array> | Uint8Array;
}

export interface SafetensorsWriteOptions {
  metadata?: Map<string, string> | Record<string, string>;
  /** keep the given order instead of the reference's dtype/name sort */
  keepOrder?: boolean;
}

/** Builds the header bytes (8-byte length + JSON) and the order tensors must be written in. */
export function safetensorsHeader(
  tensors: SafetensorsOutTensor[],
  opts: SafetensorsWriteOptions = {},
): { header: Uint8Array; order: SafetensorsOutTensor[]; dataBytes: number } {
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new LowbitError("safetensors: a tensor cannot be named '__metadata__'");
    if (names.has(t.name)) throw new LowbitError(`safetensors: duplicate tensor name '${t.name}'`);
    names.add(t.name);
  }
  const rank = (d: SafetensorsDtype) => DTYPE_ORDER.indexOf(d);
  const order = opts.keepOrder
    ? [...tensors]
    : [...tensors].sort((a, b) => rank(b.dtype) - rank(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // assembled by hand: JS objects put integer-like keys first, and the order here must be exact
  const parts: string[] = [];
  if (opts.metadata) {
    const entries = opts.metadata instanceof Map ? [...opts.metadata] : Object.entries(opts.metadata);
    for (const [k, v] of entries)
      if (typeof v !== 'string') throw new LowbitError(`safetensors: metadata '${k}' is not a string`);
    parts.push(`"__metadata__":{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const t of order) {
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw new LowbitError(`safetensors: tensor '${t.name}' has invalid dimension ${d}`);
      count *= d;
    }
    const nb = dtypeBytes(t.dtype, count);
    if (nb === undefined)
      throw new LowbitError(`safetensors: tensor '${t.name}' of ${t.dtype} does not fill whole bytes`);
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nb}]}`,
    );
    offset += nb;
  }
  let json = `{${parts.join(',')}}`;
  let bytes = new TextEncoder().encode(json);
  const pad = (8 - (bytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    bytes = new TextEncoder().encode(json);
  }
  const header = new Uint8Array(8 + bytes.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(bytes.length), true);
  header.set(bytes, 8);
  return { header, order, dataBytes: offset };
}

export async function writeSafetensors(
  sink: ByteSink,
  tensors: SafetensorsOutTensor[],
  opts: SafetensorsWriteOptions = {},
): Promise<void> {
  const { header, order } = safetensorsHeader(tensors, opts);
  await sink.write(header);
  for (const t of order) {
    const data = await t.data();
    let count = 1;
    for (const d of t.shape) count *= d;
    const nb = dtypeBytes(t.dtype, count)!;
    if (data.length !== nb)
      throw new LowbitError(`safetensors: tensor '${t.name}' produced ${data.length} bytes, its shape needs ${nb}`);
    await sink.write(data);
  }
}
