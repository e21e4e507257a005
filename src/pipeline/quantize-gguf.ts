// `lowbit quantize`: a GGUF in, a quantized GGUF out, equal to what llama.cpp's llama_model_quantize
// writes for the same options (types, bytes, metadata, layout). Streams tensor by tensor in slabs of
// rows (at most SLAB_F32_BYTES of float32 at a time, so memory does not grow with the model); small
// tensors' slabs go in batches that fill the same buffers; each batch is quantized in one round on
// a thread pool. Reading the next batch and writing the previous one overlap with quantizing the
// current one (three source and three destination buffers, reused for the whole model: no
// allocation per slab); a batch's tensors are written with one writev.
import type { ByteSink, ByteSource } from '../io/source.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { readGgufHeader, type GgufFile, type GgufTensorInfo } from '../io/gguf/reader.js';
import { GgufWriter, ggmlNDims } from '../io/gguf/writer.js';
import { gv, type GgufMetadata } from '../io/gguf/metadata.js';
import { SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT } from '../io/gguf/split.js';
import { codecByTypeId } from '../formats/registry.js';
import { LowbitError } from '../errors.js';
import { planGguf } from '../plan/from-gguf.js';
import { isQuantizedType } from '../plan/tensor-rules.js';
import { typeName, withAssignedTypes, type PlanOptions, type PlannedTensor, type QuantPlan } from '../plan/plan.js';
import type { FileType } from '../plan/file-types.js';
import type { EncoderName } from '../formats/encoder.js';
import { allocateTarget, type MeasureInput, type TargetAllocation, type TargetOptions } from './target.js';
import { quantizedMetadata, type ImatrixProvenance } from '../plan/metadata.js';
import { loaderMetadata, type KvOverride } from '../plan/kv-override.js';
import { pruneLayers } from '../plan/prune.js';
import { isTokenEmbd } from '../plan/tensor-rules.js';
import { firstInvalid } from './validate.js';
import type { SlabBuffers, SlabPart } from './row-job.js';
import { gptqFactorDamped, type SecondMoments } from '../formats/gptq.js';
import { singleThreadExecutor, type ExecutorFactory, type RowExecutor } from './executor.js';

/**
 * Float32 weights per slab. Memory: three source buffers (at most this much each), three
 * destination buffers (less), and a float32 scratch only for non-F32 sources. 32 MiB keeps the
 * peak resident set well under 400 MB whatever the model size, and slabs big enough that per-slab
 * costs vanish.
 */
export const SLAB_F32_BYTES = 32 << 20;

/** Inputs at least this big start the worker threads before their header is even read. */
const EARLY_WORKERS_BYTES = 64 << 20;

export interface ImatrixInput {
  /** tensor name -> importances (nPerRow per expert), already divided by counts */
  data: Map<string, Float32Array>;
  provenance: ImatrixProvenance;
}

export interface QuantizeOptions extends Omit<PlanOptions, 'hasImatrix'> {
  allowRequantize?: boolean;
  allowNonfinite?: boolean;
  imatrix?: ImatrixInput;
  /** llama-quantize --override-kv, in command-line order */
  kvOverrides?: readonly KvOverride[];
  /** llama-quantize --prune-layers: layer numbers to leave out (sorted, unique) */
  pruneLayers?: readonly number[];
  /**
   * --target-size / --target-bpw: every quantizable tensor not fixed by the user's rules gets the
   * type that splits this budget best (src/pipeline/target.ts)
   */
  target?: TargetOptions;
  /**
   * --encoder best: stronger codes and scales in the same formats; gptq: GPTQ's compensation, with
   * `gptq`'s activations (both recorded as quantize.encoder); default ggml's own
   */
  encoder?: EncoderName;
  /** --encoder gptq: each weight tensor's activation second moments Σ x xᵀ (null: quantized without compensation) */
  gptq?: { moments: (tensor: string) => SecondMoments | null | Promise<SecondMoments | null>; damp?: number };
  /** the outcome of the allocation (computed from `target` when absent) */
  assignment?: { types: ReadonlyMap<string, { type: number; reason: string }>; fileType: FileType };
  /** llama-quantize --keep-split: one output per input shard (see outputShards) */
  keepSplit?: boolean;
  /** threads in all, the caller's included (default: the executor's platform's cores) */
  threads?: number;
  /**
   * What runs the slabs (src/pipeline/executor.ts): Node's worker threads (lowbit/node's
   * nodeExecutor, what quantizeGgufFile uses), Web Workers (webWorkerExecutor), or by default
   * the calling thread alone. The output is the same whatever runs it.
   */
  executor?: ExecutorFactory;
  /** stops the run at the next batch (within a fraction of a second); the run rejects with the signal's reason */
  signal?: AbortSignal;
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
  /** tensors with finite values beyond the F16/BF16 range, which were clamped (see row-job.ts), and how many */
  clamped: { tensor: string; count: number }[];
  /** --target-size / --target-bpw: the allocation and what it cost */
  target?: TargetAllocation;
}

