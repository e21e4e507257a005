// The page's job worker: opens the picked model, plans, quantizes (its slabs shared with row
// workers through SharedArrayBuffer), writes the output to disk as it goes (the Origin Private File
// System, or a file the user chose), compares, and draws tensors for the learn view. Everything
// here is lowbit's library core, the same code the CLI runs: the bytes are the CLI's.
import { BlobSource, type ByteSink, type ByteSource } from '../../src/io/source.js';
import { LowbitError } from '../../src/errors.js';
import { fileKind } from '../../src/io/detect.js';
import { inspectSource, textOf, tensorsOf, type InspectReport } from '../../src/analysis/inspect.js';
import { readGgufHeader, type GgufFile } from '../../src/io/gguf/reader.js';
import {
  prepareQuantize,
  predictOutputBytes,
  checkRunnable,
  quantizeGguf,
  resolveTarget,
  type QuantizeOptions,
} from '../../src/pipeline/quantize-gguf.js';
import type { TargetAllocation } from '../../src/pipeline/target.js';
import { parseEncoder } from '../../src/formats/encoder.js';
import { fmtBytes, fmtNum, targetLines } from '../../src/cli/format.js';
import { webWorkerExecutor } from '../../src/pipeline/web-workers.js';
import { parseFileType } from '../../src/plan/file-types.js';
import {
  imatrixInput,
  parseGgmlType,
  parseTargetOptions,
  parseTensorType,
  parseTensorTypeText,
} from '../../src/plan/options.js';
import { typeName, type QuantPlan } from '../../src/plan/plan.js';
import { openHfModel, type ModelFolder } from '../../src/convert/hf/open.js';
import { VirtualGgufSource } from '../../src/convert/virtual-gguf.js';
import { writeConvertedGguf, storeTypeOf, FLOAT_OUT_TYPES } from '../../src/convert/write-gguf.js';
import type { ConvertedModel, StoreType } from '../../src/convert/model.js';
import { readSafetensorsHeader } from '../../src/io/safetensors/reader.js';
import type { SafetensorsSet } from '../../src/io/safetensors/sharded.js';
import { openFolderSafetensors } from '../../src/convert/hf/open.js';
import { readModel, writeModel, encodeModel } from '../../src/io/onnx/model.js';
import { parseVariant, quantizeOnnxModel } from '../../src/onnx/variants.js';
import { onnxOptions } from '../../src/onnx/options.js';
import { compareGguf, weightHistogram, type GgufComparison } from '../../src/analysis/compare-gguf.js';
import { familyOf, type ReportData, type SizeQualityPoint } from '../../src/report/html.js';
import { compareSafetensorsGguf } from '../../src/analysis/compare-safetensors.js';
import { compareOnnx } from '../../src/analysis/compare-onnx.js';
import { codecByName, codecByTypeId } from '../../src/formats/registry.js';
import type {
  CompareResult,
  Histogram,
  Input,
  JobOptions,
  ModelKind,
  Opened,
  PlanResult,
  Reply,
  Request,
} from './protocol.js';

const post = (r: Reply) => (self as unknown as Worker).postMessage(r);
// The row workers' script, fetched once at start and kept as a blob: the page then quantizes with
// threads even when the server is gone (offline once loaded).
const ROW_WORKER: Promise<string> = fetch(new URL('row-worker.js', self.location.href))
  .then((r) => {
    if (!r.ok) throw new Error(`row-worker.js: HTTP ${r.status}`);
    return r.blob();
  })
  .then((b) => URL.createObjectURL(new Blob([b], { type: 'text/javascript' })));
ROW_WORKER.catch(() => {});

/** The model picked last. */
let model: {
  input: Input;
  kind: ModelKind;
  src?: ByteSource;
  folder?: ModelFolder;
  gguf?: GgufFile;
  set?: SafetensorsSet;
  base: string;
} | null = null;
/** The last output written (for compare), and the run in flight. */
let lastOutput: { file: () => Promise<File>; kind: 'gguf' | 'onnx'; label: string } | null = null;
/** The earlier runs on this model (the report's size/quality chart draws them with the last one). */
let earlier: SizeQualityPoint[] = [];
let running: AbortController | null = null;

