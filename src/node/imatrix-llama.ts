// Runs a GGUF model in llama.cpp itself (the libllama node-llama-cpp ships, through koffi) and feeds
// the input activations of its matrix multiplications to the engine-agnostic ImatrixCollector, the
// way llama.cpp's tools/imatrix/imatrix.cpp does: llama_context_params.cb_eval (the backend
// scheduler's eval callback) is asked about every graph node; it answers yes for MUL_MAT /
// MUL_MAT_ID nodes on model weights, and is then called again with the computed node, whose src1
// (activations) and, for MoE, src[2] (expert ids) it reads. Chunks, batches, BOS and perplexity as
// compute_imatrix() does them.
//
// Struct layouts are this build's (include/llama.h, ggml/include/ggml.h of the llama.cpp commit
// node-llama-cpp 3.21.1 ships) and checked at load: sizes, the defaults llama.cpp returns, op names,
// and per call ggml_nbytes against the shape and strides read from the tensor.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { LowbitError } from '../errors.js';
import { loadEngine } from './engines.js';
import { NonFiniteActivationError, type ImatrixCollector, type StridedView } from '../imatrix/collector.js';
import { sumSqKernel } from '../imatrix/sumsq.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Koffi = any;
type Ptr = any;

// ggml_tensor (ggml.h): 336 bytes
const T_TYPE = 0,
  T_BUFFER = 8,
  T_NE = 16,
  T_NB = 48,
  T_OP = 80,
  T_SRC = 152,
  T_DATA = 248,
  T_NAME = 256;
const T_SIZE = 336,
  GGML_MAX_NAME = 64;
// ggml_threadpool_params: bool cpumask[GGML_MAX_N_THREADS = 512], int n_threads, int prio,
// uint32_t poll, bool strict_cpu, bool paused (528 bytes with padding)
const THREADPOOL_PARAMS_SIZE = 528;
const GGML_TYPE_F32 = 0,
  GGML_TYPE_I32 = 26;
const OP_MUL_MAT = 29,
  OP_MUL_MAT_ID = 30;
// llama_batch: n_tokens, token*, embd*, pos*, n_seq_id*, seq_id**, logits*
const LLAMA_POOLING_TYPE_LAST = 3;

interface Lib {
  koffi: Koffi;
  dir: string;
  fn: Record<string, (...a: any[]) => any>;
  CParams: unknown;
  MParams: unknown;
  Batch: unknown;
  EvalCb: unknown;
  log: { text: string };
  /** the CPU backend variant ggml loaded (its log line) */
  cpuBackend: string;
  /** its path, when lowbit loaded it from node-llama-cpp's binaries */
  cpuLibPath: string | null;
}

let libPromise: Promise<Lib> | null = null;

/** The folder of node-llama-cpp's prebuilt linux-x64 CPU binaries (libllama, libggml*). */
export function llamaLibDir(): string {
  const req = createRequire(import.meta.url);
  const tries: (() => string)[] = [
    () => req.resolve('@node-llama-cpp/linux-x64'),
    () => createRequire(req.resolve('node-llama-cpp')).resolve('@node-llama-cpp/linux-x64'),
  ];
  for (const t of tries) {
    try {
      const dir = join(dirname(t()), '..', 'bins', 'linux-x64');
      if (existsSync(join(dir, 'libllama.v0.4.0.so'))) return dir;
    } catch {
      /* next */
    }
  }
  throw new LowbitError(
    `lowbit imatrix runs the model in llama.cpp through node-llama-cpp's linux-x64 binaries (@node-llama-cpp/linux-x64), which are not installed${process.platform !== 'linux' || process.arch !== 'x64' ? ` (this is ${process.platform}-${process.arch})` : ''}: run npm install node-llama-cpp@3.21.1`,
    'ENOENGINE',
  );
}