/** A source whose GGUF header is parsed already (prepareQuantize uses it instead of reading one). */
export interface ParsedGgufSource extends ByteSource {
  readonly gguf: GgufFile;
}

/** Reads the header and plans; checks everything that can be checked before writing anything. */
export async function prepareQuantize(
  src: ByteSource,
  opts: QuantizeOptions,
): Promise<{ file: GgufFile; plan: QuantPlan }> {
  // a source may come with its header read already (a split model's shards, merged)
  const input = (src as Partial<ParsedGgufSource>).gguf ?? (await readGgufHeader(src));
  const hasImatrix = !!opts.imatrix && opts.imatrix.data.size > 0;
  let file = input;
  let blockCount: number | undefined;
  if (opts.pruneLayers?.length) {
    // the output's tensors: pruned layers left out, the rest renamed (data read under the old names)
    const p = pruneLayers(
      input.tensors.map((t) => t.name),
      opts.pruneLayers,
    );
    const tensors = input.tensors.flatMap((t) => {
      const to = p.rename.get(t.name);
      return to ? [to === t.name ? t : { ...t, name: to, sourceName: t.name }] : [];
    });
    file = { ...input, tensors };
    blockCount = p.blockCount;
  }
  if (opts.keepSplit) {
    // llama.cpp then goes through the tensors by shard and file offset, for the output and the rules
    file = {
      ...file,
      tensors: [...file.tensors].sort((a, b) => (a.shard ?? 0) - (b.shard ?? 0) || a.offset - b.offset),
    };
  }
  // the plan sees the metadata as llama.cpp's loader does, with --override-kv applied
  let plan = planGguf(
    { ...file, metadata: loaderMetadata(file.metadata, opts.kvOverrides ?? []) },
    { ...opts, hasImatrix, givenOrder: !!opts.keepSplit },
  );
  if (opts.assignment) plan = withAssignedTypes(plan, opts.assignment.types, opts.assignment.fileType);
  return { file, plan: blockCount === undefined ? plan : { ...plan, blockCount } };
}

/**
 * --target-size / --target-bpw: measures the free tensors' candidate types on the source and
 * splits the budget (the options then carry the assignment for prepareQuantize).
 */
export async function resolveTarget(
  src: ByteSource,
  opts: QuantizeOptions,
  executor?: RowExecutor,
): Promise<{ opts: QuantizeOptions; allocation?: TargetAllocation }> {
  if (!opts.target || opts.assignment) return { opts };
  const { file, plan } = await prepareQuantize(src, { ...opts, assignment: undefined });
  const hasImatrix = !!opts.imatrix && opts.imatrix.data.size > 0;
  const allocation = await allocateTarget(
    {
      src,
      file,
      plan,
      planFileBytes: await predictOutputBytes(file, plan, opts),
      hasImatrix,
      imatrixFor: (t, ti) => imatrixFor(t, ti, opts),
      executor,
      // measured with ggml's own encoder even under --encoder best (several times faster; best
      // then only lowers each chosen tensor's error further); under --encoder gptq, GPTQ-encoded and
      // judged with the activations' correlations (src/pipeline/target.ts)
      ...(opts.encoder === 'gptq' && opts.gptq ? { gptq: gptqMeasure(opts) } : {}),
    },
    opts.target,
  );
  // a --dry-run of --encoder gptq has no activations (--calibrate runs the model): say what differs
  if (opts.encoder === 'gptq' && !opts.gptq)
    allocation.measure +=
      "; --encoder gptq without activations here: the run with --calibrate measures GPTQ's own encodings and may choose other types";
  const next = { ...opts, assignment: { types: allocation.assignment, fileType: allocation.fileType } };
  // the size is exact: the real header and padding of the file the run writes
  const { file: f2, plan: p2 } = await prepareQuantize(src, next);
  const bytes = await predictOutputBytes(f2, p2, next);
  if (bytes !== allocation.predictedBytes)
    throw new LowbitError(
      `internal: target allocation predicted ${allocation.predictedBytes} bytes, the plan gives ${bytes}`,
      'EINTERNAL',
    );
  if (bytes > allocation.targetBytes)
    throw new LowbitError(
      `internal: target allocation exceeds the target (${bytes} > ${allocation.targetBytes})`,
      'EINTERNAL',
    );
  return { opts: next, allocation };
}