function folderOf(input: Extract<Input, { kind: 'folder' }>): ModelFolder {
  const byName = new Map<string, File>();
  input.names.forEach((n, i) => {
    // the picker gives "folder/file"; only the folder's own files count
    const parts = n.split('/');
    const plain = parts.length > 1 ? parts.slice(1).join('/') : n;
    if (!plain.includes('/')) byName.set(plain, input.files[i]!);
  });
  return {
    name: input.name,
    names: () => [...byName.keys()],
    bytes: async (f) => {
      const b = byName.get(f);
      return b ? new Uint8Array(await b.arrayBuffer()) : undefined;
    },
    open: async (f) => {
      const b = byName.get(f);
      if (!b) throw new LowbitError(`${input.name}/${f}: not found in the folder`);
      return new BlobSource(b, f);
    },
  };
}

const stripExt = (n: string) => n.replace(/\.(gguf|onnx|safetensors)$/i, '');

async function open(input: Input): Promise<Opened> {
  running?.abort();
  model = null;
  lastOutput = null;
  earlier = [];
  if (input.kind === 'folder') {
    const folder = folderOf(input);
    const set = await openFolderSafetensors(folder);
    const names = folder.names();
    const tensors = set.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      type: t.dtype,
      bytes: t.end - t.begin,
      elements: t.shape.reduce((a, b) => a * b, 1),
    }));
    const size = (await Promise.all(names.map(async (n) => (await folder.open(n)).size))).reduce((a, b) => a + b, 0);
    const config = await folder.bytes('config.json');
    const report: InspectReport = {
      format: `Hugging Face model folder (${names.filter((n) => n.endsWith('.safetensors')).length} safetensors file(s))`,
      file: input.name,
      fileSize: size,
      facts: [['files', names.sort().join(', ')]],
      metadataText: config ? [['config.json', textOf(new TextDecoder().decode(config))]] : [],
      metadataJson: {},
      tensors,
    };
    model = { input, kind: 'hf', folder, set, base: input.name };
    return { kind: 'hf', report, drawable: drawableSafetensors(set), base: input.name };
  }
  const src = new BlobSource(input.file, input.file.name);
  const kind = await fileKind(src);
  const report = await inspectSource(src);
  const base = stripExt(input.file.name);
  if (kind === 'gguf') {
    const gguf = await readGgufHeader(src);
    model = { input, kind, src, gguf, base };
    return {
      kind,
      report,
      drawable: gguf.tensors.filter((t) => codecByTypeId(t.type.id) && t.nElements >= 16).map((t) => t.name),
      base,
    };
  }
  if (kind === 'safetensors') {
    const { openSafetensorsSet } = await import('../../src/io/safetensors/sharded.js');
    const set = await openSafetensorsSet([await readSafetensorsHeader(src)]);
    model = { input, kind, src, set, base };
    return { kind, report, drawable: drawableSafetensors(set), base };
  }
  model = { input, kind, src, base };
  return { kind, report, drawable: [], base };
}

function drawableSafetensors(set: SafetensorsSet): string[] {
  return set.tensors
    .filter((t) => ['F32', 'F16', 'BF16'].includes(t.dtype) && t.shape.reduce((a, b) => a * b, 1) >= 16)
    .map((t) => t.name);
}

function need(): NonNullable<typeof model> {
  if (!model) throw new LowbitError('no model loaded: pick a file or a model folder first');
  return model;
}

