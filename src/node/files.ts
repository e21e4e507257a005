// The file-level API of `lowbit/node`, with the names users know from llama.cpp and the CLI:
//   quantizeFile('in.gguf', 'out.gguf', { type: 'Q4_K_M' })      = lowbit quantize --type Q4_K_M
//   planQuantizeFile('in.gguf', { type: 'Q4_K_M' })             = lowbit quantize --dry-run
//   convertHfFolder('model_dir', 'out.gguf', { type: 'F16' })   = lowbit convert hf
//   convertLlama2cFile('model.bin', 'out.gguf', { ... })        = lowbit convert llama2c
//   inspectGgufFile('model.gguf')                               = lowbit inspect (GGUF)
//   compareGgufFiles('a.gguf', 'b.gguf')                        = lowbit compare (GGUF)
// Options are plain values (type names as strings, an imatrix as a path) and are checked before
// anything is read: a wrong or missing option is a LowbitError that names it.
import { LowbitError } from '../errors.js';
import { FileSource } from './file-io.js';
import { readImatrix } from '../io/imatrix.js';
import { readGgufHeader, type GgufFile } from '../io/gguf/reader.js';
import { metaInt, metaString } from '../io/gguf/metadata.js';
import { ggmlTypeByName } from '../formats/ggml-types.js';
import { fileTypeById, parseFileType, FILE_TYPES, FILE_TYPE_ALIASES } from '../plan/file-types.js';
import { parseKvOverride } from '../plan/kv-override.js';
import type { QuantPlan, TensorTypeOverride } from '../plan/plan.js';
import type { ImatrixInput, QuantizeOptions, QuantizeSummary } from '../pipeline/quantize-gguf.js';
import { planGgufFile, quantizeGgufFile } from './quantize-file.js';
import { convertHfDir, convertLlama2cFiles, type ConvertSummary } from './convert-files.js';
import { compareGguf, type GgufComparison } from '../analysis/compare-gguf.js';

/** llama.cpp's file types (`llama-quantize` names); case-insensitive, `Q4_K` means `Q4_K_M`. */
export type GgufFileTypeName =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'Q8_0'
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q2_K'
  | 'Q2_K_S'
  | 'Q3_K_S'
  | 'Q3_K_M'
  | 'Q3_K_L'
  | 'Q4_K_S'
  | 'Q4_K_M'
  | 'Q5_K_S'
  | 'Q5_K_M'
  | 'Q6_K'
  | 'IQ1_S'
  | 'IQ1_M'
  | 'IQ2_XXS'
  | 'IQ2_XS'
  | 'IQ2_S'
  | 'IQ2_M'
  | 'IQ3_XXS'
  | 'IQ3_XS'
  | 'IQ3_S'
  | 'IQ3_M'
  | 'IQ4_NL'
  | 'IQ4_XS'
  | 'TQ1_0'
  | 'TQ2_0'
  | 'MXFP4_MOE'
  | 'Q1_0'
  | 'Q2_0'
  | 'Q3_K'
  | 'Q4_K'
  | 'Q5_K';

/** Options of {@link quantizeFile}: llama-quantize's flags, by the CLI's names in camelCase. */
export interface QuantizeFileOptions {
  /** the file type to write, e.g. `'Q4_K_M'`, `'Q8_0'`, `'IQ4_XS'` (case-insensitive). Required. */
  type: GgufFileTypeName | Lowercase<GgufFileTypeName>;
  /** no mixture: every quantizable tensor gets the type's default (`--pure`) */
  pure?: boolean;
  /**
   * per-tensor types (`--tensor-type REGEX=TYPE`), tried in order, the first match wins:
   * `[['attn_v', 'Q8_0'], ['ffn_down', 'Q6_K']]` or `{ attn_v: 'Q8_0' }`
   */
  tensorTypes?: readonly (readonly [pattern: string, type: string])[] | Readonly<Record<string, string>>;
  /** ggml type for `output.weight` (`--output-tensor-type`), e.g. `'Q8_0'` */
  outputTensorType?: string;
  /** ggml type for `token_embd.weight` (`--token-embedding-type`) */
  tokenEmbeddingType?: string;
  /** keep `output.weight` as it is (`--leave-output-tensor`) */
  leaveOutputTensor?: boolean;
  /** accept already-quantized inputs (`--allow-requantize`) */
  allowRequantize?: boolean;
  /** quantize even when the input holds NaN/Inf (`--allow-nonfinite`) */
  allowNonfinite?: boolean;
  /** path of an importance matrix: llama-imatrix's GGUF format or the legacy .dat (`--imatrix`) */
  imatrix?: string;
  /** use the imatrix only for tensors whose names contain one of these (`--include-weights`) */
  includeWeights?: readonly string[];
  /** ignore the imatrix for tensors whose names contain one of these (`--exclude-weights`) */
  excludeWeights?: readonly string[];
  /** metadata overrides `KEY=TYPE:VALUE`, TYPE int, float, bool or str (`--override-kv`) */
  overrideKv?: readonly string[];
  /** layers to leave out (`--prune-layers`) */
  pruneLayers?: readonly number[];
  /** one output per input shard, named `<output minus .gguf>-00001-of-0000N.gguf` (`--keep-split`) */
  keepSplit?: boolean;
  /** worker threads (default: all cores); the output is identical for any number */
  threads?: number;
  /** called per slab with the bytes of source tensors done so far, of all */
  onProgress?: (done: number, total: number, tensor: string) => void;
}

