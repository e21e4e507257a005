// Node glue for `lowbit convert`: opens the input files, runs a converter, and writes the GGUF
// through an atomic output (temp file renamed into place), so a failed run leaves no partial file.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { withAtomicOutput } from './atomic-output.js';
import { quantizeGguf, type QuantizeOptions } from '../pipeline/quantize-gguf.js';
import { withNodeExecutor } from './quantize-file.js';
import { VirtualGgufSource } from '../convert/virtual-gguf.js';
import { parseFileType } from '../plan/file-types.js';
import { LowbitError, FileFormatError } from '../errors.js';
import { parseHfConfig } from '../convert/hf/config.js';
import { buildHfVocab } from '../convert/hf/tokenizer.js';
import { convertHf } from '../convert/hf/convert.js';
import { openSafetensorsDir } from './safetensors-files.js';
import { FileSource } from './file-io.js';
import { refuseOutputOverInputs } from './output-guard.js';
import { readLlama2cCheckpoint, readLlama2cTokenizer } from '../io/llama2c.js';
import { convertLlama2c } from '../convert/llama2c.js';
import { byteVocab, vocabFromLlama2cTokenizer } from '../convert/llama2c-vocab.js';
import { writeConvertedGguf, FLOAT_OUT_TYPES, type ClampReport, type WriteProgress } from '../convert/write-gguf.js';
import type { ConvertedModel, StoreType } from '../convert/model.js';
import type { QuantPlan } from '../plan/plan.js';

/**
 * Writes a converted model to `outPath` through an atomic output (temp + rename). Float types are
 * written directly; any other llama.cpp file type (Q8_0, Q4_K_M, ...) runs the quantize pipeline
 * over the model presented as its F32 GGUF (VirtualGgufSource): one streaming pass, no
 * intermediate file, and the same bytes as convert to F32 followed by `lowbit quantize`.
 */
export async function writeConvertedFile(
  model: ConvertedModel,
  outPath: string,
  type: string,
  inputs: string[],
  progress?: WriteProgress,
  quantize: ConvertQuantizeOptions = {},
): Promise<ClampReport> {
  return (await writeConverted(model, outPath, type, inputs, progress, quantize)).clamped;
}

/** writeConvertedFile, also giving the quantize plan of a quantized type (to say which tensors fell back). */
async function writeConverted(
  model: ConvertedModel,
  outPath: string,
  type: string,
  inputs: string[],
  progress?: WriteProgress,
  quantize: ConvertQuantizeOptions = {},
): Promise<{ clamped: ClampReport; plan?: QuantPlan }> {
  const up = type.toUpperCase();
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(up)) {
    return {
      clamped: await withAtomicOutput(
        outPath,
        (out) => writeConvertedGguf(out.sink, model, up as StoreType, progress, quantize.allowNonfinite),
        { inputs },
      ),
    };
  }
  const fileType = parseFileType(type);
  const src = await VirtualGgufSource.create(model, inputs[0] ?? 'converted model');
  try {
    const s = await withAtomicOutput(
      outPath,
      (out) =>
        quantizeGguf(
          src,
          out.sink,
          withNodeExecutor({ ...quantize, fileType, onProgress: quantize.onProgress ?? progress }),
        ),
      { inputs },
    );
    return { clamped: s.clamped, plan: s.plan };
  } finally {
    await src.close();
  }
}

export interface ConvertSummary {
  tensors: number;
  vocab: number;
  tokenizer: string;
  /** tensors with values beyond the F16/BF16 range, clamped */
  clamped: ClampReport;
  /** a quantized --type: the plan (fallbackWarning(plan) says which tensors could not take the requested type) */
  plan?: QuantPlan;
}

/** The quantize command's options (mixes, overrides, imatrix, threads) for a quantized output type. */
export type ConvertQuantizeOptions = Omit<QuantizeOptions, 'fileType'>;