async function loadLib(): Promise<Lib> {
  const k = await loadEngine<any>('koffi', 'imatrix');
  const koffi: Koffi = k.default ?? k;
  // LOWBIT_LLAMA_LIB_DIR: another build of the same llama.cpp source (e.g. the one
  // tools/build-llama-tools.sh makes), to run the very CPU kernels llama-imatrix runs
  const dir = process.env.LOWBIT_LLAMA_LIB_DIR || llamaLibDir();
  const pick = (...names: string[]) =>
    names.map((n) => join(dir, n)).find((p) => existsSync(p)) ?? join(dir, names[0]!);
  const load = (path: string) => {
    try {
      return koffi.load(path);
    } catch (e) {
      const why = (e as Error).message.replace(/^Failed to load shared library: /, '');
      throw new LowbitError(
        process.env.LOWBIT_LLAMA_LIB_DIR
          ? `LOWBIT_LLAMA_LIB_DIR=${dir}: cannot load ${path} (${why}); it must be the bin folder of a llama.cpp build (tools/build-llama-tools.sh prints it)`
          : `cannot load node-llama-cpp's ${path} (${why})`,
      );
    }
  };
  const base = load(pick('libggml-base.so'));
  const ggml = load(pick('libggml.v0.4.0.so', 'libggml.so'));
  const lib = load(pick('libllama.v0.4.0.so', 'libllama.so'));

  const MParams = koffi.struct('lowbit_llama_model_params', {
    devices: 'void *',
    tensor_buft_overrides: 'void *',
    n_gpu_layers: 'int32_t',
    split_mode: 'int',
    load_mode: 'int',
    lazy_mode: 'int',
    main_gpu: 'int32_t',
    tensor_split: 'void *',
    progress_callback: 'void *',
    progress_callback_user_data: 'void *',
    kv_overrides: 'void *',
    vocab_only: 'bool',
    check_tensors: 'bool',
    use_extra_bufts: 'bool',
    no_host: 'bool',
    no_alloc: 'bool',
    load_mtp: 'bool',
  });
  const CParams = koffi.struct('lowbit_llama_context_params', {
    n_ctx: 'uint32_t',
    n_batch: 'uint32_t',
    n_ubatch: 'uint32_t',
    n_seq_max: 'uint32_t',
    n_rs_seq: 'uint32_t',
    n_outputs_max: 'uint32_t',
    n_outputs_max_per_seq: 'uint32_t',
    n_threads: 'int32_t',
    n_threads_batch: 'int32_t',
    ctx_type: 'int',
    rope_scaling_type: 'int',
    pooling_type: 'int',
    attention_type: 'int',
    flash_attn_type: 'int',
    rope_freq_base: 'float',
    rope_freq_scale: 'float',
    yarn_ext_factor: 'float',
    yarn_attn_factor: 'float',
    yarn_beta_fast: 'float',
    yarn_beta_slow: 'float',
    yarn_orig_ctx: 'uint32_t',
    defrag_thold: 'float',
    cb_eval: 'void *',
    cb_eval_user_data: 'void *',
    type_k: 'int',
    type_v: 'int',
    abort_callback: 'void *',
    abort_callback_data: 'void *',
    embeddings: 'bool',
    offload_kqv: 'bool',
    no_perf: 'bool',
    op_offload: 'bool',
    swa_full: 'bool',
    kv_unified: 'bool',
    samplers: 'void *',
    n_samplers: 'size_t',
    ctx_other: 'void *',
  });
  const Batch = koffi.struct('lowbit_llama_batch', {
    n_tokens: 'int32_t',
    token: 'void *',
    embd: 'void *',
    pos: 'void *',
    n_seq_id: 'void *',
    seq_id: 'void *',
    logits: 'void *',
  });
  // sizes and offsets from the C headers of this build (gcc offsetof)
  const layout: [string, number, number][] = [
    ['llama_model_params', koffi.sizeof(MParams), 80],
    ['llama_context_params', koffi.sizeof(CParams), 160],
    ['llama_batch', koffi.sizeof(Batch), 56],
    ['llama_context_params.cb_eval', koffi.offsetof(CParams, 'cb_eval'), 88],
    ['llama_context_params.type_k', koffi.offsetof(CParams, 'type_k'), 104],
    ['llama_context_params.swa_full', koffi.offsetof(CParams, 'swa_full'), 132],
    ['llama_model_params.vocab_only', koffi.offsetof(MParams, 'vocab_only'), 72],
  ];
  for (const [what, got, want] of layout)
    if (got !== want) throw new LowbitError(`libllama layout check failed: ${what} is ${got}, expected ${want}`);

  const LogCb = koffi.proto('void lowbit_llama_log_cb(int level, const char *text, void *user_data)');
  const EvalCb = koffi.proto('bool lowbit_ggml_eval_cb(void *t, bool ask, void *user_data)');
  const log = { text: '' };
  const logCb = koffi.register((_l: number, text: string) => {
    log.text = (log.text + text).slice(-8192);
  }, koffi.pointer(LogCb));
  lib.func('void llama_log_set(lowbit_llama_log_cb *cb, void *ud)')(logCb, null);
  ggml.func('void ggml_log_set(lowbit_llama_log_cb *cb, void *ud)')(logCb, null);
  // The CPU variant: node-llama-cpp ships libggml-cpu-<variant>.so for several x86 generations and
  // ggml_backend_load_all_from_path picks the highest-scoring one for this CPU. lowbit imatrix loads
  // the AVX2/FMA one ('haswell') when the CPU runs it: it is the instruction set of a default
  // (non-native) llama.cpp build, so the matrices are bit-identical to what such a llama-imatrix
  // writes (and on the machines measured it was also the faster one). LOWBIT_GGML_CPU=best restores
  // ggml's choice; LOWBIT_GGML_CPU=<variant> forces another.
  const variant = process.env.LOWBIT_GGML_CPU || 'haswell';
  let chosen = false;
  // node-llama-cpp (e.g. generating the calibration text in this process) may have loaded its own
  // pick already: llama.cpp then uses that one, so say so instead of claiming the variant
  const devByType = ggml.func('void *ggml_backend_dev_by_type(int type)');
  let preloaded = false;
  if (devByType(0 /* GGML_BACKEND_DEVICE_TYPE_CPU */)) {
    preloaded = true;
    chosen = true;
  }
  if (!chosen && variant !== 'best' && !process.env.LOWBIT_LLAMA_LIB_DIR) {
    const path = join(dir, `libggml-cpu-${variant}.so`);
    if (existsSync(path) && ggml.func('void *ggml_backend_load(const char *path)')(path)) {
      log.text += `loaded CPU backend from ${path}\n`;
      chosen = true;
    } else if (process.env.LOWBIT_GGML_CPU) {
      throw new LowbitError(
        `LOWBIT_GGML_CPU=${variant}: ${existsSync(path) ? `this CPU cannot run ${path}` : `${path} does not exist`}`,
      );
    }
  }
  if (!chosen) ggml.func('void ggml_backend_load_all_from_path(const char *dir)')(dir);
  lib.func('void llama_backend_init(void)')();
  const loaded = /loaded (\S*CPU\S*) backend from (\S+)/i.exec(log.text);
  const cpuBackend = preloaded
    ? "ggml's pick, already loaded by node-llama-cpp in this process"
    : loaded
      ? loaded[2]!.split('/').pop()!
      : process.env.LOWBIT_LLAMA_LIB_DIR
        ? `libggml-cpu.so of ${dir}`
        : 'libggml-cpu';

  const fn: Record<string, (...a: any[]) => any> = {
    modelDefaults: lib.func('lowbit_llama_model_params llama_model_default_params(void)'),
    contextDefaults: lib.func('lowbit_llama_context_params llama_context_default_params(void)'),
    loadModel: lib.func('void *llama_model_load_from_file(const char *path, lowbit_llama_model_params params)'),
    freeModel: lib.func('void llama_model_free(void *model)'),
    initContext: lib.func('void *llama_init_from_model(void *model, lowbit_llama_context_params params)'),
    freeContext: lib.func('void llama_free(void *ctx)'),
    getVocab: lib.func('void *llama_model_get_vocab(void *model)'),
    addBos: lib.func('bool llama_vocab_get_add_bos(void *vocab)'),
    addEos: lib.func('bool llama_vocab_get_add_eos(void *vocab)'),
    bos: lib.func('int32_t llama_vocab_bos(void *vocab)'),
    nVocab: lib.func('int32_t llama_vocab_n_tokens(void *vocab)'),
    tokenize: lib.func(
      'int32_t llama_tokenize(void *vocab, const uint8_t *text, int32_t len, _Out_ int32_t *tokens, int32_t n_max, bool add_special, bool parse_special)',
    ),
    batchInit: lib.func('lowbit_llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max)'),
    batchFree: lib.func('void llama_batch_free(lowbit_llama_batch batch)'),
    decode: lib.func('int32_t llama_decode(void *ctx, lowbit_llama_batch batch)'),
    logitsIth: lib.func('float *llama_get_logits_ith(void *ctx, int32_t i)'),
    getMemory: lib.func('void *llama_get_memory(void *ctx)'),
    memoryClear: lib.func('void llama_memory_clear(void *mem, bool data)'),
    poolingType: lib.func('int llama_pooling_type(void *ctx)'),
    synchronize: lib.func('void llama_synchronize(void *ctx)'),
    nCtxTrain: lib.func('int32_t llama_model_n_ctx_train(void *model)'),
    hasDecoder: lib.func('bool llama_model_has_decoder(void *model)'),
    hasEncoder: lib.func('bool llama_model_has_encoder(void *model)'),
    modelDesc: lib.func('int32_t llama_model_desc(void *model, _Out_ uint8_t *buf, size_t size)'),
    isHost: base.func('bool ggml_backend_buffer_is_host(void *buffer)'),
    tensorGet: base.func('void ggml_backend_tensor_get(void *t, _Out_ uint8_t *data, size_t offset, size_t size)'),
    // the same, to a typed array passed by reference (no copy back through koffi)
    tensorGetInto: base.func('void ggml_backend_tensor_get(void *t, void *data, size_t offset, size_t size)'),
    nbytes: base.func('size_t ggml_nbytes(void *t)'),
    opName: base.func('const char *ggml_op_name(int op)'),
    threadpoolParamsInit: base.func('void ggml_threadpool_params_init(void *p, int n_threads)'),
    attachThreadpool: lib.func('void llama_attach_threadpool(void *ctx, void *tp, void *tp_batch)'),
    detachThreadpool: lib.func('void llama_detach_threadpool(void *ctx)'),
  };
  if (fn.opName!(OP_MUL_MAT) !== 'MUL_MAT' || fn.opName!(OP_MUL_MAT_ID) !== 'MUL_MAT_ID') {
    throw new LowbitError(
      `libllama layout check failed: ggml op ${OP_MUL_MAT} is ${fn.opName!(OP_MUL_MAT)}, ${OP_MUL_MAT_ID} is ${fn.opName!(OP_MUL_MAT_ID)}`,
    );
  }
  const cd = fn.contextDefaults!();
  if (
    cd.n_ctx !== 512 ||
    cd.n_batch !== 2048 ||
    cd.n_ubatch !== 512 ||
    cd.n_seq_max !== 1 ||
    cd.type_k !== 1 ||
    cd.type_v !== 1 ||
    cd.swa_full !== true ||
    cd.kv_unified !== false
  ) {
    throw new LowbitError(
      "libllama layout check failed: llama_context_default_params() does not read as this build's defaults",
    );
  }
  const md = fn.modelDefaults!();
  if (md.n_gpu_layers !== -1 || md.use_extra_bufts !== true || md.vocab_only !== false)
    throw new LowbitError(
      "libllama layout check failed: llama_model_default_params() does not read as this build's defaults",
    );
  const cpuLibPath = !preloaded && loaded && !process.env.LOWBIT_LLAMA_LIB_DIR ? loaded[2]! : null;
  return { koffi, dir, fn, CParams, MParams, Batch, EvalCb, log, cpuBackend, cpuLibPath };
}