async function quantizeOptions(o: JobOptions, forPlan = false): Promise<QuantizeOptions> {
  const rules = o.tensorTypes?.trim() ? parseTensorTypeText(o.tensorTypes, 'tensor rules') : [];
  const list = (s?: string) => (s ?? '').split(/[\s,]+/).filter(Boolean);
  const include = list(o.includeWeights),
    exclude = list(o.excludeWeights);
  if (include.length && exclude.length)
    throw new LowbitError('--include-weights and --exclude-weights cannot be used together');
  let imatrix;
  if (o.imatrix) imatrix = await imatrixInput(new BlobSource(o.imatrix, o.imatrix.name), include, exclude);
  return {
    fileType: parseFileType(o.type),
    target: targetOf(o),
    encoder: o.encoder ? parseEncoder(o.encoder) : undefined,
    pure: !!o.pure,
    tensorTypes: rules.map(parseTensorType),
    outputTensorType: o.outputTensorType ? parseGgmlType(o.outputTensorType, '--output-tensor-type') : undefined,
    tokenEmbeddingType: o.tokenEmbeddingType
      ? parseGgmlType(o.tokenEmbeddingType, '--token-embedding-type')
      : undefined,
    leaveOutputTensor: !!o.leaveOutputTensor,
    allowRequantize: !!o.allowRequantize,
    allowNonfinite: !!o.allowNonfinite,
    imatrix,
    threads: forPlan ? 1 : Math.max(1, Math.floor(o.threads ?? navigator.hardwareConcurrency ?? 1)),
    // smaller slabs than the CLI's 32 MiB: Cancel is seen between batches, so a batch must take well
    // under a second even on a slow machine (the bytes do not depend on the slab size)
    slabF32Bytes: 8 << 20,
    executor: forPlan ? undefined : webWorkerExecutor(await ROW_WORKER),
  };
}

/** --target-size / --target-bpw / --target-types as the CLI parses them (an empty box is an option not given). */
function targetOf(o: JobOptions) {
  const given = (s?: string) => (s?.trim() ? s.trim() : undefined);
  return parseTargetOptions({
    targetSize: given(o.targetSize),
    targetBpw: given(o.targetBpw),
    targetTypes: given(o.targetTypes),
  });
}

/** The allocation's predicted relative error of a tensor's chosen type (as --dry-run --json's predictedError). */
function predictedError(a: TargetAllocation | undefined, name: string, type: number): number | undefined {
  if (!a?.assignment.has(name)) return undefined;
  return a.measures.find((m) => m.name === name)?.candidates.find((c) => c.type === type)?.nsr ?? undefined;
}

