// `lowbit convert llama2c|hf`: import checkpoints from other tools as GGUFs llama.cpp runs.
import type { Command } from 'commander';
import { convertLlama2cFiles, convertHfDir } from '../../node/convert-files.js';
import { FLOAT_OUT_TYPES } from '../../convert/write-gguf.js';
import { parseFileType } from '../../plan/file-types.js';

/** F32/F16/BF16, or any llama-quantize file type (checked here so a bad name fails before any work). */
function outType(s: string): string {
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(s.toUpperCase())) return s.toUpperCase();
  return parseFileType(s).name;
}

export function register(program: Command): void {
  const convert = program.command('convert').description('convert a checkpoint from another tool to GGUF');

  convert
    .command('llama2c')
    .description('llama2.c checkpoint (.bin) → llama GGUF')
    .argument('<model.bin>', 'llama2.c checkpoint (legacy run.c format or export.py v1)')
    .argument('<out.gguf>', 'output file')
    .option('--tokenizer <tokenizer.bin>', "llama2.c tokenizer.bin of the model (default: a byte-level stand-in vocab)")
    .option('--type <type>', `output type: ${FLOAT_OUT_TYPES.join(', ')} (1-D tensors stay F32), or a llama-quantize type such as Q8_0, Q4_K_M`, 'F32')
    .action(async (model: string, out: string, opts: { tokenizer?: string; type: string }) => {
      const s = await convertLlama2cFiles(model, opts.tokenizer, out, outType(opts.type));
      warnClamped(s.clamped, opts.type);
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });

  convert
    .command('hf')
    .description('Hugging Face llama / mistral / qwen2 checkpoint directory (config.json, safetensors, tokenizer) → GGUF')
    .argument('<model_dir>', 'directory with config.json, model.safetensors (or shards + index) and tokenizer files')
    .argument('<out.gguf>', 'output file')
    .option('--type <type>', `output type: ${FLOAT_OUT_TYPES.join(', ')} (1-D tensors stay F32), or a llama-quantize type such as Q8_0, Q4_K_M`, 'F32')
    .option('--pre <name>', "tokenizer.ggml.pre for byte-level BPE tokenizers lowbit does not recognise (e.g. llama-bpe, qwen2, smollm, gpt-2)")
    .option('--name <name>', 'general.name (default: the directory name)')
    .action(async (dir: string, out: string, opts: { type: string; pre?: string; name?: string }) => {
      const s = await convertHfDir(dir, out, outType(opts.type), { pre: opts.pre, name: opts.name });
      warnClamped(s.clamped, opts.type);
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });
}

/** Values beyond F16/BF16 range were clamped, not turned into Inf: say where. */
function warnClamped(clamped: { tensor: string; count: number }[], type: string): void {
  for (const c of clamped) process.stderr.write(`lowbit: warning: tensor ${c.tensor}: ${c.count} value(s) beyond the ${type.toUpperCase()} range were clamped to its largest finite value\n`);
}
