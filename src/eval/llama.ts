// `lowbit eval` for GGUF: runs models in llama.cpp (node-llama-cpp 3.21.1, CPU) and scores them with
// llama-perplexity's method (see src/analysis/perplexity.ts): perplexity, and against a reference
// mean KL(ref ‖ model), its 99th percentile and the share of positions with the same top token.
//
// How the per-position distributions are read: LlamaContextSequence.controlledEvaluate() with
// `generateNext: { probabilities: true }` on each scored position. node-llama-cpp's greedy sampler
// leaves the logits untouched, so this returns softmax(logits) for the whole vocabulary, computed in
// float by the addon; we take log p as the logits (softmax is shift-invariant). A probability that
// underflows to 0 in float is read as the smallest float's log (≈ -103.3 nats).
//
// Settings chosen so llama.cpp adds no noise of its own: F32 K and V cache (not the default F16),
// flash attention off, one batch per chunk (batch size = context), KV cache cleared before each chunk.
import { stat } from 'node:fs/promises';
import type { Llama, LlamaModel, LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import { loadEngine } from '../node/engines.js';
import {
  KlAccumulator,
  PerplexityAccumulator,
  encodeBaseLogProbs,
  logProbStride,
  perplexityChunks,
  type PerplexityChunk,
} from '../analysis/perplexity.js';
import { LowbitError } from '../errors.js';
import { FileSource } from '../node/file-io.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { refuseUnspellable } from '../node/spelling.js';
import { metaInt } from '../io/gguf/metadata.js';

export interface GgufEvalOptions {
  /** the model to judge */
  model: string;
  /** reference model (e.g. the F16/F32 original): enables KL divergence and same-top */
  ref?: string;
  /** evaluation text; default: documents the reference (or the model itself) generates */
  text?: string;
  /** or an already generated token stream (generateEvalText), e.g. shared by many evals against one reference */
  generated?: GeneratedText;
  /** tokens per chunk (llama-perplexity's -c); default min(512, the model's training context) */
  ctx?: number;
  /** at most this many chunks (default 16) */
  chunks?: number;
  /** tokens to generate for the generation speed (default 64) */
  genTokens?: number;
  /** seed of the generated documents (default 1) */
  seed?: number;
  threads?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** called at once with each warning (also listed in the result's `warnings`) */
  onWarning?: (message: string) => void;
}

export interface GgufEvalResult {
  model: string;
  ref?: string;
  sizeBytes: number;
  refSizeBytes?: number;
  /** tokens the text has, chunks scored, positions scored */
  tokens: number;
  chunks: number;
  ctx: number;
  scored: number;
  perplexity: number;
  perplexityUncertainty: number;
  /** with ref: PPL of the reference over the same positions */
  refPerplexity?: number;
  klMean?: number;
  klUncertainty?: number;
  klMedian?: number;
  klP99?: number;
  klMax?: number;
  /** with ref: percentage (0-100) of positions where both models' top token is the same */
  sameTopPct?: number;
  /** RMS of p_model(token) - p_ref(token), 0-1 */
  pDiffRms?: number;
  /** prompt processing (a full chunk as one batch) and generation speed of the model, tokens/s */
  ppTokPerSec: number;
  genTokPerSec: number;
  text: { source: 'file' | 'generated'; documents?: number; seed?: number; by?: string };
  /** what makes the figures doubtful: --ctx beyond the training context, a --ref that is another model */
  warnings: string[];
  settings: EvalSettings;
}

export interface EvalSettings {
  engine: string;
  kvCache: string;
  flashAttention: boolean;
  batchSize: number;
  threads: number;
  method: string;
}

let llamaPromise: Promise<Llama> | undefined;

/**
 * One llama.cpp instance per process (CPU only; never builds or downloads binaries). node-llama-cpp
 * is an optional peer dependency: when it is missing this throws a LowbitError naming the package
 * to install; `forWhat` says what needed it.
 */
export async function getCpuLlama(forWhat = 'evaluating a GGUF model (lowbit evalGguf)'): Promise<Llama> {
  if (!llamaPromise) {
    llamaPromise = (async () => {
      const { getLlama, LlamaLogLevel } = await loadEngine<typeof import('node-llama-cpp')>('node-llama-cpp', forWhat);
      return getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
    })();
  }
  return llamaPromise;
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  seq: LlamaContextSequence;
  nVocab: number;
  /** requested context: the chunk length */ ctx: number;
  path: string;
  arch: string;
  /** <arch>.context_length (0: not given) */ trainCtx: number;
}

/** `<arch>.context_length` of a GGUF file (0 when not given), from its header alone. */
export async function ggufTrainContext(path: string): Promise<number> {
  const src = await FileSource.open(path);
  try {
    const f = await readGgufHeader(src);
    const arch = f.metadata.get('general.architecture');
    return (arch?.type === 'string' ? metaInt(f.metadata, `${arch.value}.context_length`) : undefined) ?? 0;
  } finally {
    await src.close();
  }
}

/** At most this many chunks unless --chunks says otherwise (eval and report --eval alike). */
export const DEFAULT_EVAL_CHUNKS = 16;

/** The default chunk length, as llama-perplexity's users get it: min(512, the model's training context). */
export function defaultEvalCtx(trainCtx: number): number {
  return Math.min(512, trainCtx || 512);
}

async function load(path: string, ctx: number | undefined, threads: number | undefined): Promise<Loaded> {
  await stat(path); // ENOENT as a plain one-line error
  const llama = await getCpuLlama();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  } catch (e) {
    throw new LowbitError(`${path}: llama.cpp cannot load it: ${(e as Error).message.split('\n')[0]}`);
  }
  const n = ctx ?? defaultEvalCtx(model.trainContextSize);
  const context = await model.createContext({
    contextSize: n,
    batchSize: n,
    sequences: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    // one thread by default: ggml's worker threads spin-wait on each other, which on a busy or
    // shared machine makes evaluation orders of magnitude slower
    threads: threads ?? 1,
  });
  const arch = String(
    (model.fileInfo.metadata as { general?: { architecture?: unknown } }).general?.architecture ?? '?',
  );
  return {
    model,
    context,
    seq: context.getSequence(),
    nVocab: vocabSize(model),
    ctx: n,
    path,
    arch,
    trainCtx: model.trainContextSize || 0,
  };
}

function meta(l: Loaded, key: string): unknown {
  let v: unknown = l.model.fileInfo.metadata;
  for (const k of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return v;
}

/**
 * What makes the figures implausible, said instead of printed silently: a chunk longer than a
 * model's training context, or a --ref that is another model (other architecture, shape or vocabulary).
 */
function evalWarnings(model: Loaded, ref: Loaded | undefined, ctxGiven: boolean): string[] {
  const w: string[] = [];
  if (ctxGiven) {
    for (const l of ref ? [model, ref] : [model]) {
      if (l.trainCtx > 0 && l.ctx > l.trainCtx) {
        w.push(
          `--ctx ${l.ctx} exceeds the training context of ${l.path} (${l.arch}.context_length = ${l.trainCtx}): positions beyond it were never trained, so its perplexity there is not meaningful; use --ctx ${l.trainCtx} or less`,
        );
      }
    }
  }
  if (ref) {
    const diffs: string[] = [];
    if (ref.arch !== model.arch) diffs.push(`architecture ${model.arch} vs ${ref.arch}`);
    else {
      for (const k of ['embedding_length', 'block_count', 'feed_forward_length', 'attention.head_count']) {
        const a = meta(model, `${model.arch}.${k}`),
          b = meta(ref, `${ref.arch}.${k}`);
        if (a !== undefined && b !== undefined && String(a) !== String(b))
          diffs.push(`${model.arch}.${k} ${String(a)} vs ${String(b)}`);
      }
    }
    const ta = meta(model, 'tokenizer.ggml.tokens'),
      tb = meta(ref, 'tokenizer.ggml.tokens');
    if (Array.isArray(ta) && Array.isArray(tb) && ta.length === tb.length) {
      const i = ta.findIndex((t, j) => t !== tb[j]);
      if (i >= 0)
        diffs.push(`a different vocabulary (token ${i} is ${JSON.stringify(ta[i])} vs ${JSON.stringify(tb[i])})`);
    }
    if (diffs.length) {
      w.push(
        `--ref ${ref.path} is a different model from ${model.path} (${diffs.join('; ')}): KL divergence and same-top compare two unrelated models, not a quantization with its source`,
      );
    }
  }
  return w;
}

function vocabSize(model: LlamaModel): number {
  const toks = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } }).tokenizer?.ggml?.tokens;
  if (Array.isArray(toks)) return toks.length;
  throw new LowbitError(`${model.filename ?? 'model'}: no tokenizer.ggml.tokens in the GGUF`);
}

