// Streaming GGUF writer over a ByteSink. The caller declares metadata and every tensor up front;
// the header (with offsets) is written at once, then tensor bytes are streamed in declaration
// order, in as many chunks as the caller likes. Layout is ggml's: header padded to the alignment,
// each tensor's data padded to the alignment (the last one too), zero padding bytes.
import { LowbitError } from '../../errors.js';
import type { ByteSink } from '../source.js';
import { ggmlTypeById, type GgmlTypeInfo } from '../../formats/ggml-types.js';
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_ALIGNMENT,
  GGUF_MAGIC_BYTES,
  GGUF_TYPE,
  GGUF_VERSION,
  type GgufTypeName,
} from './constants.js';
import { checkValue, type GgufArray, type GgufMetadata, type GgufValue } from './metadata.js';
import { alignUp } from './reader.js';

export interface GgufTensorSpec {
  readonly name: string;
  /** ggml order (dims[0] = row length); written as given, so pass ggml_n_dims-trimmed dims to match ggml */
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo | number;
  /** optional: checked against the size dims and type imply */
  readonly byteSize?: number;
}

export interface GgufWriteOptions {
  readonly metadata: GgufMetadata | Iterable<readonly [string, GgufValue]>;
  readonly tensors: readonly GgufTensorSpec[];
  /** 3 (default) or 2, to reproduce a v2 file */
  readonly version?: 2 | 3;
}

interface PlannedTensor {
  readonly name: string;
  readonly byteSize: number;
  readonly relOffset: number;
}

/** ggml_n_dims: dims without trailing 1s, at least one. ggml writes tensors with this many dims. */
export function ggmlNDims(dims: readonly number[]): number[] {
  let n = dims.length;
  while (n > 1 && dims[n - 1] === 1) n--;
  return dims.slice(0, Math.max(1, n));
}

export function tensorByteSize(name: string, dims: readonly number[], type: GgmlTypeInfo): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new LowbitError(`tensor '${name}': invalid dimension ${d}`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new LowbitError(`tensor '${name}': too many elements`);
  }
  const rowLength = dims[0] ?? 1;
  if (rowLength % type.blockSize !== 0) {
    throw new LowbitError(
      `tensor '${name}': rows of ${rowLength} elements are not a multiple of ${type.ggmlName}'s block size ${type.blockSize}`,
    );
  }
  return (n / type.blockSize) * type.typeSize;
}

export class GgufWriter {
  private current = 0;
  private writtenInCurrent = 0;
  private finished = false;

  private constructor(
    private readonly sink: ByteSink,
    private readonly plan: readonly PlannedTensor[],
    readonly alignment: number,
    /** absolute offset of the data section */
    readonly dataOffset: number,
  ) {}

  static async begin(sink: ByteSink, options: GgufWriteOptions): Promise<GgufWriter> {
    const metadata = options.metadata instanceof Map ? options.metadata : new Map(options.metadata);
    const version = options.version ?? GGUF_VERSION;
    if (version !== 2 && version !== 3) throw new LowbitError(`cannot write GGUF version ${version}`);
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    const al = metadata.get(GGUF_KEY_ALIGNMENT);
    if (al !== undefined) {
      if (al.type !== 'u32') throw new LowbitError(`${GGUF_KEY_ALIGNMENT} must be u32`);
      alignment = al.value as number;
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0)
        throw new LowbitError(`${GGUF_KEY_ALIGNMENT} ${alignment} is not a power of 2`);
    }

    const e = new Encoder();
    e.bytes(GGUF_MAGIC_BYTES);
    e.u32(version);
    e.u64(BigInt(options.tensors.length));
    e.u64(BigInt(metadata.size));
    for (const [key, value] of metadata) {
      if (key.length === 0) throw new LowbitError('GGUF metadata key is empty');
      checkValue(key, value);
      e.string(key);
      e.u32(GGUF_TYPE[value.type]);
      e.value(value);
    }

