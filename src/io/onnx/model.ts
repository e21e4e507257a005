// Reading and writing ONNX ModelProto. Decoding keeps unknown (newer) fields, so everything lowbit
// does not touch round-trips unchanged. External data (tensors in side files) is loaded through a
// resolver and written to one side file; both directions check sizes and offsets before trusting them.
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileFormatError, LowbitError } from '../../errors.js';
import type { ByteSink, ByteSource } from '../source.js';
import {
  ModelProtoSchema,
  TensorProto_DataLocation,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from './proto/onnx_pb.js';
import { isExternal, rawByteLength } from './tensor.js';

/** protobuf messages cannot exceed 2 GiB; above this, weights must go to external data */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export function decodeModel(bytes: Uint8Array, name = '<onnx>'): ModelProto {
  let m: ModelProto;
  try {
    m = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    throw new FileFormatError(name, `not an ONNX model (${(e as Error).message})`);
  }
  if (!m.graph) throw new FileFormatError(name, 'not an ONNX model: it has no graph');
  if (m.irVersion === 0n && m.opsetImport.length === 0)
    throw new FileFormatError(name, 'not an ONNX model: no ir_version or opset_import');
  return m;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model, { writeUnknownFields: true });
}

/** Reads a whole .onnx file (without its external data). */
export async function readModel(src: ByteSource): Promise<ModelProto> {
  if (src.size > PROTOBUF_LIMIT)
    throw new FileFormatError(src.name, `${src.size} bytes is over protobuf's 2 GiB limit for one ONNX file`);
  return decodeModel(await src.read(0, src.size), src.name);
}

/** Every tensor a model holds: initializers, Constant/attribute tensors, sparse parts, in subgraphs and functions too. */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  if (model.graph) yield* graphTensors(model.graph);
  for (const f of model.functions) for (const n of f.node) for (const a of n.attribute) yield* attrTensors(a);
  for (const ti of model.trainingInfo) {
    if (ti.initialization) yield* graphTensors(ti.initialization);
    if (ti.algorithm) yield* graphTensors(ti.algorithm);
  }
}

export function* graphTensors(g: GraphProto): Generator<TensorProto> {
  yield* g.initializer;
  for (const s of g.sparseInitializer) {
    if (s.values) yield s.values;
    if (s.indices) yield s.indices;
  }
  for (const n of g.node) for (const a of n.attribute) yield* attrTensors(a);
}

function* attrTensors(a: import('./proto/onnx_pb.js').AttributeProto): Generator<TensorProto> {
  if (a.t) yield a.t;
  yield* a.tensors;
  if (a.g) yield* graphTensors(a.g);
  for (const g of a.graphs) yield* graphTensors(g);
  if (a.sparseTensor) {
    if (a.sparseTensor.values) yield a.sparseTensor.values;
    if (a.sparseTensor.indices) yield a.sparseTensor.indices;
  }
}

export interface ExternalInfo {
  location: string;
  offset: number;
  length: number | undefined;
}

export function externalInfo(t: TensorProto, file = t.name): ExternalInfo {
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new FileFormatError(file, `tensor ${t.name}: external data without a location`);
  const num = (k: string): number | undefined => {
    const v = kv.get(k);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new FileFormatError(file, `tensor ${t.name}: external ${k} "${v}" is not a byte count`);
    return Number(v);
  };
  return { location, offset: num('offset') ?? 0, length: num('length') };
}

/** A side file's location must stay inside the model's folder: no absolute paths, no "..". */
export function checkLocation(location: string, file: string): void {
  if (
    location.startsWith('/') ||
    location.startsWith('\\') ||
    /^[a-zA-Z]:/.test(location) ||
    location.split(/[\\/]/).includes('..')
  ) {
    throw new FileFormatError(file, `external data location "${location}" points outside the model's folder`);
  }
}

/**
 * Loads every external tensor into raw_data (and marks it DEFAULT), so the model is self-contained in
 * memory. `open` returns the side file for a location (relative to the model's folder); sources are
 * opened once and closed at the end.
 */