async function unload(l: Loaded | undefined): Promise<void> {
  if (!l) return;
  await l.context.dispose();
  await l.model.dispose();
}

const LOG_FLT_TRUE_MIN = Math.log(1.401298464324817e-45);

/** Full-vocabulary log-probabilities at the requested positions of one evaluated chunk. */
async function chunkLogProbs(l: Loaded, chunk: PerplexityChunk): Promise<Float32Array[]> {
  await l.seq.clearHistory();
  const last = chunk.tokens.length - 2;
  const input = chunk.tokens.map((t, i) =>
    i >= chunk.first && i <= last ? ([t as Token, { generateNext: { probabilities: true } }] as const) : (t as Token),
  );
  const out = await l.seq.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
  const res: Float32Array[] = [];
  for (let i = chunk.first; i <= last; i++) {
    const probs = out[i]?.next.probabilities;
    if (!probs) throw new LowbitError(`llama.cpp returned no probabilities at position ${i}`);
    if (probs.size !== l.nVocab)
      throw new LowbitError(`llama.cpp returned ${probs.size} probabilities for a vocabulary of ${l.nVocab}`);
    const lp = new Float32Array(l.nVocab);
    for (const [tok, p] of probs) lp[tok] = p > 0 ? Math.log(p) : LOG_FLT_TRUE_MIN;
    res.push(lp);
  }
  return res;
}

