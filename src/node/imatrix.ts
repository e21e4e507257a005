// `lowbit imatrix` as a library call: merge --in-file matrices, run the model over the calibration
// text in llama.cpp (imatrix-llama.ts), save in llama-imatrix's GGUF or legacy format. Every save is
// atomic (temp + rename), so an interrupted run leaves the last complete save or nothing.
import { readFile, realpath, stat, access, constants } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { readGgufHeader } from '../io/gguf/reader.js';
import { assertSpellable } from '../io/gguf/spm-spelling.js';
import type { GgufMetadata } from '../io/gguf/metadata.js';
import { LowbitError } from '../errors.js';
import { FileSource } from './file-io.js';
import { withAtomicOutput } from './atomic-output.js';
import { ImatrixCollector, type RawImatrix } from '../imatrix/collector.js';
import type { HessianAccumulator } from '../imatrix/hessian.js';
import { checkSameModel, encodeImatrixDat, readRawImatrix, writeImatrixGguf } from '../imatrix/file.js';
import { readImatrix } from '../io/imatrix.js';
import type { ImatrixInput } from '../pipeline/quantize-gguf.js';
import { runImatrix, type ImatrixProgress, type ImatrixRunInfo, type ImatrixRunResult } from './imatrix-llama.js';

export interface ImatrixFileOptions {
  model?: string;
  output: string;
  format?: 'gguf' | 'dat';
  /** calibration text file; without it (and without inFiles only) the model writes its own documents */
  textFile?: string;
  /** the option that named the text, for errors (default --text) */
  textOption?: string;
  /** no text at all: merge the in-files only (as llama-imatrix without -f) */
  mergeOnly?: boolean;
  inFiles?: readonly string[];
  ctx?: number;
  chunks?: number;
  firstChunk?: number;
  threads?: number;
  batch?: number;
  parseSpecial?: boolean;
  processOutput?: boolean;
  perplexity?: boolean;
  /** save every N chunks (default 10) and, with saveFrequency, a copy <output>.at_<chunk> every M */
  outputFrequency?: number;
  saveFrequency?: number;
  /** generated text: seed and number of documents at most */
  seed?: number;
  onStart?: (info: ImatrixRunInfo & { text: string; quantized: string | null }) => void;
  onChunk?: (p: ImatrixProgress) => void;
  /** a save is about to start / has been renamed into place */
  onSaveStart?: (path: string, chunks: number) => void;
  onSave?: (path: string, chunks: number) => void;
  /** before generating the text (it takes a while) */
  onGenerate?: () => void;
  /** also sum each dense weight's activation second moments here (--encoder gptq) */
  hessian?: HessianAccumulator;
}

export interface ImatrixFileResult {
  output: string;
  entries: number;
  chunks: number;
  chunkSize: number;
  datasets: string[];
  run: ImatrixRunResult | null;
  /** how the text was obtained */
  text: string;
  /** what the run read (the text's bytes or the generated tokens), for more passes over the same input */
  input?: { text?: Uint8Array; tokens?: Int32Array };
}

/**
 * The seed of the documents a model writes for its own calibration when no text is given: 2, so
 * that they are never the documents `lowbit eval` judges by default (seed 1).
 */
export const GENERATED_CALIBRATION_SEED = 2;

/** The dataset name recorded for generated text (imatrix.datasets). */
export function generatedDatasetName(model: string, seed: number, documents: number): string {
  // the file's name, not its folder: the bytes of every file that records it (the matrix, the
  // models quantized with it) must not depend on where the model sits (convert hf's temp folder)
  return `generated: ${documents} documents written by ${basename(model)} (seed ${seed}, lowbit)`;
}

/** Output-vs-input refusal for the imatrix output: the output may be none of the inputs (realpath). */
export async function refuseOutputIsInput(output: string, inputs: readonly (string | undefined)[]): Promise<void> {
  const real = async (p: string) => {
    try {
      return await realpath(p);
    } catch {
      return resolve(p);
    }
  };
  const out = await real(output);
  for (const i of inputs)
    if (i !== undefined && (await real(i)) === out)
      throw new LowbitError(`output ${output} is the input file ${i}; choose another output path`);
}