/** A source whose reads stop once the run is cancelled (the target's measuring reads through it). */
function stoppable(src: ByteSource, signal: AbortSignal): ByteSource {
  return new Proxy(src, {
    get(t, k) {
      const v = Reflect.get(t, k, t);
      if (k === 'read' || k === 'readInto')
        return (...a: unknown[]) => {
          signal.throwIfAborted();
          return (v as (...x: unknown[]) => unknown).apply(t, a);
        };
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/**
 * A source that serves small reads from one window of WINDOW bytes read at once: a size target's
 * measuring reads sampled rows one at a time, in file order, and each Blob read in a worker costs
 * milliseconds, so row-by-row reads made the search minutes long on a few-MB model.
 */
const WINDOW = 4 << 20;
function windowed(src: ByteSource): ByteSource {
  let at = -1,
    buf: Uint8Array = new Uint8Array(0);
  return new Proxy(src, {
    get(t, k) {
      if (k === 'read') {
        return async (offset: number, length: number) => {
          if (length >= WINDOW) return t.read(offset, length);
          if (at >= 0 && offset >= at && offset + length <= at + buf.length)
            return buf.slice(offset - at, offset - at + length);
          // (reads may overlap in time: each answers from its own window, then the window is replaced whole)
          const b = await t.read(offset, Math.min(WINDOW, t.size - offset));
          at = offset;
          buf = b;
          return b.slice(0, length);
        };
      }
      if (k === 'readInto') return undefined; // every read goes through the window
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
    has(t, k) {
      return k === 'readInto' ? false : Reflect.has(t, k);
    },
  });
}

let hfCache: { key: Input; model: ConvertedModel; src: VirtualGgufSource; close: () => Promise<void> } | null = null;
async function hfModel(m: NonNullable<typeof model>) {
  if (hfCache && hfCache.key === m.input) return hfCache;
  if (hfCache) await hfCache.close();
  const { model: cm, close } = await openHfModel(m.folder!);
  const src = await VirtualGgufSource.create(cm, m.folder!.name);
  hfCache = { key: m.input, model: cm, src, close };
  return hfCache;
}

/** The GGUF the pipeline reads: the file itself, or a folder's model presented as its F32 GGUF (as `convert hf` does). */
async function ggufSource(m: NonNullable<typeof model>): Promise<ByteSource> {
  if (m.kind === 'gguf') return m.src!;
  if (m.kind === 'hf') return (await hfModel(m)).src;
  if (m.kind === 'safetensors')
    throw new LowbitError(
      `${m.base}.safetensors: converting needs the whole model folder (config.json, tokenizer and safetensors): pick the folder`,
    );
  throw new LowbitError('this is an ONNX model: pick one of the ONNX variants');
}

function planRows(plan: QuantPlan, a?: TargetAllocation) {
  return plan.tensors.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    from: typeName(t.srcType),
    to: typeName(t.dstType),
    bytes: t.srcBytes,
    newBytes: t.dstBytes,
    why: t.reason,
    ...(a ? { error: predictedError(a, t.name, t.dstType) ?? null } : {}),
  }));
}

/** A float type for a model folder: written by the converter, unless a size target makes it a quantize run's base mix. */
const floatConvert = (m: NonNullable<typeof model>, o: JobOptions) =>
  m.kind === 'hf' && (FLOAT_OUT_TYPES as readonly string[]).includes(o.type.toUpperCase()) && !targetOf(o);

async function plan(o: JobOptions): Promise<PlanResult> {
  const m = need();
  if (m.kind === 'onnx') {
    const variant = parseVariant(o.type);
    const proto = await readModel(m.src!);
    const r = quantizeOnnxModel(proto, variant, { ...onnxOptions(o as never, o.type), dryRun: false });
    const predicted = encodeModel(proto).length;
    return {
      rows: r.actions.map((a) => ({
        name: a.node,
        shape: a.shape ? [...a.shape] : [],
        from: a.op,
        to: a.action,
        bytes: a.bytesBefore ?? 0,
        newBytes: a.bytesAfter ?? 0,
        why: '',
      })),
      inBytes: m.src!.size,
      outBytes: predicted,
      predicted,
      bpw: 0,
      fileType: variant,
      problem: null,
      notes: r.notes,
    };
  }
  if (floatConvert(m, o)) {
    const { model: cm } = await hfModel(m);
    const rows = cm.tensors.map((t) => ({
      name: t.name,
      shape: [...t.shape],
      from: 'F32',
      to: storeTypeOf(t, o.type.toUpperCase() as StoreType),
      bytes: 0,
      newBytes: 0,
      why: t.keepF32 ? 'kept F32 (as the converter keeps it)' : 'converted',
    }));
    return {
      rows,
      inBytes: 0,
      outBytes: 0,
      predicted: 0,
      bpw: 0,
      fileType: o.type.toUpperCase(),
      problem: null,
      notes: ['float output: written by the converter (sizes known once written)'],
    };
  }
  const src = await ggufSource(m);
  // as `lowbit quantize --dry-run`: the target's allocation first, then the plan it gives
  const { opts, allocation } = await resolveTarget(targetOf(o) ? windowed(src) : src, await quantizeOptions(o, true));
  const prep = await prepareQuantize(src, opts);
  const predicted = await predictOutputBytes(prep.file, prep.plan, opts);
  let problem: string | null = null;
  try {
    checkRunnable(prep.file, prep.plan, opts);
  } catch (e) {
    if (e instanceof LowbitError) problem = e.message;
    else throw e;
  }
  const p = prep.plan;
  return {
    rows: planRows(p, allocation),
    inBytes: p.srcBytes,
    outBytes: p.dstBytes,
    predicted,
    bpw: p.nElements ? (p.dstBytes * 8) / p.nElements : 0,
    fileType: p.fileType.name,
    problem,
    notes: p.nFallback ? [`${p.nFallback} tensor(s) needed a fallback type`] : [],
    ...(allocation ? { target: targetLines(allocation) } : {}),
  };
}

// ---- output: a sink on disk, removed unless the run completes ----

interface DiskOutput {
  sink: ByteSink;
  commit(): Promise<void>;
  abort(): Promise<void>;
  file(): Promise<File>;
  name: string;
}

const OPFS_PREFIX = 'lowbit-out-';

/** A temp file in the Origin Private File System, written with a synchronous access handle. */
async function opfsOutput(): Promise<DiskOutput> {
  const root = await navigator.storage.getDirectory();
  // earlier outputs are gone once a new run starts (their downloads are done or abandoned)
  for await (const [n] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
    if (n.startsWith(OPFS_PREFIX)) await root.removeEntry(n).catch(() => {});
  }
  const name = `${OPFS_PREFIX}${Date.now()}`;
  const fh = await root.getFileHandle(name, { create: true });
  const h = await (fh as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      h.flush();
      h.close();
    }
  };
  let pos = 0;
  const sink: ByteSink = {
    get position() {
      return pos;
    },
    async write(b: Uint8Array) {
      let done = 0;
      while (done < b.length) done += h.write(b.subarray(done), { at: pos + done });
      pos += b.length;
    },
  };
  return {
    sink,
    name,
    async commit() {
      close();
    },
    async abort() {
      try {
        close();
      } catch {
        /* already closed */
      }
      await root.removeEntry(name).catch(() => {});
    },
    file: () => fh.getFile(),
  };
}

interface SyncHandle {
  write(b: Uint8Array, o: { at: number }): number;
  flush(): void;
  close(): void;
  truncate(n: number): void;
}

/** A file the user chose (File System Access API): written through a writable stream, kept only on close. */
async function handleOutput(handle: FileSystemFileHandle): Promise<DiskOutput> {
  const w = await (
    handle as unknown as { createWritable(o?: object): Promise<FileSystemWritableFileStream> }
  ).createWritable({ keepExistingData: false });
  let pos = 0;
  const sink: ByteSink = {
    get position() {
      return pos;
    },
    // (a copy: the pipeline reuses its buffers once write resolves, the stream may not be done with them)
    async write(b: Uint8Array) {
      await w.write(b.slice());
      pos += b.length;
    },
  };
  return {
    sink,
    name: handle.name,
    commit: () => w.close(),
    async abort() {
      await w.abort().catch(() => {});
    },
    file: () => handle.getFile(),
  };
}

/** A sink that stops the run when it is cancelled, whatever is writing. */
function cancellable(sink: ByteSink, signal: AbortSignal): ByteSink {
  return {
    get position() {
      return sink.position;
    },
    write(b) {
      signal.throwIfAborted();
      return sink.write(b);
    },
  };
}

async function run(id: number, o: JobOptions, output: Request & { op: 'run' }): Promise<unknown> {
  const m = need();
  if (running) throw new LowbitError('a run is in progress');
  const ctl = new AbortController();
  running = ctl;
  lastOutput = null;
  const t0 = performance.now();
  const out = output.output.kind === 'handle' ? await handleOutput(output.output.handle) : await opfsOutput();
  const sink = cancellable(out.sink, ctl.signal);
  let total = 0;
  const onProgress = (done: number, all: number, tensor: string) => {
    total = all;
    post({ id, progress: { done, total: all, tensor } });
  };
  try {
    let threads = 1,
      kind: 'gguf' | 'onnx' = 'gguf',
      clamped: { tensor: string; count: number }[] = [],
      target: string[] | undefined,
      searchSeconds = 0;
    if (m.kind === 'onnx') {
      kind = 'onnx';
      const variant = parseVariant(o.type);
      const proto = await readModel(m.src!);
      quantizeOnnxModel(proto, variant, { ...onnxOptions(o as never, o.type), dryRun: false });
      ctl.signal.throwIfAborted();
      await writeModel(proto, sink, {});
      total = m.src!.size;
    } else if (floatConvert(m, o)) {
      const { model: cm } = await hfModel(m);
      clamped = await writeConvertedGguf(sink, cm, o.type.toUpperCase() as StoreType, onProgress, !!o.allowNonfinite);
      total = sink.position;
    } else {
      // (a size target measures every tensor before the first byte is written: Cancel stops that too)
      const src = stoppable(await ggufSource(m), ctl.signal);
      // the target's search reads through a window (many small reads), the run itself directly
      const { opts, allocation } = await resolveTarget(targetOf(o) ? windowed(src) : src, await quantizeOptions(o));
      const s = await quantizeGguf(src, sink, { ...opts, signal: ctl.signal, onProgress });
      threads = s.threads;
      clamped = s.clamped;
      if (allocation) {
        target = targetLines(allocation);
        searchSeconds = allocation.seconds;
      }
      total = s.plan.srcBytes;
    }
    await out.commit();
    const seconds = (performance.now() - t0) / 1000;
    lastOutput = { file: out.file, kind, label: output.label };
    // MB/s of the quantizing itself: a size target's search for the types comes before it
    return {
      outBytes: sink.position,
      seconds,
      searchSeconds,
      mbPerS: total / 1e6 / Math.max(1e-9, seconds - searchSeconds),
      threads,
      clamped,
      target,
      file: await out.file(),
    };
  } catch (e) {
    await out.abort();
    if (ctl.signal.aborted) throw new LowbitError('cancelled: nothing was written');
    throw e;
  } finally {
    running = null;
  }
}

function compareResult(r: GgufComparison): CompareResult {
  return {
    rows: r.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      typeA: t.typeA,
      typeB: t.typeB,
      bpwB: t.bitsPerWeightB,
      rmse: t.stats.rmse,
      maxAbs: t.stats.maxAbs,
      sqnrDb: t.stats.sqnrDb,
      cosine: t.stats.cosine,
    })),
    total: {
      bpwA: r.total.bitsPerWeightA,
      bpwB: r.total.bitsPerWeightB,
      rmse: r.total.rmse,
      maxAbs: r.total.maxAbs,
      sqnrDb: r.total.sqnrDb,
      cosine: r.total.cosine,
      elements: r.total.elements,
    },
    worst: r.worst.map((t) => t.name),
  };
}