function tokenizeForPerplexity(model: LlamaModel, text: string): number[] {
  // llama-perplexity: common_tokenize(ctx, text, add_special = true, parse_special = false)
  const toks = model.tokenize(text, false) as number[];
  const bos = model.tokens.bos;
  return model.tokens.shouldPrependBosToken && bos !== null ? [bos, ...toks] : toks;
}

/**
 * The fixed evaluation text when none is given: documents sampled from `model` (temperature 0.8,
 * top-k 40, top-p 0.95, a seed per document and step), each started from BOS and run to its
 * end-of-generation token or maxTokens, until minTokens are generated. Kept as tokens (the text
 * is for showing): with a byte-level or lossy vocabulary, detokenizing and tokenizing again would
 * not give back what the model wrote. The stream is BOS, then the documents back to back, each with
 * the end token the model ended it with. Deterministic for a given model file, seed and build.
 */
export async function generateEvalText(opts: {
  model: string;
  docs?: number;
  maxTokens?: number;
  seed?: number;
  threads?: number;
  minTokens?: number;
  ctx?: number;
}): Promise<GeneratedText> {
  const l = await load(opts.model, opts.ctx, opts.threads);
  try {
    const bos = l.model.tokens.bos;
    if (bos === null)
      throw new LowbitError(`${opts.model}: the model has no BOS token to start documents from; give --text`);
    const maxTokens = opts.maxTokens ?? Math.min(256, l.ctx);
    const texts: string[] = [];
    const tokens: number[] = [bos];
    const maxDocs = opts.docs ?? 64;
    let documents = 0;
    for (let k = 0; k < maxDocs && (opts.minTokens === undefined || tokens.length < opts.minTokens); k++) {
      await l.seq.clearHistory();
      let end: number | undefined;
      const gen = await sampleTokens(
        l,
        [bos],
        maxTokens,
        (step) => ({
          temperature: 0.8,
          topK: 40,
          topP: 0.95,
          seed: ((opts.seed ?? 1) * 65536 + k * 4096 + step) >>> 0,
        }),
        undefined,
        (t) => {
          end = t;
        },
      );
      if (!gen.length) continue;
      tokens.push(...gen);
      if (end !== undefined) tokens.push(end);
      texts.push(l.model.detokenize(gen as Token[]).trim());
      documents++;
    }
    return { text: texts.join('\n\n'), tokens, documents, by: opts.model, seed: opts.seed ?? 1 };
  } finally {
    await unload(l);
  }
}