/** Fails before any work when the output's folder is missing or not writable. */
export async function checkOutputFolder(output: string): Promise<void> {
  const dir = dirname(resolve(output));
  try {
    if (!(await stat(dir)).isDirectory()) throw new LowbitError(`cannot write ${output}: ${dir} is not a folder`);
    await access(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof LowbitError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new LowbitError(
      `cannot write ${output}: ${code === 'ENOENT' ? `folder ${dir} does not exist` : `folder ${dir} is not writable (${code})`}`,
    );
  }
}

/**
 * The model's header, read once: its metadata (the vocabulary a calibration text is checked
 * against) and its quantized weight types (e.g. 'Q4_K'), null when its matrices are float.
 * llama-imatrix runs quantized models too; their matrix is of the activations the quantized model
 * produces.
 */
async function readModelHeader(model: string): Promise<{ metadata: GgufMetadata; quantized: string | null }> {
  const src = await FileSource.open(model);
  try {
    const f = await readGgufHeader(src);
    const q = new Set<string>();
    for (const t of f.tensors)
      if (t.dims.length >= 2 && !['f32', 'f16', 'bf16'].includes(t.type.ggmlName.toLowerCase()))
        q.add(t.type.ggmlName.toUpperCase());
    return { metadata: f.metadata, quantized: q.size ? [...q].join(', ') : null };
  } catch (e) {
    if (e instanceof LowbitError)
      throw new LowbitError(`${model}: not a GGUF model llama.cpp can run (${e.message.replace(`${model}: `, '')})`);
    throw e;
  } finally {
    await src.close();
  }
}

export async function computeImatrixFile(o: ImatrixFileOptions): Promise<ImatrixFileResult> {
  const ctx = o.ctx ?? 512;
  const format = o.format ?? 'gguf';
  await refuseOutputIsInput(o.output, [o.model, o.textFile, ...(o.inFiles ?? [])]);
  await checkOutputFolder(o.output);
  const header = o.model && !o.mergeOnly ? await readModelHeader(o.model) : null;
  const quantized = header?.quantized ?? null;
  const collector = new ImatrixCollector({ chunkSize: ctx, processOutput: o.processOutput, hessian: o.hessian });

  // merge existing matrices (llama-imatrix's load_imatrix), checking they describe one model
  let first: { raw: RawImatrix; name: string } | null = null;
  for (const f of o.inFiles ?? []) {
    const src = await FileSource.open(f);
    let raw: RawImatrix;
    try {
      raw = await readRawImatrix(src);
    } finally {
      await src.close();
    }
    if (first) checkSameModel(first.raw, first.name, raw, f);
    else first = { raw, name: f };
    collector.merge(raw);
  }

  let dataset = '';
  let run: ImatrixRunResult | null = null;
  let input: ImatrixFileResult['input'];
  let textDesc = 'none (merged matrices only)';
  const save = async (path: string) => {
    await withAtomicOutput(path, async (out) => {
      if (format === 'dat') await out.sink.write(encodeImatrixDat(collector, { dataset }));
      else await writeImatrixGguf(out.sink, collector, { dataset });
    });
  };

  if (!o.mergeOnly) {
    if (!o.model) throw new LowbitError('imatrix needs a model to run');
    let text: Uint8Array | undefined;
    let tokens: Int32Array | undefined;
    if (o.textFile !== undefined) {
      // the bytes as they are (llama.cpp reads the file raw), minus one trailing newline as its -f does
      try {
        text = await readFile(o.textFile);
      } catch (e) {
        throw new LowbitError(
          `cannot read ${o.textOption ?? '--text'} ${o.textFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      if (text.length && text[text.length - 1] === 0x0a) text = text.subarray(0, text.length - 1);
      assertSpellable(o.model, header!.metadata, text, !!o.parseSpecial);
      dataset = o.textFile;
      textDesc = `${o.textFile}`;
    } else {
      o.onGenerate?.();
      const { generateEvalText } = await import('../eval/llama.js');
      const seed = o.seed ?? GENERATED_CALIBRATION_SEED;
      const want = (o.chunks !== undefined && o.chunks > 0 ? Math.max(2, o.chunks) : 8) * ctx + ctx;
      const g = await generateEvalText({ model: o.model, seed, threads: o.threads, minTokens: want, docs: 1000, ctx });
      // the generated stream starts with BOS; llama-imatrix would put BOS first too
      tokens = Int32Array.from(g.tokens);
      dataset = generatedDatasetName(o.model, seed, g.documents);
      textDesc = `${g.documents} documents the model wrote (seed ${seed}, ${g.tokens.length} tokens)`;
    }
    input = { text, tokens };
    const outFreq = o.outputFrequency ?? 10;
    const saveFreq = o.saveFrequency ?? 0;
    let savedOut = -1,
      savedCopy = -1;
    run = await runImatrix({
      model: o.model,
      collector,
      text,
      tokens,
      parseSpecial: o.parseSpecial,
      ctx,
      chunks: o.chunks,
      firstChunk: o.firstChunk,
      threads: o.threads,
      batch: o.batch,
      perplexity: o.perplexity,
      onStart: (info) => o.onStart?.({ ...info, text: textDesc, quantized }),
      onChunk: async (p) => {
        o.onChunk?.(p);
        // chunks decoded together (--batch-size) finish together: one save of each kind per decode at most
        if (p.chunk >= p.chunks) return;
        const n = collector.lastChunk;
        if (outFreq > 0 && p.chunk % outFreq === 0 && savedOut !== n) {
          savedOut = n;
          o.onSaveStart?.(o.output, n);
          await save(o.output);
          o.onSave?.(o.output, n);
        }
        if (saveFreq > 0 && p.chunk % saveFreq === 0 && savedCopy !== n) {
          savedCopy = n;
          const at = `${o.output}.at_${n}`;
          o.onSaveStart?.(at, n);
          await save(at);
          o.onSave?.(at, n);
        }
      },
    });
  } else if (!(o.inFiles ?? []).length) {
    throw new LowbitError('nothing to do: no text to run and no --in-file to merge');
  }
  await save(o.output);
  const datasets = [...collector.datasets, ...(dataset ? [dataset] : [])];
  return {
    output: o.output,
    entries: collector.stats.size,
    chunks: collector.lastChunk,
    chunkSize: ctx,
    datasets,
    run,
    text: textDesc,
    input,
  };
}

/** An imatrix file as quantize takes it (llama-quantize's load_imatrix, no include/exclude filter). */
export async function loadImatrixInput(path: string): Promise<ImatrixInput> {
  const src = await FileSource.open(path);
  try {
    const im = await readImatrix(src);
    const p = im.provenance;
    return {
      data: im.data,
      provenance: { file: path, dataset: p.datasets[0], entries: im.data.size, chunks: p.chunkCount },
    };
  } finally {
    await src.close();
  }
}
