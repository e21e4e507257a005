// A converted model presented as the F32 GGUF `lowbit convert --type F32` would write, without
// writing it: the header is synthesized by the GGUF writer, and tensor bytes are produced on demand
// for any (offset, length) by reading just the rows they cover from the checkpoint (with the
// converter's transforms applied). The quantize pipeline reads it like a file, so convert +
// quantize is one streaming pass with bounded memory, and its output is by construction the same
// as quantizing the F32 file. Browser-safe.
import { LowbitError } from '../errors.js';
import { BufferSink, checkRange, type ByteSource } from '../io/source.js';
import { GgufWriter, ggmlNDims } from '../io/gguf/writer.js';
import { gv } from '../io/gguf/metadata.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { FILE_TYPE, type ConvertedModel, type TensorSpec } from './model.js';
import { rawTypeOf } from './write-gguf.js';

interface Placed {
  spec: TensorSpec;
  /** absolute offset of the tensor's first byte */
  offset: number;
  byteSize: number;
  rowBytes: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f32Bytes(v: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) dv.setFloat32(i * 4, v[i]!, true);
  return out;
}

export class VirtualGgufSource implements ByteSource {
  /** tensor read whole (no readRows), kept while reads stay inside it */
  private cached: { spec: TensorSpec; values: Float32Array } | null = null;

  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly header: Uint8Array,
    private readonly tensors: readonly Placed[],
  ) {}

  /** Builds the header (tensors F32 unless kept raw, general.file_type as the F32 output has it) and the data layout. */
  static async create(model: ConvertedModel, name = '<converted model>'): Promise<VirtualGgufSource> {
    const metadata = new Map(model.metadata);
    metadata.set('general.file_type', gv.u32(model.floatFileType ?? FILE_TYPE.F32!));
    const sink = new BufferSink();
    const w = await GgufWriter.begin(sink, {
      metadata,
      tensors: model.tensors.map((t) => ({
        name: t.name,
        dims: ggmlNDims(t.shape),
        type: t.raw ? t.raw.type : GGML_TYPE.F32,
      })),
    });
    const rowBytes = (t: TensorSpec) => {
      if (!t.raw) return t.shape[0]! * 4;
      const ty = rawTypeOf(t.raw.type);
      return (t.shape[0]! / ty.blockSize) * ty.typeSize;
    };
    const placed = w.layout.map((l, i): Placed => ({
      spec: model.tensors[i]!,
      offset: l.offset,
      byteSize: l.byteSize,
      rowBytes: rowBytes(model.tensors[i]!),
    }));
    const last = placed[placed.length - 1];
    const size = last ? last.offset + Math.ceil(last.byteSize / w.alignment) * w.alignment : w.dataOffset;
    return new VirtualGgufSource(name, size, sink.bytes(), placed);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const out = new Uint8Array(length); // padding between tensors stays zero
    const end = offset + length;
    if (offset < this.header.length) out.set(this.header.subarray(offset, Math.min(end, this.header.length)));
    for (const t of this.tensors) {
      const s = Math.max(offset, t.offset),
        e = Math.min(end, t.offset + t.byteSize);
      if (s >= e) continue;
      // whole rows covering [s, e) of this tensor
      const r0 = Math.floor((s - t.offset) / t.rowBytes),
        r1 = Math.ceil((e - t.offset) / t.rowBytes);
      const bytes = t.spec.raw ? await t.spec.raw.readRows(r0, r1 - r0) : f32Bytes(await this.rows(t, r0, r1 - r0));
      const from = s - t.offset - r0 * t.rowBytes;
      out.set(bytes.subarray(from, from + (e - s)), s - offset);
    }
    return out;
  }

  private async rows(t: Placed, first: number, count: number): Promise<Float32Array> {
    const n = t.spec.shape[0]!;
    if (t.spec.readRows) {
      const v = await t.spec.readRows(first, count);
      if (v.length !== count * n)
        throw new LowbitError(`tensor ${t.spec.name}: reader gave ${v.length} values for ${count} rows of ${n}`);
      return v;
    }
    if (this.cached?.spec !== t.spec) {
      const values = await t.spec.read();
      if (values.length * 4 !== t.byteSize)
        throw new LowbitError(`tensor ${t.spec.name}: reader gave ${values.length} values for shape [${t.spec.shape}]`);
      this.cached = { spec: t.spec, values };
    }
    return this.cached.values.subarray(first * n, (first + count) * n);
  }

  async close(): Promise<void> {
    this.cached = null;
  }
}