function getLib(): Promise<Lib> {
  libPromise ??= loadLib().catch((e) => {
    libPromise = null;
    throw e;
  });
  return libPromise;
}

export interface ImatrixRunOptions {
  model: string;
  collector: ImatrixCollector;
  /** the calibration text, UTF-8 bytes or a string (tokenized as llama-imatrix does: add_special, parse_special as given) */
  text?: string | Uint8Array;
  /** or tokens already (e.g. generated documents); used as they are */
  tokens?: Int32Array;
  parseSpecial?: boolean;
  /** tokens per chunk (--ctx, default 512) */
  ctx?: number;
  /** logical batch (--batch-size, default 2048: several chunks per decode as llama-imatrix) and physical batch (default 512) */
  batch?: number;
  ubatch?: number;
  /** most chunks (default all), chunks skipped first */
  chunks?: number;
  firstChunk?: number;
  threads?: number;
  /** compute the running perplexity (default true) */
  perplexity?: boolean;
  /** after each chunk's decode: chunk number (1-based), chunks in all, running perplexity (NaN when off), tokens done */
  onChunk?: (p: ImatrixProgress) => void | Promise<void>;
  /** before the first decode: what will run */
  onStart?: (info: ImatrixRunInfo) => void;
}

export interface ImatrixRunInfo {
  tokens: number;
  chunks: number;
  ctx: number;
  batch: number;
  sequencesPerBatch: number;
  description: string;
  cpuBackend: string;
  /** the model's training context (llama.cpp warns when a chunk is longer) */
  ctxTrain: number;
}