/** What {@link quantizeFile} did: the plan it followed, sizes, time, and the files it wrote. */
export interface QuantizeFileResult extends QuantizeSummary {
  /** the file type written, by name */
  type: string;
  /** the files written (one, or one per shard with keepSplit) */
  outputs: string[];
}

const QUANTIZE_KEYS: readonly (keyof QuantizeFileOptions)[] = [
  'type',
  'pure',
  'tensorTypes',
  'outputTensorType',
  'tokenEmbeddingType',
  'leaveOutputTensor',
  'allowRequantize',
  'allowNonfinite',
  'imatrix',
  'includeWeights',
  'excludeWeights',
  'overrideKv',
  'pruneLayers',
  'keepSplit',
  'threads',
  'onProgress',
];
const BOOLEAN_KEYS = ['pure', 'leaveOutputTensor', 'allowRequantize', 'allowNonfinite', 'keepSplit'] as const;
const STRING_LIST_KEYS = ['includeWeights', 'excludeWeights', 'overrideKv'] as const;
/** names users bring from elsewhere, and the option they mean */
const DID_YOU_MEAN: Readonly<Record<string, string>> = {
  fileType: 'type',
  ftype: 'type',
  quantType: 'type',
  dtype: 'type',
  imatrixFile: 'imatrix',
  nThreads: 'threads',
};

function fail(fn: string, problem: string): never {
  throw new LowbitError(`${fn}: ${problem}`);
}

function checkKeys(fn: string, opts: object, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (known.includes(k)) continue;
    const hint = DID_YOU_MEAN[k] && known.includes(DID_YOU_MEAN[k]!) ? ` (did you mean '${DID_YOU_MEAN[k]}'?)` : '';
    fail(fn, `unknown option '${k}'${hint}; known: ${known.join(', ')}`);
  }
}

function fileTypeOption(fn: string, v: unknown, what = "option 'type'") {
  if (v === undefined) {
    fail(
      fn,
      `${what} is required: a llama.cpp file type such as 'Q4_K_M' or 'Q8_0' (known: ${FILE_TYPES.map((f) => f.name).join(', ')}, aliases ${Object.keys(FILE_TYPE_ALIASES).join(', ')})`,
    );
  }
  if (typeof v !== 'string') fail(fn, `${what} must be a file type name such as 'Q4_K_M', got ${typeof v}`);
  try {
    return parseFileType(v);
  } catch (e) {
    fail(fn, `${what}: ${(e as Error).message}`);
  }
}

function ggmlTypeOption(fn: string, key: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(fn, `option '${key}' must be a ggml type name such as 'Q8_0', got ${typeof v}`);
  const t = ggmlTypeByName(v.trim());
  if (!t) fail(fn, `option '${key}': unknown ggml type '${v}'`);
  return t.id;
}

function tensorTypesOption(fn: string, v: QuantizeFileOptions['tensorTypes']): TensorTypeOverride[] | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object')
    fail(fn, "option 'tensorTypes' must be [[pattern, type], ...] or { pattern: type }");
  const entries: (readonly [unknown, unknown])[] = Array.isArray(v) ? v : Object.entries(v);
  return entries.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2) fail(fn, `tensorTypes[${i}] must be a [pattern, type] pair`);
    const [pattern, type] = e;
    if (typeof pattern !== 'string' || pattern === '')
      fail(fn, `tensorTypes[${i}]: the pattern must be a non-empty string`);
    // llama-quantize lower-cases the name pattern (see parseTensorType in the CLI)
    return { pattern: pattern.toLowerCase(), type: ggmlTypeOption(fn, `tensorTypes[${i}] (${pattern})`, type)! };
  });
}

