// `lowbit quantize`: a GGUF in, a quantized GGUF out, equal to what llama.cpp's llama_model_quantize
// writes for the same options (types, bytes, metadata, layout). Streams tensor by tensor in slabs of
// rows (at most SLAB_F32_BYTES of float32 at a time, so memory does not grow with the model) and
// quantizes each slab on a worker pool.
import type { ByteSink, ByteSource } from '../io/source.js';
import { readGgufHeader, type GgufFile, type GgufTensorInfo } from '../io/gguf/reader.js';
import { GgufWriter, ggmlNDims } from '../io/gguf/writer.js';
import { codecByTypeId } from '../formats/registry.js';
import { LowbitError } from '../errors.js';
import { planGguf } from '../plan/from-gguf.js';
import { isQuantizedType } from '../plan/tensor-rules.js';
import { typeName, type PlanOptions, type PlannedTensor, type QuantPlan } from '../plan/plan.js';
import { quantizedMetadata, type ImatrixProvenance } from '../plan/metadata.js';
import { isTokenEmbd } from '../plan/tensor-rules.js';
import { firstInvalid } from './validate.js';
import { RowWorkerPool, defaultThreads } from './workers.js';

/** Float32 scratch per slab; source and destination bytes come on top (at most as much again). */
export const SLAB_F32_BYTES = 64 << 20;

export interface ImatrixInput {
  /** tensor name -> importances (nPerRow per expert), already divided by counts */
  data: Map<string, Float32Array>;
  provenance: ImatrixProvenance;
}

export interface QuantizeOptions extends Omit<PlanOptions, 'hasImatrix'> {
  allowRequantize?: boolean;
  allowNonfinite?: boolean;
  imatrix?: ImatrixInput;
  threads?: number;
  /** per slab: bytes of source tensors done so far, of all */
  onProgress?: (done: number, total: number, tensor: string) => void;
  /** limit for float32 scratch (tests use small values to exercise slabbing) */
  slabF32Bytes?: number;
  /** slabs of fewer elements run on the main thread (tests use 0 to exercise the workers) */
  parallelMinElements?: number;
}

export interface QuantizeSummary {
  plan: QuantPlan;
  tensors: number;
  converted: number;
  inputBytes: number;
  outputBytes: number;
  nElements: number;
  bitsPerWeight: number;
  seconds: number;
  threads: number;
  imatrixUsed: number;
}

/** Reads the header and plans; checks everything that can be checked before writing anything. */
export async function prepareQuantize(src: ByteSource, opts: QuantizeOptions): Promise<{ file: GgufFile; plan: QuantPlan }> {
  const file = await readGgufHeader(src);
  const hasImatrix = !!opts.imatrix && opts.imatrix.data.size > 0;
  const plan = planGguf(file, { ...opts, hasImatrix });
  return { file, plan };
}

/** The exact size of the file a run would write: the real header plus aligned tensor data. */
export async function predictOutputBytes(file: GgufFile, plan: QuantPlan, opts: QuantizeOptions): Promise<number> {
  const sink = { position: 0, async write(b: Uint8Array) { this.position += b.length; } };
  const metadata = quantizedMetadata(file.metadata, plan.fileType.id, opts.imatrix && opts.imatrix.data.size > 0 ? opts.imatrix.provenance : undefined);
  const w = await GgufWriter.begin(sink, { metadata, tensors: plan.tensors.map((t) => ({ name: t.name, dims: ggmlNDims(t.shape), type: t.dstType })) });
  const last = w.layout[w.layout.length - 1];
  return last ? last.offset + Math.ceil(last.byteSize / w.alignment) * w.alignment : w.dataOffset;
}