export interface GeneratedText {
  /** the documents as text, blank-line separated (for reading; scoring uses `tokens`) */
  text: string;
  /** BOS, then each document's tokens and its end token */
  tokens: number[];
  documents: number;
  /** the model that wrote them, and the seed */
  by: string;
  seed: number;
}

type SampleOptions = { temperature: number; topK?: number; topP?: number; seed?: number };

/**
 * Sample up to `max` tokens after `prompt`, one decode per token (controlledEvaluate with a
 * per-step seed, so a document is reproducible). Stops at end-of-generation tokens when stopAtEog.
 */
async function sampleTokens(
  l: Loaded,
  prompt: readonly number[],
  max: number,
  options: (step: number) => SampleOptions,
  onToken?: () => void,
  onEog?: (token: number) => void,
): Promise<number[]> {
  const out: number[] = [];
  let input: readonly number[] = prompt;
  for (let step = 0; step < max; step++) {
    const items = input.map((t, i) =>
      i === input.length - 1
        ? ([t as Token, { generateNext: { token: true, options: options(step) } }] as const)
        : (t as Token),
    );
    const r = await l.seq.controlledEvaluate(items as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const t = r[input.length - 1]?.next.token;
    onToken?.();
    if (t === undefined || t === null) break;
    if (onEog && l.model.isEogToken(t)) {
      onEog(t);
      break;
    }
    out.push(t);
    input = [t];
  }
  return out;
}

async function speeds(l: Loaded, chunk: readonly number[], genTokens: number): Promise<{ pp: number; gen: number }> {
  // prompt processing: one chunk as one batch, no outputs; best of 3 (the first also warms up)
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    await l.seq.clearHistory();
    const t0 = performance.now();
    await l.seq.evaluateWithoutGeneratingNewTokens(chunk as Token[]);
    best = Math.min(best, performance.now() - t0);
  }
  // generation: greedy from the chunk's first tokens, one token per decode, timed from the first generated token on
  await l.seq.clearHistory();
  const prompt = chunk.slice(0, Math.min(8, chunk.length));
  const room = Math.max(2, Math.min(genTokens, l.ctx - prompt.length - 1));
  let t1 = 0;
  const gen = await sampleTokens(
    l,
    prompt,
    room,
    () => ({ temperature: 0 }),
    () => {
      if (!t1) t1 = performance.now();
    },
  );
  const n = gen.length;
  const t2 = performance.now();
  return { pp: (chunk.length / best) * 1000, gen: n > 1 ? ((n - 1) / (t2 - t1)) * 1000 : 0 };
}