/** quantize.target's value: 'size <bytes>' or 'bpw <bits>' (with ', sensitivity engine' when measured, ', refined' with --refine). */
function targetMetadata(target: QuantizeOptions['target']): string | undefined {
  if (!target) return undefined;
  const what = target.bytes !== undefined ? `size ${target.bytes}` : `bpw ${target.bpw}`;
  return what + (target.sensitivity ? ', sensitivity engine' : '') + (target.refine ? ', refined' : '');
}

/** One output file: its metadata and its tensors, in writing order. */
export interface OutputShard {
  metadata: GgufMetadata;
  tensors: PlannedTensor[];
}

/**
 * The output files. One, normally. With --keep-split, one per input shard that still has tensors
 * (llama.cpp: n_split = the last such shard + 1): the first with all metadata, each ending with
 * split.no, split.count and split.tensors.count (none of them when there is one shard).
 */
export function outputShards(file: GgufFile, plan: QuantPlan, opts: QuantizeOptions): OutputShard[] {
  const metadata = quantizedMetadata(
    file.metadata,
    plan.fileType.id,
    opts.imatrix && opts.imatrix.data.size > 0 ? opts.imatrix.provenance : undefined,
    opts.kvOverrides,
    plan.blockCount,
  );
  // --encoder best: said in the file (llama.cpp ignores the key); the default adds nothing
  if (opts.encoder && opts.encoder !== 'ggml') metadata.set('quantize.encoder', gv.str(opts.encoder));
  // --target-size / --target-bpw: the target, so tools (lowbit report) can tell lowbit's own mixes apart
  const target = targetMetadata(opts.target);
  if (target) metadata.set('quantize.target', gv.str(target));
  if (!opts.keepSplit) return [{ metadata, tensors: plan.tensors }];
  const shardOf = new Map(file.tensors.map((t) => [t.name, t.shard ?? 0]));
  const shards: OutputShard[] = [];
  for (const t of plan.tensors) {
    const i = shardOf.get(t.name) ?? 0;
    while (shards.length <= i) shards.push({ metadata: shards.length ? new Map() : metadata, tensors: [] });
    shards[i]!.tensors.push(t);
  }
  if (!shards.length) shards.push({ metadata, tensors: [] });
  const empty = shards.findIndex((s) => s.tensors.length === 0);
  if (shards.length > 1 && empty >= 0)
    throw new LowbitError(
      `--keep-split: input shard ${empty + 1} has no tensor left to write (llama.cpp cannot write such a split either)`,
      'EUSAGE',
    );
  if (shards.length > 1) {
    shards.forEach((s, i) => {
      for (const [k, v] of [
        [SPLIT_NO, gv.u16(i)],
        [SPLIT_COUNT, gv.u16(shards.length)],
        [SPLIT_TENSORS_COUNT, gv.i32(plan.tensors.length)],
      ] as const) {
        s.metadata.delete(k);
        s.metadata.set(k, v);
      }
    });
  }
  return shards;
}

/** The exact size of the file a run would write (all files, with --keep-split): real headers plus aligned tensor data. */
export async function predictOutputBytes(file: GgufFile, plan: QuantPlan, opts: QuantizeOptions): Promise<number> {
  let total = 0;
  for (const shard of outputShards(file, plan, opts)) {
    const sink = {
      position: 0,
      async write(b: Uint8Array) {
        this.position += b.length;
      },
    };
    const w = await GgufWriter.begin(sink, {
      metadata: shard.metadata,
      tensors: shard.tensors.map((t) => ({ name: t.name, dims: ggmlNDims(t.shape), type: t.dstType })),
    });
    const last = w.layout[w.layout.length - 1];
    total += last ? last.offset + Math.ceil(last.byteSize / w.alignment) * w.alignment : w.dataOffset;
  }
  return total;
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
      throw new LowbitError(
        `this quantization requires an importance matrix (--imatrix): tensor ${t.name} would be ${typeName(t.dstType)}`,
      );
    }
  }
  const info = new Map(file.tensors.map((t) => [t.name, t]));
  for (const t of plan.tensors) {
    if (!t.convert) continue;
    const ti = info.get(t.name)!;
    const im = imatrixFor(t, ti, opts);
    if (!im && t.requiresImatrix)
      throw new LowbitError(`Missing importance matrix for tensor ${t.name} in a very low-bit quantization`);
    if (isQuantizedType(t.srcType) && !opts.allowRequantize) {
      throw new LowbitError(
        `requantizing from type ${typeName(t.srcType)} is disabled (tensor ${t.name}; --allow-requantize to allow it)`,
      );
    }
    if (!codecByTypeId(t.srcType))
      throw new LowbitError(`tensor ${t.name}: lowbit cannot read ${typeName(t.srcType)} yet`);
    if (!codecByTypeId(t.dstType))
      throw new LowbitError(
        `tensor ${t.name}: lowbit cannot quantize to ${typeName(t.dstType)} yet (planned: ${t.reason})`,
      );
  }
}