export interface ImatrixProgress {
  chunk: number;
  chunks: number;
  ppl: number;
  tokensDone: number;
  tokensTotal: number;
  seconds: number;
}

export interface ImatrixRunResult {
  tokens: number;
  chunks: number;
  /** final perplexity estimate and its error (NaN when off) */
  ppl: number;
  pplError: number;
  seconds: number;
  tokensPerSecond: number;
}

/** Runs the model over the text and accumulates into opts.collector. */
export async function runImatrix(opts: ImatrixRunOptions): Promise<ImatrixRunResult> {
  const L = await getLib();
  const { koffi, fn } = L;
  const nCtx = opts.ctx ?? 512;
  if (!Number.isInteger(nCtx) || nCtx <= 0)
    throw new LowbitError(`--ctx must be a positive integer (got ${nCtx})`, 'EUSAGE');
  if (opts.collector.chunkSize !== nCtx)
    throw new LowbitError(`collector chunk size ${opts.collector.chunkSize} differs from --ctx ${nCtx}`);
  let nBatch = opts.batch ?? 2048;
  const nSeq = Math.max(1, Math.floor(nBatch / nCtx));
  const nKv = nSeq * nCtx;
  nBatch = Math.min(nBatch, nKv);
  if (!(nBatch < nCtx || nBatch % nCtx === 0))
    throw new LowbitError(`--batch-size ${nBatch} must be below --ctx or a multiple of it`, 'EUSAGE');
  const threads = opts.threads ?? Math.min(4, availableParallelism());

  L.log.text = '';
  const mp = fn.modelDefaults!();
  const model = fn.loadModel!(opts.model, mp);
  if (!model) throw new LowbitError(`${opts.model}: llama.cpp cannot load this model${lastLogLine(L.log.text)}`);
  let ctx: Ptr = null;
  let batch: any = null;
  let cb: unknown = null;
  let threadpool: Ptr = null;
  let threadpoolFree: ((tp: Ptr) => void) | null = null;
  try {
    if (!fn.hasDecoder!(model) || fn.hasEncoder!(model))
      throw new LowbitError(`${opts.model}: not a decoder-only model llama.cpp can run for an importance matrix`);
    const vocab = fn.getVocab!(model);
    const descBuf = Buffer.alloc(256);
    fn.modelDesc!(model, descBuf, 256);
    const description = descBuf.subarray(0, descBuf.indexOf(0)).toString();

    // tokens
    let tokens: Int32Array;
    if (opts.tokens) tokens = opts.tokens;
    else {
      const bytes =
        typeof opts.text === 'string' || opts.text === undefined
          ? Buffer.from(opts.text ?? '', 'utf8')
          : Buffer.from(opts.text.buffer, opts.text.byteOffset, opts.text.byteLength);
      if (bytes.length > 0x7fffffff - 2)
        throw new LowbitError('calibration text is too long for llama_tokenize (2 GiB)');
      let out = new Int32Array(bytes.length + 2);
      let n = fn.tokenize!(vocab, bytes, bytes.length, out, out.length, true, !!opts.parseSpecial);
      if (n < 0) {
        out = new Int32Array(-n);
        n = fn.tokenize!(vocab, bytes, bytes.length, out, out.length, true, !!opts.parseSpecial);
      }
      if (n < 0) throw new LowbitError(`${opts.model}: llama_tokenize failed (${n})`);
      tokens = out.subarray(0, n);
    }
    const first = opts.firstChunk ?? 0;
    if (first > 0) {
      if ((first + 2) * nCtx >= tokens.length)
        throw new LowbitError(
          `the text has ${tokens.length} tokens: not enough left after skipping ${first} chunks of ${nCtx} (--chunk ${first} needs more than ${(first + 2) * nCtx})`,
        );
      tokens = tokens.subarray(first * nCtx);
    }
    if (tokens.length < 2 * nCtx) {
      throw new LowbitError(
        `the calibration text has ${tokens.length} tokens; a context of ${nCtx} needs at least ${2 * nCtx} (give a longer --text or a smaller --ctx)`,
      );
    }
    const nChunkMax = Math.floor(tokens.length / nCtx);
    const nChunk = opts.chunks === undefined || opts.chunks < 0 ? nChunkMax : Math.min(opts.chunks, nChunkMax);
    if (nChunk < 1) throw new LowbitError('--chunks must be at least 1', 'EUSAGE');
    const nVocab = fn.nVocab!(vocab);
    const addBos = fn.addBos!(vocab);
    const bos = fn.bos!(vocab);

    // the eval callback
    const collector = opts.collector;
    let failure: unknown = null;
    let ids = new Int32Array(0);
    let copy = new Float32Array(0);
    const nameOf = (tv: DataView): string => {
      const b = new Uint8Array(tv.buffer, T_NAME, GGML_MAX_NAME);
      const z = b.indexOf(0);
      return filterName(Buffer.from(b.subarray(0, z < 0 ? GGML_MAX_NAME : z)).toString('utf8'));
    };
    const tview = (p: Ptr) => new DataView(koffi.view(p, T_SIZE));
    const i64 = (v: DataView, o: number) => Number(v.getBigInt64(o, true));
    const shape = (v: DataView): [number, number, number, number] => [
      i64(v, T_NE),
      i64(v, T_NE + 8),
      i64(v, T_NE + 16),
      i64(v, T_NE + 24),
    ];
    const strides = (v: DataView): [number, number, number, number] => [
      i64(v, T_NB),
      i64(v, T_NB + 8),
      i64(v, T_NB + 16),
      i64(v, T_NB + 24),
    ];
    const src = (t: Ptr, i: number): Ptr => koffi.decode(t, T_SRC + 8 * i, 'void *');

    const evalCb = (t: Ptr, ask: boolean): boolean => {
      if (failure) return false;
      try {
        // every graph node is asked: read its op alone (a DataView over native memory costs ~20×
        // more than one koffi.decode), the rest only for matrix multiplications
        const op: number = koffi.decode(t, T_OP, 'int32_t');
        if (op !== OP_MUL_MAT && op !== OP_MUL_MAT_ID) return false;
        const s0 = src(t, 0),
          s1 = src(t, 1);
        if (!s0 || !s1) return false;
        const v0 = tview(s0),
          v1 = tview(s1);
        const wname = nameOf(v0);
        const ne1 = shape(v1);
        if (ask)
          return collector.wants(
            op === OP_MUL_MAT_ID ? 'mul_mat_id' : 'mul_mat',
            wname,
            ne1[1],
            v1.getInt32(T_TYPE, true) === GGML_TYPE_F32,
          );
        // data phase: src1 as float32
        if (v1.getInt32(T_TYPE, true) !== GGML_TYPE_F32)
          throw new LowbitError(`${wname}: activations are not F32 (ggml type ${v1.getInt32(T_TYPE, true)})`);
        const nb1 = strides(v1);
        const nbytes = Number(fn.nbytes!(s1));
        const expect =
          4 + (ne1[0] - 1) * nb1[0] + (ne1[1] - 1) * nb1[1] + (ne1[2] - 1) * nb1[2] + (ne1[3] - 1) * nb1[3];
        if (nbytes !== expect || nb1[0] !== 4 || nb1.some((x) => x % 4 !== 0))
          throw new LowbitError(
            `libllama layout check failed: ${wname} activations ne ${ne1} nb ${nb1} vs ggml_nbytes ${nbytes}`,
          );
        const buf = koffi.decode(s1, T_BUFFER, 'void *');
        let data: Float32Array;
        const kernel = op === OP_MUL_MAT ? sumSqKernel() : null;
        if (kernel) {
          // straight into the WebAssembly kernel's memory, where the collector sums it in place
          data = kernel.input(nbytes / 4);
          fn.tensorGetInto!(s1, data, 0, nbytes);
        } else if (buf && fn.isHost!(buf)) {
          data = new Float32Array(koffi.view(koffi.decode(s1, T_DATA, 'void *'), nbytes));
        } else {
          if (copy.length * 4 < nbytes) copy = new Float32Array(Math.ceil(nbytes / 4));
          fn.tensorGet!(s1, new Uint8Array(copy.buffer, 0, nbytes), 0, nbytes);
          data = copy;
        }
        const x: StridedView<Float32Array> = { data, offset: 0, ne: ne1, nb: [1, nb1[1] / 4, nb1[2] / 4, nb1[3] / 4] };
        const ne0w = shape(v0);
        if (op === OP_MUL_MAT_ID) {
          const s2 = src(t, 2);
          const v2 = tview(s2);
          if (v2.getInt32(T_TYPE, true) !== GGML_TYPE_I32) throw new LowbitError(`${wname}: expert ids are not I32`);
          const n2 = Number(fn.nbytes!(s2));
          if (ids.length * 4 < n2) ids = new Int32Array(Math.ceil(n2 / 4));
          fn.tensorGet!(s2, new Uint8Array(ids.buffer, 0, n2), 0, n2);
          const nb2 = strides(v2);
          collector.addExperts(wname, ne0w[2], x, {
            data: ids,
            offset: 0,
            ne: shape(v2),
            nb: [nb2[0] / 4, nb2[1] / 4, nb2[2] / 4, nb2[3] / 4],
          });
        } else {
          collector.addDense(wname, ne0w[2], ne0w[3], x, collector.hessian ? koffi.address(s1) : undefined);
        }
        return true;
      } catch (e) {
        failure = e;
        return false; // stops the graph
      }
    };
    cb = koffi.register(evalCb, koffi.pointer(L.EvalCb));

    const cp = fn.contextDefaults!();
    Object.assign(cp, {
      n_ctx: nKv,
      n_batch: nBatch,
      n_ubatch: Math.min(opts.ubatch ?? 512, nBatch),
      n_seq_max: nSeq,
      n_threads: threads,
      n_threads_batch: threads,
      n_outputs_max: 0,
      n_outputs_max_per_seq: 1,
      cb_eval: cb,
      cb_eval_user_data: null,
      swa_full: false,
      no_perf: false,
      kv_unified: false,
    });
    ctx = fn.initContext!(model, cp);
    if (!ctx)
      throw new LowbitError(
        `${opts.model}: llama.cpp cannot create a context of ${nKv} tokens${lastLogLine(L.log.text)}`,
      );
    if (fn.poolingType!(ctx) !== LLAMA_POOLING_TYPE_LAST && fn.addEos!(vocab))
      throw new LowbitError(`${opts.model}: the vocabulary adds EOS to every text; llama-imatrix refuses such models`);

    // node-llama-cpp's CPU libraries are built without OpenMP: without a threadpool of its own,
    // ggml starts and joins threads-1 threads for every graph computation, and the eval callback
    // splits each decode into one computation per collected tensor (~30 per decode here). A
    // persistent pool (what llama.cpp's own tools get from OpenMP) computes the same values.
    if (threads > 1 && L.cpuLibPath && process.env.LOWBIT_IMATRIX_THREADPOOL !== '0') {
      const cpu = koffi.load(L.cpuLibPath);
      const params = Buffer.alloc(THREADPOOL_PARAMS_SIZE);
      L.fn.threadpoolParamsInit!(params, threads);
      threadpool = cpu.func('void *ggml_threadpool_new(void *params)')(params);
      if (threadpool) {
        threadpoolFree = cpu.func('void ggml_threadpool_free(void *tp)');
        fn.attachThreadpool!(ctx, threadpool, threadpool);
      }
    }

    const cpuBackend = L.cpuBackend;
    opts.onStart?.({
      tokens: tokens.length,
      chunks: nChunk,
      ctx: nCtx,
      batch: nBatch,
      sequencesPerBatch: nSeq,
      description,
      cpuBackend,
      ctxTrain: fn.nCtxTrain!(model),
    });

    batch = fn.batchInit!(Math.min(nBatch, nCtx * nSeq), 0, 1);
    const cap = Math.min(nBatch, nCtx * nSeq);
    const bTok = new Int32Array(koffi.view(batch.token, cap * 4));
    const bPos = new Int32Array(koffi.view(batch.pos, cap * 4));
    const bNSeq = new Int32Array(koffi.view(batch.n_seq_id, cap * 4));
    const bLogits = new Int8Array(koffi.view(batch.logits, cap));
    const seqPtrs: Ptr[] = koffi.decode(batch.seq_id, koffi.array('void *', cap));
    const bSeq = seqPtrs.map((p) => new Int32Array(koffi.view(p, 4)));

    const numBatches = Math.ceil(nCtx / nBatch);
    const perplexity = opts.perplexity ?? true;
    let nll = 0,
      nll2 = 0,
      count = 0;
    const logitsAcc = perplexity && numBatches > 1 ? new Float32Array(nCtx * nVocab) : null;
    const t0 = performance.now();
    const mem = fn.getMemory!(ctx);
    let done = 0;
    for (let i = 0; i < nChunk; i += nSeq) {
      const start = i * nCtx;
      const nSeqBatch = Math.min(nSeq, nChunk - i);
      fn.memoryClear!(mem, true);
      let accLen = 0;
      for (let j = 0; j < numBatches; j++) {
        const batchStart = start + j * nBatch;
        const batchSize = Math.min(start + nCtx - batchStart, nBatch);
        let n = 0;
        for (let seq = 0; seq < nSeqBatch; seq++) {
          const seqStart = batchStart + seq * nCtx;
          for (let k = 0; k < batchSize; k++) {
            bTok[n] = addBos && j === 0 && k === 0 ? bos : tokens[seqStart + k]!;
            bPos[n] = j * nBatch + k;
            bNSeq[n] = 1;
            bSeq[n]![0] = seq;
            bLogits[n] = 1;
            n++;
          }
        }
        batch.n_tokens = n;
        const rc = fn.decode!(ctx, batch);
        if (failure) throw chunkFailure(failure, i + 1, nSeqBatch);
        if (rc !== 0)
          throw new LowbitError(
            `${opts.model}: llama_decode failed (${rc}) on chunk ${i + 1}${lastLogLine(L.log.text)}`,
          );
        if (logitsAcc) {
          const p = fn.logitsIth!(ctx, 0);
          logitsAcc.set(new Float32Array(koffi.view(p, batchSize * nVocab * 4)), accLen);
          accLen += batchSize * nVocab;
        }
      }
      let ppl = NaN;
      if (perplexity) {
        const firstScored = nCtx >> 1;
        for (let seq = 0; seq < nSeqBatch; seq++) {
          const all = logitsAcc ?? new Float32Array(koffi.view(fn.logitsIth!(ctx, seq * nCtx), nCtx * nVocab * 4));
          const tk = start + seq * nCtx + firstScored;
          const nTok = nCtx - 1 - firstScored;
          for (let q = 0; q < nTok; q++) {
            const v = -logSoftmax(all, (firstScored + q) * nVocab, nVocab, tokens[tk + q + 1]!);
            nll += v;
            nll2 += v * v;
          }
          count += nTok;
          ppl = Math.exp(nll / count);
          done++;
          await opts.onChunk?.({
            chunk: i + seq + 1,
            chunks: nChunk,
            ppl,
            tokensDone: done * nCtx,
            tokensTotal: nChunk * nCtx,
            seconds: (performance.now() - t0) / 1000,
          });
        }
      } else {
        for (let seq = 0; seq < nSeqBatch; seq++) {
          done++;
          await opts.onChunk?.({
            chunk: i + seq + 1,
            chunks: nChunk,
            ppl,
            tokensDone: done * nCtx,
            tokensTotal: nChunk * nCtx,
            seconds: (performance.now() - t0) / 1000,
          });
        }
      }
      // let signals (Ctrl-C) and timers run between decodes
      await new Promise((r) => setImmediate(r));
    }
    const seconds = (performance.now() - t0) / 1000;
    let ppl = NaN,
      pplError = NaN;
    if (perplexity && count > 0) {
      const m = nll / count;
      ppl = Math.exp(m);
      let v = nll2 / count - m * m;
      if (v > 0) {
        v = Math.sqrt(v / (count - 1));
        pplError = v * ppl;
      }
    }
    return {
      tokens: nChunk * nCtx,
      chunks: nChunk,
      ppl,
      pplError,
      seconds,
      tokensPerSecond: (nChunk * nCtx) / seconds,
    };
  } finally {
    if (batch) fn.batchFree!(batch);
    if (ctx && threadpool) fn.detachThreadpool!(ctx);
    if (ctx) fn.freeContext!(ctx);
    if (threadpool) threadpoolFree?.(threadpool);
    fn.freeModel!(model);
    if (cb) koffi.unregister(cb);
  }
}