/** The last run measured against its input, as `lowbit compare` does, and the data of `lowbit report`'s charts for it. */
async function compare(): Promise<CompareResult & { report: ReportData }> {
  const m = need();
  if (!lastOutput) throw new LowbitError('nothing to compare yet: quantize first');
  const f = await lastOutput.file();
  const b = new BlobSource(f, f.name);
  let c: GgufComparison, refSize: number;
  /** the GGUF the output was made from (the histogram's reference), when there is one */
  let refGguf: ByteSource | undefined;
  if (m.kind === 'onnx') {
    c = await compareOnnx(m.src!, b);
    refSize = m.src!.size;
  } else if (m.kind === 'hf') {
    let sizeBytes = 0;
    for (const t of m.set!.tensors) sizeBytes += t.end - t.begin;
    c = await compareSafetensorsGguf({ name: m.base, sizeBytes, set: m.set! }, b);
    refSize = sizeBytes;
    refGguf = (await hfModel(m)).src;
  } else {
    c = await compareGguf(m.src!, b);
    refSize = m.src!.size;
    refGguf = m.src!;
  }
  const label = lastOutput.label;
  // named as the download is (the file on disk may be a temp name in the origin's private storage)
  const file = `${label}.${lastOutput.kind}`;
  const report: ReportData = {
    title: `lowbit report: ${m.kind === 'hf' ? `${m.base}/` : (m.input as { file: File }).file.name} → ${file}`,
    ref: { file: m.kind === 'hf' ? `${m.base}/` : (m.input as { file: File }).file.name, sizeBytes: refSize },
    variants: [{ label, file, sizeBytes: f.size, comparison: c }],
    // this session's earlier runs on the same model: more points of the size/quality chart
    points: earlier.filter((p) => p.label !== label),
    histograms: [],
    notes: [
      "Made in the browser by lowbit's web app, from the file just written: the same measurements and charts as `lowbit report` (no engine evaluation here: run `lowbit report --eval` for that).",
    ],
  };
  // as `lowbit report`: the histogram of the worst tensor, with the values one block decodes to
  const worst = c.worst[0]?.name.split(' → ').pop();
  if (refGguf && worst) report.histograms!.push({ ...(await weightHistogram(refGguf, b, worst)), variant: label });
  earlier = [
    ...earlier.filter((p) => p.label !== label),
    { label, sizeBytes: f.size, family: familyOf(label), sqnrDb: c.total.sqnrDb },
  ];
  return { ...compareResult(c), report };
}