/** The imatrix entry llama.cpp would use for a tensor, or null; throws on a size mismatch as it does. */
function imatrixFor(t: PlannedTensor, ti: GgufTensorInfo, opts: QuantizeOptions): Float32Array | null {
  // under the input's name (llama.cpp's remap_imatrix undoes --prune-layers' renumbering)
  const v = opts.imatrix?.data.get(ti.sourceName ?? t.name);
  if (!v) return null;
  const want = (ti.dims[0] ?? 1) * (ti.dims[2] ?? 1);
  if (v.length === want) return v;
  // llama.cpp ignores a mismatched token_embd entry (it always mismatches) and refuses any other
  if (isTokenEmbd(t.name)) return null;
  throw new LowbitError(`imatrix size ${v.length} is different from tensor size ${want} for ${t.name}`);
}

export const GPTQ_NEEDS_ACTIVATIONS =
  "--encoder gptq needs the activations' correlations, which a calibration run measures: add --calibrate [TEXT]";

/**
 * --encoder gptq: the tensor's GPTQ factor U (src/formats/gptq.ts) in memory the workers share, or
 * null: another encoder, a float or same-type destination, no activations for it (token_embd,
 * expert tensors, output.weight without --process-output), or H not positive definite.
 */
async function gptqBuffer(
  t: PlannedTensor,
  ti: GgufTensorInfo,
  opts: QuantizeOptions,
  pool: RowExecutor,
): Promise<Float64Array | null> {
  if (opts.encoder !== 'gptq' || !opts.gptq) return null;
  const codec = codecByTypeId(t.dstType);
  if (!codec || codec.type.blockSize <= 1 || t.dstType === t.srcType) return null;
  const m = await opts.gptq.moments(ti.sourceName ?? t.name);
  if (!m || m.d !== ti.rowLength || m.rows === 0) return null;
  const u = cachedFactor(opts.gptq, m)?.u;
  if (!u) return null;
  const buf = new Float64Array(pool.alloc(u.byteLength));
  buf.set(u);
  return buf;
}

/**
 * GPTQ factors per run (the options' gptq object) and moments object: q/k/v and gate/up share one
 * input's moments (the same object), so their factor is made once, and the target search and the
 * quantizer reuse it. Weak on the moments: a factor lives as long as its layer group's matrices (the
 * calibration sizes the groups for both: src/cli/calibrate.ts).
 */
const factorCaches = new WeakMap<object, WeakMap<SecondMoments, { u: Float64Array; lambda: number } | null>>();

function cachedFactor(
  g: NonNullable<QuantizeOptions['gptq']>,
  m: SecondMoments,
): { u: Float64Array; lambda: number } | null {
  let c = factorCaches.get(g);
  if (!c) factorCaches.set(g, (c = new WeakMap()));
  if (!c.has(m)) c.set(m, gptqFactorDamped(m, g.damp));
  return c.get(m)!;
}

/** --target-size with --encoder gptq: a tensor's moments and factor for the search (as gptqBuffer finds them). */
function gptqMeasure(opts: QuantizeOptions): NonNullable<MeasureInput['gptq']> {
  return async (t, ti) => {
    const m = await opts.gptq!.moments(ti.sourceName ?? t.name);
    if (!m || m.d !== ti.rowLength || m.rows === 0) return null;
    const f = cachedFactor(opts.gptq!, m);
    return f ? { moments: m, ...f } : null;
  };
}

/** A source that reads into the caller's buffer (files: no allocation per slab). */
export interface ReadIntoSource extends ByteSource {
  readInto(offset: number, dst: Uint8Array): Promise<void>;
}

