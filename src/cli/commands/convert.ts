// `lowbit convert llama2c|hf`: import checkpoints from other tools as GGUFs llama.cpp runs. A
// quantized --type converts and quantizes in one streaming pass, with the quantize command's mixes
// and rules (and its --pure, --tensor-type, --output-tensor-type, ... options).
import type { Command } from 'commander';
import { convertLlama2cFiles, convertHfDir, type ConvertQuantizeOptions } from '../../node/convert-files.js';
import { FLOAT_OUT_TYPES } from '../../convert/write-gguf.js';
import { parseFileType } from '../../plan/file-types.js';
import { LowbitError } from '../../errors.js';
import { onInterrupt } from '../interrupt.js';
import { loadImatrix, parseGgmlType, parseTensorType } from './quantize.js';

/** F32/F16/BF16, or any llama-quantize file type (checked here so a bad name fails before any work). */
function outType(s: string): string {
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(s.toUpperCase())) return s.toUpperCase();
  return parseFileType(s).name;
}

interface QuantOpts {
  type: string;
  pure?: boolean;
  tensorType: string[];
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  leaveOutputTensor?: boolean;
  imatrix?: string;
  threads?: string;
  allowNonfinite?: boolean;
  allowRequantize?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function quantizeOptions(cmd: Command): Command {
  return cmd
    .option('--type <type>', `output type: ${FLOAT_OUT_TYPES.join(', ')} (1-D tensors stay F32), or a llama-quantize type such as Q8_0, Q4_K_M (quantized in the same pass)`, 'F32')
    .option('--pure', 'quantized types: no k-quant mixture, every quantizable tensor gets the default type')
    .option('--tensor-type <REGEX=TYPE>', 'quantized types: type for tensors matching REGEX (repeatable)', collect, [])
    .option('--output-tensor-type <TYPE>', 'quantized types: ggml type for output.weight')
    .option('--token-embedding-type <TYPE>', 'quantized types: ggml type for token_embd.weight')
    .option('--leave-output-tensor', 'quantized types: leave output.weight unquantized')
    .option('--imatrix <FILE>', 'quantized types: importance matrix (llama-imatrix .gguf or legacy .dat)')
    .option('--threads <N>', 'quantized types: worker threads')
    .option('--allow-requantize', 'quantized types: requantize tensors the checkpoint already holds quantized (gpt-oss MXFP4 experts) to other types')
    .option('--allow-nonfinite', 'convert even when a tensor holds NaN or infinite values');
}

/** The quantize command's options for a quantized --type; refused with a float type (they would do nothing). */
async function quantOpts(type: string, o: QuantOpts): Promise<ConvertQuantizeOptions> {
  const given = [o.pure && '--pure', o.tensorType.length && '--tensor-type', o.outputTensorType && '--output-tensor-type',
    o.tokenEmbeddingType && '--token-embedding-type', o.leaveOutputTensor && '--leave-output-tensor', o.imatrix && '--imatrix',
    o.allowRequantize && '--allow-requantize'].filter(Boolean);
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(type)) {
    if (given.length) throw new LowbitError(`${given[0]} applies to quantized output types, not ${type}`);
    return { allowNonfinite: !!o.allowNonfinite };
  }
  let threads: number | undefined;
  if (o.threads !== undefined) {
    threads = Number(o.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw new LowbitError(`--threads must be a whole number from 1 to 1024, not '${o.threads}'`);
  }
  return {
    pure: !!o.pure,
    tensorTypes: o.tensorType.map(parseTensorType),
    outputTensorType: o.outputTensorType === undefined ? undefined : parseGgmlType(o.outputTensorType, '--output-tensor-type'),
    tokenEmbeddingType: o.tokenEmbeddingType === undefined ? undefined : parseGgmlType(o.tokenEmbeddingType, '--token-embedding-type'),
    leaveOutputTensor: !!o.leaveOutputTensor,
    imatrix: o.imatrix ? await loadImatrix(o.imatrix, [], []) : undefined,
    threads,
    allowNonfinite: !!o.allowNonfinite,
    allowRequantize: !!o.allowRequantize,
  };
}

export function register(program: Command): void {
  const convert = program.command('convert').description('convert a checkpoint from another tool to GGUF');

  quantizeOptions(convert
    .command('llama2c')
    .description('llama2.c checkpoint (.bin) → llama GGUF')
    .argument('<model.bin>', 'llama2.c checkpoint (legacy run.c format or export.py v1)')
    .argument('<out.gguf>', 'output file')
    .option('--tokenizer <tokenizer.bin>', "llama2.c tokenizer.bin of the model (default: a byte-level stand-in vocab)"))
    .action(async (model: string, out: string, opts: QuantOpts & { tokenizer?: string }) => {
      const type = outType(opts.type);
      const q = await quantOpts(type, opts);
      const s = await interruptible(out, (progress) => convertLlama2cFiles(model, opts.tokenizer, out, type, progress, q));
      warnClamped(s.clamped, type);
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });

  quantizeOptions(convert
    .command('hf')
    .description('Hugging Face llama / mistral / qwen2 checkpoint directory (config.json, safetensors, tokenizer) → GGUF')
    .argument('<model_dir>', 'directory with config.json, model.safetensors (or shards + index) and tokenizer files')
    .argument('<out.gguf>', 'output file')
    .option('--pre <name>', "tokenizer.ggml.pre for byte-level BPE tokenizers lowbit does not recognise (e.g. llama-bpe, qwen2, smollm, gpt-2)")
    .option('--name <name>', 'general.name (default: the directory name)'))
    .action(async (dir: string, out: string, opts: QuantOpts & { pre?: string; name?: string }) => {
      const type = outType(opts.type);
      const q = await quantOpts(type, opts);
      const s = await interruptible(out, (progress) => convertHfDir(dir, out, type, { pre: opts.pre, name: opts.name }, progress, q));
      warnClamped(s.clamped, type);
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });
}

/** Values beyond F16/BF16 range were clamped, not turned into Inf: say where. */
function warnClamped(clamped: { tensor: string; count: number }[], type: string): void {
  for (const c of clamped) process.stderr.write(`lowbit: warning: tensor ${c.tensor}: ${c.count} value(s) beyond the ${type.toUpperCase()} range were clamped to its largest finite value\n`);
}

/** Runs a conversion that reports progress; Ctrl-C then says how far it got (the atomic output removes the temp). */
async function interruptible<T>(out: string, run: (progress: (done: number, total: number, tensor: string) => void) => Promise<T>): Promise<T> {
  let at = { done: 0, total: 0, tensor: '' };
  const stop = onInterrupt(() => `${at.total ? `${Math.floor((100 * at.done) / at.total)}% through, at ${at.tensor}` : 'before any tensor was written'}; ${out} was not written (nothing left behind)`);
  try {
    return await run((done, total, tensor) => { at = { done, total, tensor }; });
  } finally {
    stop();
  }
}