/** Problems that stop a real run (not a dry run), in llama.cpp's order of checks. */
export function checkRunnable(file: GgufFile, plan: QuantPlan, opts: QuantizeOptions): void {
  const hasImatrix = !!opts.imatrix && opts.imatrix.data.size > 0;
  if (opts.imatrix) {
    for (const [name, v] of opts.imatrix.data) {
      const i = v.findIndex((x) => !Number.isFinite(x));
      if (i >= 0) throw new LowbitError(`imatrix contains non-finite value ${v[i]} (entry ${name}, index ${i})`);
    }
  }
  for (const t of plan.tensors) {
    if (!hasImatrix && t.quantizable && t.requiresImatrix) {
      throw new LowbitError(`this quantization requires an importance matrix (--imatrix): tensor ${t.name} would be ${typeName(t.dstType)}`);
    }
  }
  const info = new Map(file.tensors.map((t) => [t.name, t]));
  for (const t of plan.tensors) {
    if (!t.convert) continue;
    const ti = info.get(t.name)!;
    const im = imatrixFor(t, ti, opts);
    if (!im && t.requiresImatrix) throw new LowbitError(`Missing importance matrix for tensor ${t.name} in a very low-bit quantization`);
    if (isQuantizedType(t.srcType) && !opts.allowRequantize) {
      throw new LowbitError(`requantizing from type ${typeName(t.srcType)} is disabled (tensor ${t.name}; --allow-requantize to allow it)`);
    }
    if (!codecByTypeId(t.srcType)) throw new LowbitError(`tensor ${t.name}: lowbit cannot read ${typeName(t.srcType)} yet`);
    if (!codecByTypeId(t.dstType)) throw new LowbitError(`tensor ${t.name}: lowbit cannot quantize to ${typeName(t.dstType)} yet (planned: ${t.reason})`);
  }
}

/** The imatrix entry llama.cpp would use for a tensor, or null; throws on a size mismatch as it does. */
function imatrixFor(t: PlannedTensor, ti: GgufTensorInfo, opts: QuantizeOptions): Float32Array | null {
  const v = opts.imatrix?.data.get(t.name);
  if (!v) return null;
  const want = (ti.dims[0] ?? 1) * (ti.dims[2] ?? 1);
  if (v.length === want) return v;
  // llama.cpp ignores a mismatched token_embd entry (it always mismatches) and refuses any other
  if (isTokenEmbd(t.name)) return null;
  throw new LowbitError(`imatrix size ${v.length} is different from tensor size ${want} for ${t.name}`);
}

/** Quantizes `src` into `sink` (at position 0). The caller owns opening and committing the output. */
export async function quantizeGguf(src: ByteSource, sink: ByteSink, opts: QuantizeOptions): Promise<QuantizeSummary> {
  const t0 = performance.now();
  const { file, plan } = await prepareQuantize(src, opts);
  checkRunnable(file, plan, opts);
  const info = new Map(file.tensors.map((t) => [t.name, t]));
  const metadata = quantizedMetadata(file.metadata, plan.fileType.id, opts.imatrix && opts.imatrix.data.size > 0 ? opts.imatrix.provenance : undefined);
  const writer = await GgufWriter.begin(sink, {
    metadata,
    // ggml writes ggml_n_dims dims (trailing 1s dropped)
    tensors: plan.tensors.map((t) => ({ name: t.name, dims: ggmlNDims(t.shape), type: t.dstType })),
  });

  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const pool = new RowWorkerPool(threads, opts.parallelMinElements);
  const slabF32 = opts.slabF32Bytes ?? SLAB_F32_BYTES;
  const total = plan.srcBytes;
  let done = 0;
  let converted = 0;
  let imatrixUsed = 0;
  try {
    for (const t of plan.tensors) {
      const ti = info.get(t.name)!;
      if (t.dstBytes === 0) {
        await writer.writeTensorData(t.name, new Uint8Array(0)); // an empty tensor: nothing to read or convert
      } else if (!t.convert) {
        await copyTensor(src, writer, ti, !opts.allowNonfinite, slabF32);
      } else {
        const im = imatrixFor(t, ti, opts);
        if (im) imatrixUsed++;
        await convertTensor(src, writer, pool, t, ti, im, !opts.allowNonfinite, slabF32, (d) => opts.onProgress?.(done + d, total, t.name));
        converted++;
      }
      done += t.srcBytes;
      opts.onProgress?.(done, total, t.name);
    }
    await writer.finish();
  } finally {
    await pool.close();
  }
  const outputBytes = sink.position;
  return {
    plan, tensors: plan.tensors.length, converted, inputBytes: src.size, outputBytes, nElements: plan.nElements,
    bitsPerWeight: plan.nElements ? (plan.dstBytes * 8) / plan.nElements : 0, seconds: (performance.now() - t0) / 1000, threads, imatrixUsed,
  };
}