async function imatrixOption(
  fn: string,
  path: string,
  include: readonly string[],
  exclude: readonly string[],
): Promise<ImatrixInput | undefined> {
  const src = await FileSource.open(path).catch((e: NodeJS.ErrnoException & { errno?: unknown }) =>
    fail(fn, `option 'imatrix': cannot open ${path} (${(e instanceof LowbitError ? e.errno : e.code) ?? e.message})`),
  );
  try {
    const im = await readImatrix(src);
    // llama-quantize's prepare_imatrix: --exclude-weights drops, --include-weights keeps, by substring
    let data = new Map(im.data);
    for (const x of exclude) for (const k of [...data.keys()]) if (k.includes(x)) data.delete(k);
    if (include.length) data = new Map([...data].filter(([k]) => include.some((x) => k.includes(x))));
    if (data.size === 0) return undefined; // as llama-quantize: then as if no imatrix was given
    const p = im.provenance;
    return { data, provenance: { file: path, dataset: p.datasets[0], entries: data.size, chunks: p.chunkCount } };
  } finally {
    await src.close();
  }
}

/** QuantizeFileOptions → the pipeline's options, every value checked. */
async function quantizeOptions(fn: string, opts: QuantizeFileOptions): Promise<QuantizeOptions> {
  if (opts === undefined || opts === null || typeof opts !== 'object')
    fail(fn, "needs options with at least { type: 'Q4_K_M' }");
  checkKeys(fn, opts, QUANTIZE_KEYS);
  const fileType = fileTypeOption(fn, opts.type);
  for (const k of BOOLEAN_KEYS)
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') fail(fn, `option '${k}' must be true or false`);
  for (const k of STRING_LIST_KEYS) {
    const v = opts[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string')))
      fail(fn, `option '${k}' must be an array of strings`);
  }
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1))
    fail(fn, `option 'threads' must be a positive integer, got ${String(opts.threads)}`);
  if (
    opts.pruneLayers !== undefined &&
    (!Array.isArray(opts.pruneLayers) || opts.pruneLayers.some((x) => !Number.isInteger(x) || x < 0))
  ) {
    fail(fn, "option 'pruneLayers' must be an array of layer numbers (non-negative integers)");
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function')
    fail(fn, "option 'onProgress' must be a function");
  if ((opts.includeWeights?.length || opts.excludeWeights?.length) && opts.imatrix === undefined)
    fail(fn, "options 'includeWeights' and 'excludeWeights' need 'imatrix'");
  if (opts.includeWeights?.length && opts.excludeWeights?.length)
    fail(fn, "give 'includeWeights' or 'excludeWeights', not both (as llama-quantize)");
  if (opts.imatrix !== undefined && typeof opts.imatrix !== 'string')
    fail(fn, "option 'imatrix' must be the path of an imatrix file");
  const kvOverrides = (opts.overrideKv ?? []).map((s) => {
    try {
      return parseKvOverride(s);
    } catch (e) {
      fail(fn, `option 'overrideKv': ${(e as Error).message.replace(/^--override-kv: /, '')}`);
    }
  });
  return {
    fileType,
    pure: opts.pure,
    tensorTypes: tensorTypesOption(fn, opts.tensorTypes),
    outputTensorType: ggmlTypeOption(fn, 'outputTensorType', opts.outputTensorType),
    tokenEmbeddingType: ggmlTypeOption(fn, 'tokenEmbeddingType', opts.tokenEmbeddingType),
    leaveOutputTensor: opts.leaveOutputTensor,
    allowRequantize: opts.allowRequantize,
    allowNonfinite: opts.allowNonfinite,
    imatrix:
      opts.imatrix === undefined
        ? undefined
        : await imatrixOption(fn, opts.imatrix, opts.includeWeights ?? [], opts.excludeWeights ?? []),
    kvOverrides: kvOverrides.length ? kvOverrides : undefined,
    pruneLayers: opts.pruneLayers?.length ? [...new Set(opts.pruneLayers)].sort((a, b) => a - b) : undefined,
    keepSplit: opts.keepSplit,
    threads: opts.threads,
    onProgress: opts.onProgress,
  };
}

function pathArg(fn: string, what: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') fail(fn, `${what} must be a file path`);
  return v;
}