export async function loadExternalData(
  model: ModelProto,
  open: (location: string) => Promise<ByteSource>,
  file = '<onnx>',
): Promise<number> {
  const sources = new Map<string, ByteSource>();
  let loaded = 0;
  try {
    for (const t of allTensors(model)) {
      if (!isExternal(t)) continue;
      const info = externalInfo(t, file);
      checkLocation(info.location, file);
      let src = sources.get(info.location);
      if (!src) {
        src = await open(info.location);
        sources.set(info.location, src);
      }
      const need = rawByteLength(t);
      const length = info.length ?? need;
      if (length !== need)
        throw new FileFormatError(file, `tensor ${t.name}: external length ${length} but its dims need ${need} bytes`);
      if (info.offset + length > src.size)
        throw new FileFormatError(
          src.name,
          `tensor ${t.name} at ${info.offset}+${length} runs past the end (${src.size} bytes)`,
        );
      t.rawData = await src.read(info.offset, length);
      t.externalData = [];
      t.dataLocation = TensorProto_DataLocation.DEFAULT;
      loaded++;
    }
  } finally {
    for (const s of sources.values()) await s.close();
  }
  return loaded;
}

export interface WriteOptions {
  /** put tensors of at least `threshold` bytes in a side file named `location` (relative to the model) */
  externalData?: { location: string; threshold?: number; align?: number };
}

/**
 * Writes the model; with externalData, large raw tensors go to `dataSink` (the side file) and the model
 * refers to them by offset. Tensors are moved out only for the write: the in-memory model is restored.
 * Without externalData, a model over 2 GiB is an error naming the --external-data fix.
 */
export async function writeModel(
  model: ModelProto,
  sink: ByteSink,
  opts: WriteOptions = {},
  dataSink?: ByteSink,
): Promise<{ modelBytes: number; dataBytes: number }> {
  const ext = opts.externalData;
  if (!ext) {
    const size = estimateSize(model);
    if (size > PROTOBUF_LIMIT)
      throw new LowbitError(
        `the model is ${size} bytes, over protobuf's 2 GiB limit: write it with external data (--external-data)`,
      );
    const bytes = encodeModel(model);
    await sink.write(bytes);
    return { modelBytes: bytes.length, dataBytes: 0 };
  }
  if (!dataSink) throw new LowbitError('external data needs a sink for the side file');
  checkLocation(ext.location, ext.location);
  const threshold = ext.threshold ?? 1024;
  const align = ext.align ?? 4096;
  const moved: { t: TensorProto; raw: Uint8Array }[] = [];
  let dataBytes = 0;
  try {
    for (const t of allTensors(model)) {
      if (isExternal(t) || t.rawData.length < threshold) continue;
      const pad = (align - (dataSink.position % align)) % align;
      if (pad) await dataSink.write(new Uint8Array(pad));
      const offset = dataSink.position;
      await dataSink.write(t.rawData);
      dataBytes = dataSink.position;
      moved.push({ t, raw: t.rawData });
      t.externalData = [
        { key: 'location', value: ext.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.rawData.length) },
      ].map((e) => ({ $typeName: 'onnx.StringStringEntryProto' as const, ...e }));
      t.dataLocation = TensorProto_DataLocation.EXTERNAL;
      t.rawData = new Uint8Array(0);
    }
    const bytes = encodeModel(model);
    await sink.write(bytes);
    return { modelBytes: bytes.length, dataBytes };
  } finally {
    for (const { t, raw } of moved) {
      t.rawData = raw;
      t.externalData = [];
      t.dataLocation = TensorProto_DataLocation.DEFAULT;
    }
  }
}

/** Upper bound of the encoded size dominated by tensor payloads (cheap: no encoding). */
export function estimateSize(model: ModelProto): number {
  let n = 0;
  for (const t of allTensors(model))
    n +=
      t.rawData.length +
      t.floatData.length * 4 +
      t.int32Data.length * 4 +
      t.int64Data.length * 8 +
      t.doubleData.length * 8 +
      t.uint64Data.length * 8 +
      64;
  return n;
}