function nonFiniteError(name: string, index: number, dims: readonly number[]): LowbitError {
  const n0 = dims[0] ?? 1;
  return new LowbitError(`tensor ${name} has a NaN or infinite value at element ${index} (row ${Math.floor(index / n0)}, column ${index % n0}); --allow-nonfinite to quantize anyway`);
}

/** Same type in and out: bytes copied in slabs of whole rows, validated as llama.cpp's loader does. */
async function copyTensor(src: ByteSource, writer: GgufWriter, t: GgufTensorInfo, check: boolean, slabBytes: number): Promise<void> {
  const rowBytes = Math.max(1, t.rowBytes);
  const step = Math.max(rowBytes, Math.floor(slabBytes / rowBytes) * rowBytes);
  for (let off = 0; off < t.byteSize; off += step) {
    const bytes = await src.read(t.offset + off, Math.min(step, t.byteSize - off));
    if (check) {
      const bad = firstInvalid(t.type.id, bytes);
      if (bad >= 0) {
        // bad counts values (float types) or blocks
        const index = (off / t.type.typeSize + bad) * t.type.blockSize;
        throw nonFiniteError(t.name, index, t.dims);
      }
    }
    await writer.writeTensorData(t.name, bytes);
  }
}

async function convertTensor(src: ByteSource, writer: GgufWriter, pool: RowWorkerPool, p: PlannedTensor, t: GgufTensorInfo,
  imatrix: Float32Array | null, check: boolean, slabF32: number, progress: (doneBytes: number) => void): Promise<void> {
  const n = t.rowLength;
  const nRows = t.nRows;
  const srcCodec = codecByTypeId(p.srcType)!;
  const dstCodec = codecByTypeId(p.dstType)!;
  const srcRowBytes = (n / srcCodec.type.blockSize) * srcCodec.type.typeSize;
  const dstRowBytes = (n / dstCodec.type.blockSize) * dstCodec.type.typeSize;
  const slabRows = Math.max(1, Math.min(nRows, Math.floor(slabF32 / (n * 4))));
  // one set of buffers per tensor, reused for every slab
  const buffers = {
    src: new Uint8Array(pool.alloc(slabRows * srcRowBytes)),
    f32: new Float32Array(pool.alloc(slabRows * n * 4)),
    dst: new Uint8Array(pool.alloc(slabRows * dstRowBytes)),
    imatrix: imatrix ? new Float32Array(pool.alloc(imatrix.byteLength)) : null,
  };
  if (imatrix && buffers.imatrix) buffers.imatrix.set(imatrix);
  const rowsPerExpert = Math.max(1, t.dims[1] ?? 1);
  for (let r0 = 0; r0 < nRows; r0 += slabRows) {
    const rows = Math.min(slabRows, nRows - r0);
    buffers.src.set(await src.read(t.offset + r0 * srcRowBytes, rows * srcRowBytes));
    const result = await pool.run({
      srcType: p.srcType, dstType: p.dstType, nPerRow: n, slabFirstRow: r0, rowsPerExpert, checkInput: check,
    }, rows, buffers);
    if (!result.ok) {
      if (result.kind === 'input') throw nonFiniteError(p.name, result.index, t.dims);
      if (result.kind === 'output') throw new LowbitError(`quantized data validation failed: tensor ${p.name} row ${result.row} has non-finite ${typeName(p.dstType)} scales`);
      throw new LowbitError(`tensor ${p.name}: ${result.message}`);
    }
    await writer.writeTensorData(p.name, buffers.dst.subarray(0, rows * dstRowBytes));
    progress((r0 + rows) * srcRowBytes);
  }
}