/**
 * Quantizes a GGUF file as `llama-quantize` does (`lowbit quantize`): the same type for every
 * tensor and the same bytes. The output is written to a temporary file and renamed on success;
 * it may not be the input (or one of a split input's shards).
 *
 * @example
 * const r = await quantizeFile('model-f32.gguf', 'model-q4_k_m.gguf', { type: 'Q4_K_M' });
 * console.log(r.outputBytes, r.bitsPerWeight);
 * @throws LowbitError for a missing or unknown option, an input llama.cpp would refuse, or an output that is an input
 */
export async function quantizeFile(
  input: string,
  output: string,
  options: QuantizeFileOptions,
): Promise<QuantizeFileResult> {
  const fn = 'quantizeFile';
  pathArg(fn, 'input', input);
  pathArg(fn, 'output', output);
  if (/\.onnx$/i.test(input))
    fail(
      fn,
      `${input} is an ONNX model: use quantizeOnnxFile(input, output, { type: 'q4' }) (transformers.js variants fp16, q8, q4, q4f16, bnb4)`,
    );
  const opts = await quantizeOptions(fn, options);
  const r = await quantizeGgufFile(input, output, opts);
  return { ...r, type: opts.fileType.name };
}

/**
 * The plan {@link quantizeFile} would follow (`lowbit quantize --dry-run`): each tensor's type and
 * why, and the exact output size. Reads only the header; writes nothing.
 */
export async function planQuantizeFile(input: string, options: QuantizeFileOptions): Promise<QuantPlan> {
  const fn = 'planQuantizeFile';
  pathArg(fn, 'input', input);
  return planGgufFile(input, await quantizeOptions(fn, options));
}

/** Options of {@link convertHfFolder} and {@link convertLlama2cFile}. */
export interface ConvertFileOptions extends Omit<
  QuantizeFileOptions,
  'type' | 'keepSplit' | 'pruneLayers' | 'overrideKv' | 'allowRequantize'
> {
  /** the output type: `'F32'` (default), `'F16'`, `'BF16'`, or any quantize file type (one streaming pass) */
  type?: GgufFileTypeName | Lowercase<GgufFileTypeName>;
}

/** Options of {@link convertHfFolder}. */
export interface ConvertHfOptions extends ConvertFileOptions {
  /** general.name (default: the folder's name) */
  name?: string;
  /** the pre-tokenizer name for byte-level BPE tokenizers (`--pre`), when it cannot be told from tokenizer.json */
  pre?: string;
}

/** Options of {@link convertLlama2cFile}. */
export interface ConvertLlama2cOptions extends ConvertFileOptions {
  /** llama2.c's tokenizer.bin (without it, a byte-level stand-in vocabulary) */
  tokenizer?: string;
}

const CONVERT_KEYS = [
  'type',
  'pure',
  'tensorTypes',
  'outputTensorType',
  'tokenEmbeddingType',
  'leaveOutputTensor',
  'allowNonfinite',
  'imatrix',
  'includeWeights',
  'excludeWeights',
  'threads',
  'onProgress',
];

async function convertOptions(
  fn: string,
  opts: ConvertFileOptions,
  extra: readonly string[],
): Promise<{ type: string; quantize: Omit<QuantizeOptions, 'fileType'> }> {
  if (opts === null || typeof opts !== 'object') fail(fn, 'options must be an object');
  checkKeys(fn, opts, [...CONVERT_KEYS, ...extra]);
  const type = opts.type === undefined ? 'F32' : fileTypeOption(fn, opts.type).name;
  const rest: Record<string, unknown> = { ...opts };
  for (const k of extra) delete rest[k];
  const { fileType: _ignored, ...quantize } = await quantizeOptions(fn, {
    ...(rest as object),
    type,
  } as QuantizeFileOptions);
  return { type, quantize };
}

/**
 * Converts a Hugging Face model folder (config.json, safetensors single or sharded, tokenizer
 * files) to a GGUF that llama.cpp runs (`lowbit convert hf`). With a quantized `type`, the
 * conversion and quantization run in one streaming pass, equal to converting to F32 and then
 * {@link quantizeFile}.
 *
 * @example
 * await convertHfFolder('SmolLM2-135M', 'smollm2-f16.gguf', { type: 'F16' });
 */