function readInto(src: ByteSource, offset: number, dst: Uint8Array): Promise<void> {
  if ('readInto' in src && typeof (src as ReadIntoSource).readInto === 'function')
    return (src as ReadIntoSource).readInto(offset, dst);
  return src.read(offset, dst.length).then((b) => dst.set(b));
}

/** One step of the run: a slab of one tensor's rows (or bytes, for copies), or an empty tensor. */
interface Step {
  t: PlannedTensor;
  ti: GgufTensorInfo;
  kind: 'empty' | 'copy' | 'convert';
  /** source byte range */
  srcOffset: number;
  srcBytes: number;
  /** convert: rows of the slab and the first one's index in the tensor; copy: byte offset in the tensor */
  firstRow: number;
  rows: number;
  dstBytes: number;
  /** source bytes of the tensor done after this step (progress) */
  doneAfter: number;
}

function stepsOf(plan: QuantPlan, info: Map<string, GgufTensorInfo>, slabF32: number): Step[] {
  const steps: Step[] = [];
  for (const t of plan.tensors) {
    const ti = info.get(t.name)!;
    if (t.dstBytes === 0) {
      steps.push({
        t,
        ti,
        kind: 'empty',
        srcOffset: 0,
        srcBytes: 0,
        firstRow: 0,
        rows: 0,
        dstBytes: 0,
        doneAfter: t.srcBytes,
      });
    } else if (!t.convert) {
      // same type in and out: bytes copied in slabs of whole rows (llama.cpp's slabs, validated alike)
      const rowBytes = Math.max(1, ti.rowBytes);
      const step = Math.max(rowBytes, Math.floor(slabF32 / rowBytes) * rowBytes);
      for (let off = 0; off < ti.byteSize; off += step) {
        const n = Math.min(step, ti.byteSize - off);
        steps.push({
          t,
          ti,
          kind: 'copy',
          srcOffset: ti.offset + off,
          srcBytes: n,
          firstRow: off,
          rows: 0,
          dstBytes: n,
          doneAfter: off + n,
        });
      }
    } else {
      const n = ti.rowLength;
      const srcRowBytes = rowBytesOf(t.srcType, n);
      const dstRowBytes = rowBytesOf(t.dstType, n);
      const slabRows = Math.max(1, Math.min(ti.nRows, Math.floor(slabF32 / (n * 4))));
      for (let r0 = 0; r0 < ti.nRows; r0 += slabRows) {
        const rows = Math.min(slabRows, ti.nRows - r0);
        steps.push({
          t,
          ti,
          kind: 'convert',
          srcOffset: ti.offset + r0 * srcRowBytes,
          srcBytes: rows * srcRowBytes,
          firstRow: r0,
          rows,
          dstBytes: rows * dstRowBytes,
          doneAfter: (r0 + rows) * srcRowBytes,
        });
      }
    }
  }
  return steps;
}

/**
 * Steps done together: consecutive steps (in the output's order, which is not the input file's)
 * whose source bytes fit the source buffer side by side are read at once (one read each, in
 * parallel), quantized in one round on the pool and written in order. A model of many small
 * tensors then costs one worker round trip per few tensors, not per tensor. A batch never needs
 * bigger buffers than the largest single step does.
 */
interface Batch {
  steps: Step[];
  /** bytes of the source buffer used */
  srcBytes: number;
  /** per step: where its source bytes go in the source buffer, its output in the output buffer, its float32 scratch (elements) */
  srcAt: number[];
  dstAt: number[];
  f32At: number[];
}

/** Steps per batch at most (one message to the workers lists them all). */
const BATCH_MAX_STEPS = 64;
/** Offsets of a batch's steps in its buffers are rounded up to this (typed-array views, wasm windows). */
const BATCH_ALIGN = 64;
const alignUp = (n: number) => Math.ceil(n / BATCH_ALIGN) * BATCH_ALIGN;