    const plan: PlannedTensor[] = [];
    const names = new Set<string>();
    let rel = 0;
    for (const t of options.tensors) {
      const type = typeof t.type === 'number' ? ggmlTypeById(t.type) : t.type;
      if (!type) throw new LowbitError(`tensor '${t.name}': unknown ggml type ${String(t.type)}`);
      if (names.has(t.name)) throw new LowbitError(`duplicate tensor name '${t.name}'`);
      names.add(t.name);
      if (new TextEncoder().encode(t.name).length >= GGML_MAX_NAME)
        throw new LowbitError(`tensor name '${t.name}' is longer than ${GGML_MAX_NAME - 1} bytes`);
      if (t.dims.length > GGML_MAX_DIMS)
        throw new LowbitError(`tensor '${t.name}' has ${t.dims.length} dimensions (at most ${GGML_MAX_DIMS})`);
      const byteSize = tensorByteSize(t.name, t.dims, type);
      if (t.byteSize !== undefined && t.byteSize !== byteSize) {
        throw new LowbitError(
          `tensor '${t.name}': declared ${t.byteSize} bytes but ${t.dims.join(' x ')} ${type.ggmlName} takes ${byteSize}`,
        );
      }
      e.string(t.name);
      e.u32(t.dims.length);
      for (const d of t.dims) e.u64(BigInt(d));
      e.u32(type.id);
      e.u64(BigInt(rel));
      plan.push({ name: t.name, byteSize, relOffset: rel });
      rel = alignUp(rel + byteSize, alignment);
      if (!Number.isSafeInteger(rel)) throw new LowbitError('GGUF data section too large');
    }
    // ggml pads the header even when there are no tensors
    const dataOffset = alignUp(e.length, alignment);
    e.zeros(dataOffset - e.length);
    if (sink.position !== 0) throw new LowbitError('GGUF writer needs a sink at position 0 (offsets are absolute)');
    const w = new GgufWriter(sink, plan, alignment, dataOffset);
    await e.flush(sink);
    return w;
  }

  /** Absolute offsets and sizes the writer assigned, in declaration order. */
  get layout(): readonly { name: string; offset: number; byteSize: number }[] {
    return this.plan.map((p) => ({ name: p.name, offset: this.dataOffset + p.relOffset, byteSize: p.byteSize }));
  }

  /**
   * Appends bytes of tensor `name`. Tensors are written in declaration order; a tensor is closed
   * (and padded) when the next one starts or at finish(), so zero-byte tensors need no call.
   */
  async writeTensorData(name: string, bytes: Uint8Array): Promise<void> {
    if (this.finished) throw new LowbitError('GGUF writer already finished');
    let t = this.plan[this.current];
    while (t && t.name !== name && this.writtenInCurrent === t.byteSize) t = await this.close();
    if (!t) throw new LowbitError(`tensor '${name}' written after all declared tensors (or twice)`);
    if (t.name !== name) {
      throw new LowbitError(
        `tensor '${name}' written out of order: '${t.name}' has ${this.writtenInCurrent} of ${t.byteSize} bytes`,
      );
    }
    if (this.writtenInCurrent + bytes.length > t.byteSize) {
      throw new LowbitError(
        `tensor '${name}': ${this.writtenInCurrent + bytes.length} bytes written, declared size is ${t.byteSize}`,
      );
    }
    if (bytes.length > 0) await this.sink.write(bytes);
    this.writtenInCurrent += bytes.length;
  }

  /**
   * Appends bytes of several tensors, as one writeTensorData call each would (declaration order,
   * padding between tensors), in one sink write when the sink takes several buffers at once.
   */
  async writeTensors(list: readonly { name: string; bytes: Uint8Array }[]): Promise<void> {
    if (!this.sink.writev) {
      for (const { name, bytes } of list) await this.writeTensorData(name, bytes);
      return;
    }
    if (this.finished) throw new LowbitError('GGUF writer already finished');
    const parts: Uint8Array[] = [];
    // checked and laid out first, as writeTensorData would one by one; written after
    let current = this.current,
      written = this.writtenInCurrent;
    for (const { name, bytes } of list) {
      let t = this.plan[current];
      while (t && t.name !== name && written === t.byteSize) {
        const pad = alignUp(t.byteSize, this.alignment) - t.byteSize;
        if (pad > 0) parts.push(new Uint8Array(pad));
        t = this.plan[++current];
        written = 0;
      }
      if (!t) throw new LowbitError(`tensor '${name}' written after all declared tensors (or twice)`);
      if (t.name !== name)
        throw new LowbitError(
          `tensor '${name}' written out of order: '${t.name}' has ${written} of ${t.byteSize} bytes`,
        );
      if (written + bytes.length > t.byteSize)
        throw new LowbitError(
          `tensor '${name}': ${written + bytes.length} bytes written, declared size is ${t.byteSize}`,
        );
      if (bytes.length > 0) parts.push(bytes);
      written += bytes.length;
    }
    if (parts.length) await this.sink.writev(parts);
    this.current = current;
    this.writtenInCurrent = written;
  }

  /** Pads the complete current tensor and moves to the next. */
  private async close(): Promise<PlannedTensor | undefined> {
    const t = this.plan[this.current]!;
    const pad = alignUp(t.byteSize, this.alignment) - t.byteSize;
    if (pad > 0) await this.sink.write(new Uint8Array(pad));
    this.current++;
    this.writtenInCurrent = 0;
    return this.plan[this.current];
  }

  /** Checks every declared tensor was written in full and writes the last padding. */
  async finish(): Promise<void> {
    if (this.finished) return;
    let t = this.plan[this.current];
    while (t && this.writtenInCurrent === t.byteSize) t = await this.close();
    if (t)
      throw new LowbitError(`GGUF incomplete: tensor '${t.name}' has ${this.writtenInCurrent} of ${t.byteSize} bytes`);
    this.finished = true;
  }
}