/** At most this many values of a tensor are drawn. */
const DRAW_MAX = 1 << 20;

async function tensorValues(name: string): Promise<Float32Array> {
  const m = need();
  if (m.gguf) {
    const t = m.gguf.tensors.find((x) => x.name === name);
    const c = t && codecByTypeId(t.type.id);
    if (!t || !c) throw new LowbitError(`tensor ${name}: cannot be drawn`);
    const rows = Math.max(1, Math.min(t.nRows, Math.floor(DRAW_MAX / t.rowLength)));
    const bytes = await m.src!.read(t.offset, rows * t.rowBytes);
    const out = new Float32Array(rows * t.rowLength);
    c.dequantize(bytes, out, out.length);
    return out;
  }
  if (m.set) {
    const v = await m.set.readF32(name);
    return v.length > DRAW_MAX ? v.subarray(0, DRAW_MAX) : v;
  }
  throw new LowbitError('this model has no tensor the learn view can draw');
}

async function histogram(tensor: string, format: string): Promise<Histogram> {
  const x = await tensorValues(tensor);
  const c = codecByName(format);
  if (!c) throw new LowbitError(`unknown format ${format}`);
  // whole blocks (and whole 256-weight super-blocks) only
  const n = Math.floor(x.length / 256) * 256 || Math.floor(x.length / c.type.blockSize) * c.type.blockSize;
  if (n === 0) throw new LowbitError(`tensor ${tensor}: too small for ${format}`);
  const v = x.subarray(0, n);
  let min = Infinity,
    max = -Infinity;
  for (const a of v)
    if (Number.isFinite(a)) {
      if (a < min) min = a;
      if (a > max) max = a;
    }
  const bins = 160;
  const counts = new Array(bins).fill(0);
  const w = (max - min) / bins || 1;
  for (const a of v) if (Number.isFinite(a)) counts[Math.min(bins - 1, Math.floor((a - min) / w))]++;
  const q = new Uint8Array((n / c.type.blockSize) * c.type.typeSize);
  c.quantize(v, q, 1, n, c.requiresImatrix ? new Float32Array(n).fill(1) : null);
  const y = new Float32Array(n);
  c.dequantize(q, y, n);
  let se = 0,
    peak = 0;
  for (let i = 0; i < n; i++) {
    se += (y[i]! - v[i]!) ** 2;
    if (Math.abs(v[i]!) > Math.abs(v[peak]!)) peak = i;
  }
  // the landing points of the block that holds the largest weight: the values its codes can take there
  const bs = Math.max(c.type.blockSize, 32);
  const b0 = Math.floor(peak / bs) * bs;
  const points = [...new Set(Array.from(y.subarray(b0, b0 + bs)))].sort((a, b) => a - b);
  return { min, max, counts, points, rmse: Math.sqrt(se / n), values: n, format: c.name, tensor };
}

self.onmessage = async (e: MessageEvent<Request>) => {
  const r = e.data;
  if (r.op === 'cancel') {
    running?.abort();
    post({ id: r.id, ok: true, value: null });
    return;
  }
  try {
    let value: unknown;
    if (r.op === 'open') value = await open(r.input);
    else if (r.op === 'plan') value = await plan(r.options);
    else if (r.op === 'run') value = await run(r.id, r.options, r);
    else if (r.op === 'compare') value = await compare();
    else if (r.op === 'histogram') value = await histogram(r.tensor, r.format);
    post({ id: r.id, ok: true, value });
  } catch (err) {
    // the CLI's one-line messages; anything else is a bug, said as such
    const msg = err instanceof LowbitError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    post({ id: r.id, ok: false, error: `lowbit: ${msg}` });
  }
};