/** caps: the buffers' sizes (source and output bytes, float32 scratch elements) */
function batchesOf(steps: Step[], caps: { src: number; dst: number; f32: number }): Batch[] {
  const batches: Batch[] = [];
  let b: Batch | null = null;
  let dstEnd = 0,
    f32End = 0;
  for (const s of steps) {
    const f32Need = s.kind === 'convert' && s.t.srcType !== GGML_TYPE.F32 ? s.rows * s.ti.rowLength : 0;
    const dstNeed = s.kind === 'convert' ? s.dstBytes : 0;
    if (
      !b ||
      b.steps.length >= BATCH_MAX_STEPS ||
      alignUp(b.srcBytes) + s.srcBytes > caps.src ||
      alignUp(dstEnd) + dstNeed > caps.dst ||
      f32End + f32Need > caps.f32
    ) {
      b = { steps: [], srcBytes: 0, srcAt: [], dstAt: [], f32At: [] };
      batches.push(b);
      dstEnd = 0;
      f32End = 0;
    }
    const at = alignUp(b.srcBytes);
    b.steps.push(s);
    b.srcAt.push(at);
    b.dstAt.push(alignUp(dstEnd));
    b.f32At.push(f32End);
    if (s.srcBytes > 0) b.srcBytes = at + s.srcBytes;
    dstEnd = alignUp(dstEnd) + dstNeed;
    f32End += f32Need;
  }
  return batches;
}

/** Rows and elements a batch converts (what decides whether the workers share it). */
function convertShape(b: Batch): [number, number] {
  let rows = 0,
    elements = 0;
  for (const s of b.steps)
    if (s.kind === 'convert') {
      rows += s.rows;
      elements += s.rows * s.ti.rowLength;
    }
  return [rows, elements];
}

function rowBytesOf(type: number, n: number): number {
  const c = codecByTypeId(type)!;
  return (n / c.type.blockSize) * c.type.typeSize;
}

/**
 * Quantizes `src` into `sink` (at position 0), or with --keep-split into one sink per output file
 * (outputShards). The caller owns opening and committing the outputs.
 */