export async function convertHfFolder(
  dir: string,
  output: string,
  options: ConvertHfOptions = {},
): Promise<ConvertSummary> {
  const fn = 'convertHfFolder';
  pathArg(fn, 'dir', dir);
  pathArg(fn, 'output', output);
  const { type, quantize } = await convertOptions(fn, options, ['name', 'pre']);
  for (const k of ['name', 'pre'] as const)
    if (options[k] !== undefined && typeof options[k] !== 'string') fail(fn, `option '${k}' must be a string`);
  return convertHfDir(dir, output, type, { name: options.name, pre: options.pre }, undefined, quantize);
}

/**
 * Converts a llama2.c checkpoint (and optionally its tokenizer.bin) to GGUF (`lowbit convert llama2c`).
 *
 * @example
 * await convertLlama2cFile('stories260K.bin', 'stories-q8_0.gguf', { type: 'Q8_0' });
 */
export async function convertLlama2cFile(
  model: string,
  output: string,
  options: ConvertLlama2cOptions = {},
): Promise<ConvertSummary> {
  const fn = 'convertLlama2cFile';
  pathArg(fn, 'model', model);
  pathArg(fn, 'output', output);
  const { type, quantize } = await convertOptions(fn, options, ['tokenizer']);
  if (options.tokenizer !== undefined) pathArg(fn, "option 'tokenizer'", options.tokenizer);
  return convertLlama2cFiles(model, options.tokenizer, output, type, undefined, quantize);
}

/** One tensor of {@link GgufFileInfo}. */
export interface GgufTensorSummary {
  name: string;
  /** ggml order: the row length first, as `lowbit inspect` and llama.cpp show it */
  shape: number[];
  /** ggml type name, e.g. 'q4_K' */
  type: string;
  elements: number;
  bytes: number;
}

/** What {@link inspectGgufFile} reads: the header, summarised. */
export interface GgufFileInfo {
  file: string;
  fileSize: number;
  version: number;
  architecture?: string;
  name?: string;
  /** general.file_type by llama.cpp's name (e.g. 'Q4_K_M'), when the file records one lowbit knows */
  fileType?: string;
  tensors: GgufTensorSummary[];
  /** exact sum of the tensors' elements */
  parameters: number;
  tensorBytes: number;
  bitsPerWeight: number;
  /** the parsed header, with every metadata value */
  header: GgufFile;
}

/**
 * Reads a GGUF file's header (metadata and tensor table; no tensor data) as `lowbit inspect` does.
 *
 * @example
 * const info = await inspectGgufFile('model.gguf');
 * console.log(info.fileType, info.parameters, info.tensors[0]);
 */
export async function inspectGgufFile(path: string): Promise<GgufFileInfo> {
  pathArg('inspectGgufFile', 'path', path);
  const src = await FileSource.open(path);
  try {
    const header = await readGgufHeader(src);
    const tensors = header.tensors.map((t) => ({
      name: t.name,
      shape: [...t.dims],
      type: t.type.ggmlName,
      elements: t.nElements,
      bytes: t.byteSize,
    }));
    const parameters = tensors.reduce((a, t) => a + t.elements, 0);
    const tensorBytes = tensors.reduce((a, t) => a + t.bytes, 0);
    const ft = metaInt(header.metadata, 'general.file_type');
    return {
      file: path,
      fileSize: header.fileSize,
      version: header.version,
      architecture: metaString(header.metadata, 'general.architecture'),
      name: metaString(header.metadata, 'general.name'),
      fileType: ft === undefined ? undefined : fileTypeById(ft)?.name,
      tensors,
      parameters,
      tensorBytes,
      bitsPerWeight: parameters ? (tensorBytes * 8) / parameters : 0,
      header,
    };
  } finally {
    await src.close();
  }
}

/**
 * Per-tensor error of GGUF file `b` against `a` (`lowbit compare`): types, bits per weight, RMSE,
 * max abs error, SQNR and cosine, each tensor dequantized as ggml does, streamed in row chunks.
 *
 * @example
 * const c = await compareGgufFiles('model-f32.gguf', 'model-q4_k_m.gguf');
 * console.log(c.total.sqnrDb, c.worst[0]?.name);
 */
export async function compareGgufFiles(a: string, b: string): Promise<GgufComparison> {
  pathArg('compareGgufFiles', 'a', a);
  pathArg('compareGgufFiles', 'b', b);
  const sa = await FileSource.open(a);
  try {
    const sb = await FileSource.open(b);
    try {
      return await compareGguf(sa, sb);
    } finally {
      await sb.close();
    }
  } finally {
    await sa.close();
  }
}