export async function evalGguf(opts: GgufEvalOptions): Promise<GgufEvalResult> {
  const progress = opts.onProgress ?? (() => {});
  let text = opts.text;
  let textInfo: GgufEvalResult['text'] = { source: 'file' };
  const maxChunks = opts.chunks ?? DEFAULT_EVAL_CHUNKS;
  let ref: Loaded | undefined, model: Loaded | undefined;
  try {
    // a text llama.cpp's tokenizer would abort on, refused before anything loads
    if (text !== undefined)
      for (const m of opts.ref ? [opts.ref, opts.model] : [opts.model]) await refuseUnspellable(m, text, false);
    // the scored models first, to learn the context size the generated text must fill
    model = await load(opts.model, opts.ctx, opts.threads);
    const nCtx = model.ctx;
    if (opts.ref) ref = await load(opts.ref, nCtx, opts.threads);
    if (ref && ref.nVocab !== model.nVocab)
      throw new LowbitError(
        `--ref ${opts.ref} is a different model: the models have different vocabularies (${ref.nVocab} vs ${model.nVocab} tokens), so no KL divergence can be computed`,
        'EUSAGE',
      );
    const warnings = evalWarnings(model, ref, opts.ctx !== undefined);
    for (const w of warnings) opts.onWarning?.(w);
    let tokens: number[];
    if (text !== undefined) {
      // llama-perplexity's KL pass uses the reference's tokens
      tokens = tokenizeForPerplexity((ref ?? model).model, text);
      if (ref) {
        const mt = tokenizeForPerplexity(model.model, text);
        if (mt.length !== tokens.length || mt.some((t, i) => t !== tokens[i]))
          throw new LowbitError('the models tokenize the text differently: they do not share a vocabulary');
      }
    } else {
      let g = opts.generated;
      if (!g) {
        progress('generating text', 0, 1);
        // llama-perplexity needs at least two contexts of text, even for one chunk
        g = await generateEvalText({
          model: opts.ref ?? opts.model,
          seed: opts.seed,
          threads: opts.threads,
          minTokens: Math.max(2, maxChunks) * nCtx,
          docs: 1000,
          ctx: nCtx,
        });
      }
      tokens = g.tokens;
      textInfo = { source: 'generated', documents: g.documents, seed: g.seed, by: g.by };
    }
    const bosTok = (ref ?? model).model.tokens.shouldPrependBosToken ? (ref ?? model).model.tokens.bos : null;
    let chunks: PerplexityChunk[];
    try {
      chunks = perplexityChunks(tokens, nCtx, bosTok, maxChunks);
    } catch (e) {
      throw new LowbitError(`${(e as Error).message} (give a longer --text or a smaller --ctx)`);
    }

    const ppl = new PerplexityAccumulator();
    const kl = new KlAccumulator();
    const stride = logProbStride(model.nVocab);
    const base = new Uint16Array(stride * nCtx); // one chunk of reference log-probs: bounded memory
    for (let c = 0; c < chunks.length; c++) {
      progress('scoring', c, chunks.length);
      const ch = chunks[c]!;
      const next = (i: number) => ch.tokens[ch.first + i + 1]!;
      if (ref) {
        const r = await chunkLogProbs(ref, ch);
        r.forEach((lp, i) => encodeBaseLogProbs(lp, next(i), base, i * stride));
      }
      const m = await chunkLogProbs(model, ch);
      m.forEach((lp, i) => {
        ppl.add(lp, next(i));
        if (ref) kl.add(lp, base, i * stride, next(i));
      });
    }
    progress('scoring', chunks.length, chunks.length);
    progress('timing', 0, 1);
    const sp = await speeds(model, chunks[0]!.tokens, opts.genTokens ?? 64);
    const p = ppl.result();
    const res: GgufEvalResult = {
      model: opts.model,
      sizeBytes: (await stat(opts.model)).size,
      tokens: tokens.length,
      chunks: chunks.length,
      ctx: nCtx,
      scored: p.count,
      perplexity: p.perplexity,
      perplexityUncertainty: p.perplexityUncertainty,
      ppTokPerSec: sp.pp,
      genTokPerSec: sp.gen,
      text: textInfo,
      warnings,
      settings: {
        engine: `llama.cpp ${(await getCpuLlama()).llamaCppRelease.release} via node-llama-cpp 3.21.1, CPU`,
        kvCache: 'F32 keys and values',
        flashAttention: false,
        batchSize: nCtx,
        threads: model.context.currentThreads,
        method: `llama-perplexity: ${chunks.length} chunks of ${nCtx} tokens, each from BOS with an empty KV cache; only the second half of each chunk scored`,
      },
    };
    if (ref && opts.ref) {
      const k = kl.result();
      Object.assign(res, {
        ref: opts.ref,
        refSizeBytes: (await stat(opts.ref)).size,
        refPerplexity: k.refPerplexity,
        klMean: k.klMean,
        klUncertainty: k.klUncertainty,
        klMedian: k.klMedian,
        klP99: k.klP99,
        klMax: k.klMax,
        sameTopPct: 100 * k.sameTop,
        pDiffRms: k.pDiffRms,
      });
    }
    return res;
  } finally {
    await unload(model);
    await unload(ref);
  }
}