export async function quantizeGguf(
  src: ByteSource,
  sink: ByteSink | readonly ByteSink[],
  opts: QuantizeOptions,
): Promise<QuantizeSummary> {
  const t0 = performance.now();
  const sinks = Array.isArray(sink) ? (sink as readonly ByteSink[]) : [sink as ByteSink];
  opts.signal?.throwIfAborted();
  if (opts.encoder === 'gptq' && !opts.gptq) throw new LowbitError(GPTQ_NEEDS_ACTIVATIONS, 'EUSAGE');
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const pool = (opts.executor ?? singleThreadExecutor)(
    Math.max(1, Math.floor(opts.threads ?? cores)),
    opts.parallelMinElements,
  );
  const threads = pool.threads;
  // a big input will need the workers: they boot (a tenth of a second) while the header is read and
  // planned; otherwise they start once a slab big enough to share comes
  if (src.size >= EARLY_WORKERS_BYTES) pool.start();
  const quiet = <T>(p: Promise<T>) => {
    p.catch(() => {});
    return p;
  };
  const readBatch = (b: Batch | undefined, buf: Uint8Array) =>
    !b || b.srcBytes === 0
      ? null
      : quiet(
          Promise.all(
            b.steps.map((s, i) =>
              s.srcBytes > 0 ? readInto(src, s.srcOffset, buf.subarray(b.srcAt[i]!, b.srcAt[i]! + s.srcBytes)) : null,
            ),
          ).then(() => {}),
        );
  let reading: Promise<void> | null = null;
  // everything before the slab loop (whose own finally closes the pool): a failure closes it here
  let target: TargetAllocation | undefined;
  const setUp = async () => {
    if (opts.target && !opts.assignment) ({ opts, allocation: target } = await resolveTarget(src, opts, pool));
    const { file, plan } = await prepareQuantize(src, opts);
    checkRunnable(file, plan, opts);
    const info = new Map(file.tensors.map((t) => [t.name, t]));
    const slabF32 = opts.slabF32Bytes ?? SLAB_F32_BYTES;
    const steps = stepsOf(plan, info, slabF32);

    // three of each buffer: batch k+1 is read into one while batch k is quantized in another and
    // batch k-1 is written from the third. (With two, the read of k+1 would wait for the writes of
    // k-1, and the calling thread, busy with its chunks of k, would start it only when done.)
    const maxOf = (f: (s: Step) => number) => steps.reduce((m, s) => Math.max(m, f(s)), 0);
    const caps = {
      src: maxOf((s) => s.srcBytes),
      dst: maxOf((s) => (s.kind === 'convert' ? s.dstBytes : 0)),
      f32: maxOf((s) => (s.kind === 'convert' && s.t.srcType !== GGML_TYPE.F32 ? s.rows * s.ti.rowLength : 0)),
    };
    const batches = batchesOf(steps, caps);
    // workers start while the header is written and the first batch read
    if (batches.some((b) => pool.sharesSlab(...convertShape(b)))) pool.start();

    const srcBufs = [0, 1, 2].map(() => new Uint8Array(pool.alloc(caps.src)));
    const dstBufs = [0, 1, 2].map(() => new Uint8Array(pool.alloc(caps.dst)));
    const f32 = caps.f32 ? new Float32Array(pool.alloc(caps.f32 * 4)) : null;
    // the first batch is read while the output header is encoded and written
    reading = readBatch(batches[0], srcBufs[0]!);

    const shards = outputShards(file, plan, opts);
    if (shards.length !== sinks.length)
      throw new LowbitError(`this run writes ${shards.length} file(s), ${sinks.length} output(s) given`);
    const writers: GgufWriter[] = [];
    const shardOf = new Map<string, number>();
    for (let i = 0; i < shards.length; i++) {
      for (const t of shards[i]!.tensors) shardOf.set(t.name, i);
      writers.push(
        await GgufWriter.begin(sinks[i]!, {
          metadata: shards[i]!.metadata,
          // ggml writes ggml_n_dims dims (trailing 1s dropped)
          tensors: shards[i]!.tensors.map((t) => ({ name: t.name, dims: ggmlNDims(t.shape), type: t.dstType })),
        }),
      );
    }
    return { plan, batches, writers, shardOf, srcBufs, dstBufs, f32 };
  };
  let ready: Awaited<ReturnType<typeof setUp>>;
  try {
    ready = await setUp();
  } catch (e) {
    await Promise.allSettled([reading]); // never leave a read running on a source the caller closes
    await pool.close();
    throw e;
  }
  const { plan, batches, writers, shardOf, srcBufs, dstBufs, f32 } = ready;

  const done = Promise.resolve();
  // writes run one after another, in order, behind the computation
  let writes: Promise<void> = done;
  // (every in-flight promise gets a no-op handler at once, quiet(): a failure is thrown where it is
  // awaited, not reported as unhandled while the loop is busy elsewhere)
  const write = (list: { name: string; bytes: Uint8Array }[]) =>
    (writes = quiet(
      writes.then(async () => {
        // each run of tensors of one output file (several only with --keep-split) in one go
        for (let i = 0; i < list.length;) {
          const w = shardOf.get(list[i]!.name) ?? 0;
          let j = i + 1;
          while (j < list.length && (shardOf.get(list[j]!.name) ?? 0) === w) j++;
          await writers[w]!.writeTensors(list.slice(i, j));
          i = j;
        }
      }),
    ));
  // per buffer set: the write that still reads from it (copies are written from the source buffer)
  const busy: Promise<void>[] = [done, done, done];
  // a copy step's source buffer is written from directly: a refill waits for that write
  const startRead = (k: number) =>
    batches[k]?.srcBytes
      ? quiet(
          busy[k % 3]!.then(async () => {
            await readBatch(batches[k], srcBufs[k % 3]!);
          }),
        )
      : null;

  const total = plan.srcBytes;
  let doneBytes = 0;
  let converted = 0;
  let imatrixUsed = 0;
  const clamped = new Map<string, number>();
  // importances of the tensors being converted, shared with the workers (a tensor's slabs may span batches)
  const imatrixBufs = new Map<string, Float32Array | null>();
  // --encoder gptq: each tensor's factor, shared with the workers likewise
  const gptqBufs = new Map<string, Float64Array | null>();
  try {
    for (let k = 0; k < batches.length; k++) {
      const b = batches[k]!;
      opts.signal?.throwIfAborted();
      if (reading) await reading;
      reading = startRead(k + 1);
      const srcBuf = srcBufs[k % 3]!;
      const dstBuf = dstBufs[k % 3]!;
      // this batch's output buffer was last written from three batches ago
      await busy[k % 3];
      const parts: Omit<SlabPart, 'chunkRows'>[] = [];
      const partOf: number[] = [];
      for (let i = 0; i < b.steps.length; i++) {
        const s = b.steps[i]!;
        const p = s.t;
        if (s.kind !== 'convert') {
          partOf.push(-1);
          continue;
        }
        if (s.firstRow === 0) {
          // first slab of a tensor: its importances, shared with the workers
          const im = imatrixFor(p, s.ti, opts);
          if (im) imatrixUsed++;
          converted++;
          let buf: Float32Array | null = null;
          if (im) {
            buf = new Float32Array(pool.alloc(im.byteLength));
            buf.set(im);
          }
          imatrixBufs.set(p.name, buf);
          gptqBufs.set(p.name, await gptqBuffer(p, s.ti, opts, pool));
        }
        const f32At = b.f32At[i]!;
        const buffers: SlabBuffers = {
          src: srcBuf.subarray(b.srcAt[i]!, b.srcAt[i]! + s.srcBytes),
          f32: p.srcType === GGML_TYPE.F32 ? null : f32!.subarray(f32At, f32At + s.rows * s.ti.rowLength),
          dst: dstBuf.subarray(b.dstAt[i]!, b.dstAt[i]! + s.dstBytes),
          imatrix: imatrixBufs.get(p.name) ?? null,
          gptqU: gptqBufs.get(p.name) ?? null,
        };
        partOf.push(parts.length);
        parts.push({
          base: {
            srcType: p.srcType,
            dstType: p.dstType,
            nPerRow: s.ti.rowLength,
            slabFirstRow: s.firstRow,
            rowsPerExpert: Math.max(1, s.ti.dims[1] ?? 1),
            checkInput: !opts.allowNonfinite,
            ...(opts.encoder && opts.encoder !== 'ggml' ? { encoder: opts.encoder } : {}),
          },
          nRows: s.rows,
          buffers,
        });
      }
      const result = parts.length ? await pool.runParts(parts) : null;
      // in step order: the first failure is reported, then everything is written
      const out: { name: string; bytes: Uint8Array }[] = [];
      for (let i = 0; i < b.steps.length; i++) {
        const s = b.steps[i]!;
        const p = s.t;
        if (s.kind === 'empty') {
          out.push({ name: p.name, bytes: new Uint8Array(0) }); // an empty tensor: nothing to read or convert
        } else if (s.kind === 'copy') {
          const bytes = srcBuf.subarray(b.srcAt[i]!, b.srcAt[i]! + s.srcBytes);
          if (!opts.allowNonfinite) {
            const bad = firstInvalid(s.ti.type.id, bytes);
            // bad counts values (float types) or blocks
            if (bad >= 0)
              throw nonFiniteError(p.name, (s.firstRow / s.ti.type.typeSize + bad) * s.ti.type.blockSize, s.ti.dims);
          }
          out.push({ name: p.name, bytes });
        } else {
          const j = partOf[i]!;
          if (result && !result.ok && result.part === j) {
            const r = result.result;
            if (r.ok) throw new LowbitError(`tensor ${p.name}: inconsistent pool result`);
            if (r.kind === 'input') throw nonFiniteError(p.name, r.index, s.ti.dims);
            if (r.kind === 'output')
              throw new LowbitError(
                `quantized data validation failed: tensor ${p.name} row ${r.row} has non-finite ${typeName(p.dstType)} scales`,
              );
            throw new LowbitError(`tensor ${p.name}: ${r.message}`);
          }
          const c = result && result.ok ? result.clamped[j]! : 0;
          if (c) clamped.set(p.name, (clamped.get(p.name) ?? 0) + c);
          out.push({ name: p.name, bytes: parts[j]!.buffers.dst });
        }
        const last = (b.steps[i + 1] ?? batches[k + 1]?.steps[0])?.t !== p;
        if (opts.onProgress && (s.kind !== 'empty' || last)) opts.onProgress(doneBytes + s.doneAfter, total, p.name);
        if (last) {
          doneBytes += p.srcBytes;
          imatrixBufs.delete(p.name);
          gptqBufs.delete(p.name);
        }
      }
      busy[k % 3] = write(out);
    }
    await writes;
    for (const w of writers) await w.finish();
  } finally {
    // on failure, settle what is still in flight before the caller closes the files
    await Promise.allSettled([reading ?? done, writes]);
    await pool.close();
  }
  const outputBytes = sinks.reduce((n, k) => n + k.position, 0);
  return {
    plan,
    tensors: plan.tensors.length,
    converted,
    inputBytes: src.size,
    outputBytes,
    nElements: plan.nElements,
    bitsPerWeight: plan.nElements ? (plan.dstBytes * 8) / plan.nElements : 0,
    seconds: (performance.now() - t0) / 1000,
    threads,
    imatrixUsed,
    clamped: [...clamped].map(([tensor, count]) => ({ tensor, count })),
    ...(target ? { target } : {}),
  };
}

function nonFiniteError(name: string, index: number, dims: readonly number[]): LowbitError {
  const n0 = dims[0] ?? 1;
  return new LowbitError(
    `tensor ${name} has a NaN or infinite value at element ${index} (row ${Math.floor(index / n0)}, column ${index % n0}); --allow-nonfinite to quantize anyway`,
  );
}