const TYPED_ARRAY_BYTES = (items: ArrayBufferView): Uint8Array => {
  const b = new Uint8Array(items.buffer, items.byteOffset, items.byteLength);
  if (LITTLE_ENDIAN_HOST) return b;
  const el = (items as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const out = b.slice();
  for (let i = 0; i < out.length; i += el) out.subarray(i, i + el).reverse();
  return out;
};
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();

/** Growable little-endian byte buffer for the header. */
class Encoder {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const o = this.length;
    this.length += n;
    return o;
  }
  // room() may replace buf/view, so call it before reading them (JS evaluates `this.buf` before the arguments)
  bytes(b: Uint8Array): void {
    const o = this.room(b.length);
    this.buf.set(b, o);
  }
  zeros(n: number): void {
    this.room(n); /* new space is already zero */
  }
  u8(v: number): void {
    const o = this.room(1);
    this.view.setUint8(o, v);
  }
  i8(v: number): void {
    const o = this.room(1);
    this.view.setInt8(o, v);
  }
  u16(v: number): void {
    const o = this.room(2);
    this.view.setUint16(o, v, true);
  }
  i16(v: number): void {
    const o = this.room(2);
    this.view.setInt16(o, v, true);
  }
  u32(v: number): void {
    const o = this.room(4);
    this.view.setUint32(o, v, true);
  }
  i32(v: number): void {
    const o = this.room(4);
    this.view.setInt32(o, v, true);
  }
  f32(v: number): void {
    const o = this.room(4);
    this.view.setFloat32(o, v, true);
  }
  f64(v: number): void {
    const o = this.room(8);
    this.view.setFloat64(o, v, true);
  }
  u64(v: bigint): void {
    const o = this.room(8);
    this.view.setBigUint64(o, v, true);
  }
  i64(v: bigint): void {
    const o = this.room(8);
    this.view.setBigInt64(o, v, true);
  }
  string(s: string): void {
    // UTF-8 straight into the buffer (a vocabulary is hundreds of thousands of strings: no array
    // per string); at most 3 bytes per UTF-16 unit, the length patched in after
    const o = this.room(8 + 3 * s.length);
    const { written } = utf8.encodeInto(s, this.buf.subarray(o + 8));
    this.view.setUint32(o, written, true);
    this.view.setUint32(o + 4, 0, true);
    this.length = o + 8 + written;
  }

  value(v: GgufValue): void {
    switch (v.type) {
      case 'u8':
        this.u8(v.value);
        break;
      case 'i8':
        this.i8(v.value);
        break;
      case 'u16':
        this.u16(v.value);
        break;
      case 'i16':
        this.i16(v.value);
        break;
      case 'u32':
        this.u32(v.value);
        break;
      case 'i32':
        this.i32(v.value);
        break;
      case 'f32':
        this.f32(v.value);
        break;
      case 'f64':
        this.f64(v.value);
        break;
      case 'u64':
        this.u64(v.value);
        break;
      case 'i64':
        this.i64(v.value);
        break;
      case 'bool':
        this.u8(v.value ? 1 : 0);
        break;
      case 'string':
        this.string(v.value);
        break;
      case 'array':
        this.array(v.value);
        break;
    }
  }

  array(a: GgufArray): void {
    this.u32(GGUF_TYPE[a.itemType as GgufTypeName]);
    this.u64(BigInt(a.items.length));
    if (ArrayBuffer.isView(a.items)) {
      this.bytes(TYPED_ARRAY_BYTES(a.items));
      return;
    }
    if (a.itemType === 'bool') for (const x of a.items as boolean[]) this.u8(x ? 1 : 0);
    else if (a.itemType === 'string') for (const s of a.items as string[]) this.string(s);
    else for (const x of a.items as GgufArray[]) this.array(x);
  }

  async flush(sink: ByteSink): Promise<void> {
    // write in slices so a sink never gets one huge buffer
    const CH = 1 << 20;
    for (let o = 0; o < this.length; o += CH) await sink.write(this.buf.subarray(o, Math.min(this.length, o + CH)));
  }
}