export async function convertLlama2cFiles(
  modelPath: string,
  tokenizerPath: string | undefined,
  outPath: string,
  outType: string,
  progress?: WriteProgress,
  quantize?: ConvertQuantizeOptions,
): Promise<ConvertSummary> {
  refuseOutputOverInputs([outPath], [modelPath, ...(tokenizerPath ? [tokenizerPath] : []), ...imatrixFile(quantize)]);
  const src = await FileSource.open(modelPath);
  try {
    const ckpt = await readLlama2cCheckpoint(src);
    let vocab;
    if (tokenizerPath) {
      const tsrc = await FileSource.open(tokenizerPath);
      try {
        vocab = vocabFromLlama2cTokenizer(await readLlama2cTokenizer(tsrc, ckpt.config.vocabSize));
      } finally {
        await tsrc.close();
      }
    } else vocab = byteVocab(ckpt.config.vocabSize);
    const name = basename(modelPath).replace(/\.bin$/, '');
    const model: ConvertedModel = convertLlama2c(src, ckpt, vocab, { name });
    const { clamped, plan } = await writeConverted(
      model,
      outPath,
      outType,
      [modelPath, ...(tokenizerPath ? [tokenizerPath] : []), ...imatrixFile(quantize)],
      progress,
      quantize,
    );
    return {
      tensors: model.tensors.length,
      vocab: vocab.tokens.length,
      tokenizer: tokenizerPath ? 'llama2.c tokenizer.bin' : 'byte-level stand-in (no --tokenizer)',
      clamped,
      plan,
    };
  } finally {
    await src.close();
  }
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LowbitError(`${what}: ${path} not found`);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(path, `not valid JSON (${(e as Error).message})`);
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface HfConvertFileOptions {
  pre?: string;
  name?: string;
}

/** Reads a Hugging Face model directory (config.json, safetensors, tokenizer files) as a ConvertedModel. */
export async function openHfModelDir(
  dir: string,
  opts: HfConvertFileOptions = {},
): Promise<{ model: ConvertedModel; close: () => Promise<void>; vocab: number; tokenizer: string }> {
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new LowbitError(`${dir}: not a model directory`);
  const cfg = parseHfConfig(
    await readJson(join(dir, 'config.json'), 'the model directory needs config.json'),
    join(dir, 'config.json'),
  );
  const tokenizerModel = await readOptional(join(dir, 'tokenizer.model'));
  const tjBytes = await readOptional(join(dir, 'tokenizer.json'));
  const tcBytes = await readOptional(join(dir, 'tokenizer_config.json'));
  const parse = (b: Buffer | undefined, p: string) => {
    if (!b) return undefined;
    try {
      return JSON.parse(b.toString('utf8'));
    } catch (e) {
      throw new FileFormatError(p, `not valid JSON (${(e as Error).message})`);
    }
  };
  const chatTemplateFile = (await readOptional(join(dir, 'chat_template.jinja')))?.toString('utf8');
  const addedTokensJson = parse(await readOptional(join(dir, 'added_tokens.json')), join(dir, 'added_tokens.json'));
  const vocab = buildHfVocab(
    {
      tokenizerModel: tokenizerModel ? new Uint8Array(tokenizerModel) : undefined,
      tokenizerJson: parse(tjBytes, join(dir, 'tokenizer.json')),
      tokenizerConfig: parse(tcBytes, join(dir, 'tokenizer_config.json')),
      chatTemplateFile,
      addedTokensJson,
    },
    cfg,
    { pre: opts.pre },
  );
  const set = await openSafetensorsDir(dir);
  try {
    const model = convertHf(cfg, set, vocab, { name: opts.name ?? basename(resolve(dir)) });
    const tokenizer = tokenizerModel
      ? 'tokenizer.model (SentencePiece)'
      : `tokenizer.json (${vocab.model}${vocab.pre ? `, pre ${vocab.pre}` : ''})`;
    return { model, close: () => set.close(), vocab: vocab.tokens.length, tokenizer };
  } catch (e) {
    await set.close();
    throw e;
  }
}

/** The imatrix file a quantized conversion reads, if any. */
function imatrixFile(q?: ConvertQuantizeOptions): string[] {
  return q?.imatrix?.provenance.file ? [q.imatrix.provenance.file] : [];
}

/**
 * Every file `convert hf` may read from a model directory, named before any is opened: config,
 * tokenizer and chat-template files, the safetensors index, every *.safetensors file in it and
 * every shard the index names (the index, a small JSON list, is the only file read to know them).
 */
export async function hfInputFiles(dir: string): Promise<string[]> {
  const files = [
    'config.json',
    'tokenizer.model',
    'tokenizer.json',
    'tokenizer_config.json',
    'chat_template.jinja',
    'model.safetensors',
    'model.safetensors.index.json',
  ].map((f) => join(dir, f));
  try {
    files.push(...(await readdir(dir)).filter((n) => n.endsWith('.safetensors')).map((n) => join(dir, n)));
  } catch {
    /* not a folder: said later */
  }
  try {
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map?: Record<string, unknown>;
    };
    for (const v of Object.values(index.weight_map ?? {})) if (typeof v === 'string') files.push(join(dir, v));
  } catch {
    /* no index, or not valid: the reader says so later */
  }
  return [...new Set(files)];
}

export async function convertHfDir(
  dir: string,
  outPath: string,
  outType: string,
  opts: HfConvertFileOptions = {},
  progress?: WriteProgress,
  quantize?: ConvertQuantizeOptions,
): Promise<ConvertSummary> {
  const inputs = [...(await hfInputFiles(dir)), ...imatrixFile(quantize)];
  refuseOutputOverInputs([outPath], inputs);
  const { model, close, vocab, tokenizer } = await openHfModelDir(dir, opts);
  try {
    const { clamped, plan } = await writeConverted(model, outPath, outType, [dir, ...inputs], progress, quantize);
    return { tensors: model.tensors.length, vocab, tokenizer, clamped, plan };
  } finally {
    await close();
  }
}