/** Base log-probs kept between judged models up to this many bytes (else the reference runs again). */
const JUDGE_CACHE_BYTES = 256 * 1024 * 1024;

export interface KlJudge {
  /** mean KL(ref ‖ model) on the judge's chunks (llama-perplexity's method, as evalGguf) */
  kl(model: string): Promise<number>;
  readonly ctx: number;
  readonly chunks: number;
  /** models judged so far */
  readonly judged: number;
  close(): Promise<void>;
}

/**
 * Judges many variants of one model against it on the same text: the reference is loaded once and
 * its log-probs are computed once (kept while they take at most 256 MiB, else recomputed per
 * model, so memory stays bounded), each judged model is loaded, scored and unloaded. Gives
 * exactly evalGguf's klMean for the same text, ctx and chunks; no timings, no perplexity.
 */
export async function openKlJudge(opts: {
  ref: string;
  generated: GeneratedText;
  ctx: number;
  chunks: number;
  threads?: number;
}): Promise<KlJudge> {
  const ref = await load(opts.ref, opts.ctx, opts.threads);
  let judged = 0;
  try {
    const bosTok = ref.model.tokens.shouldPrependBosToken ? ref.model.tokens.bos : null;
    const chunks = perplexityChunks(opts.generated.tokens, ref.ctx, bosTok, opts.chunks);
    const stride = logProbStride(ref.nVocab);
    const perChunk = stride * ref.ctx;
    const cached = perChunk * 2 * chunks.length <= JUDGE_CACHE_BYTES;
    const base = cached ? chunks.map(() => new Uint16Array(perChunk)) : [new Uint16Array(perChunk)];
    const fill = async (c: number, into: Uint16Array) => {
      const ch = chunks[c]!;
      const r = await chunkLogProbs(ref, ch);
      r.forEach((lp, i) => encodeBaseLogProbs(lp, ch.tokens[ch.first + i + 1]!, into, i * stride));
    };
    if (cached) for (let c = 0; c < chunks.length; c++) await fill(c, base[c]!);
    return {
      ctx: ref.ctx,
      chunks: chunks.length,
      get judged() {
        return judged;
      },
      async kl(path: string): Promise<number> {
        const m = await load(path, ref.ctx, opts.threads);
        try {
          if (m.nVocab !== ref.nVocab)
            throw new LowbitError(`${path}: a different vocabulary from ${opts.ref} (${m.nVocab} vs ${ref.nVocab})`);
          const kl = new KlAccumulator();
          for (let c = 0; c < chunks.length; c++) {
            const ch = chunks[c]!;
            const b = cached ? base[c]! : base[0]!;
            if (!cached) await fill(c, b);
            const lps = await chunkLogProbs(m, ch);
            lps.forEach((lp, i) => kl.add(lp, b, i * stride, ch.tokens[ch.first + i + 1]!));
          }
          judged++;
          return kl.result().klMean;
        } finally {
          await unload(m);
        }
      },
      close: () => unload(ref),
    };
  } catch (e) {
    await unload(ref);
    throw e;
  }
}