function chunkFailure(e: unknown, firstChunk: number, n: number): unknown {
  const chunks = n > 1 ? `chunks ${firstChunk}-${firstChunk + n - 1}` : `chunk ${firstChunk}`;
  if (e instanceof NonFiniteActivationError)
    return new LowbitError(
      `non-finite activations in ${e.tensor} (${chunks}): the model produces NaN/Inf on this text`,
      'ENONFINITE',
    );
  if (e instanceof LowbitError) return new LowbitError(`${e.message} (${chunks})`, e.code, e.errno);
  return e;
}

/** llama-imatrix's log_softmax(): max, sum of expf(l - max) in double, logit - max - log(sum). */
function logSoftmax(l: Float32Array, off: number, n: number, tok: number): number {
  let max = l[off]!;
  for (let i = 1; i < n; i++) {
    const v = l[off + i]!;
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.fround(Math.exp(Math.fround(l[off + i]! - max)));
  return Math.fround(l[off + tok]! - max) - Math.log(sum);
}

/** llama-imatrix's filter_tensor_name: CUDA0#blk.0.attn_k.weight#0 → blk.0.attn_k.weight */
export function filterName(name: string): string {
  const p = name.indexOf('#');
  if (p < 0) return name;
  const q = name.indexOf('#', p + 1);
  return q < 0 ? name.slice(p + 1) : name.slice(p + 1, q);
}

function lastLogLine(log: string): string {
  const lines = log
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /error|fail|unknown|invalid/i.test(s));
  const l = lines[lines.length - 1];
  return l ? ` (llama.cpp: ${l.replace(/^\w+:\s*/, '')})` : '';
}
