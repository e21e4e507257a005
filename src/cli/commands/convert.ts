// `lowbit convert llama2c|hf`: import checkpoints from other tools as GGUFs llama.cpp runs.
import type { Command } from 'commander';
import { LowbitError } from '../../errors.js';
import { convertLlama2cFiles, convertHfDir } from '../../node/convert-files.js';
import { FLOAT_OUT_TYPES } from '../../convert/write-gguf.js';
import type { StoreType } from '../../convert/model.js';

function floatType(s: string): StoreType {
  const t = s.toUpperCase() as StoreType;
  if (!FLOAT_OUT_TYPES.includes(t)) throw new LowbitError(`--type ${s}: expected one of ${FLOAT_OUT_TYPES.join(', ')}`);
  return t;
}

export function register(program: Command): void {
  const convert = program.command('convert').description('convert a checkpoint from another tool to GGUF');

  convert
    .command('llama2c')
    .description('llama2.c checkpoint (.bin) → llama GGUF')
    .argument('<model.bin>', 'llama2.c checkpoint (legacy run.c format or export.py v1)')
    .argument('<out.gguf>', 'output file')
    .option('--tokenizer <tokenizer.bin>', "llama2.c tokenizer.bin of the model (default: a byte-level stand-in vocab)")
    .option('--type <type>', `stored type of matrices: ${FLOAT_OUT_TYPES.join(', ')}`, 'F32')
    .action(async (model: string, out: string, opts: { tokenizer?: string; type: string }) => {
      const s = await convertLlama2cFiles(model, opts.tokenizer, out, floatType(opts.type));
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });

  convert
    .command('hf')
    .description('Hugging Face llama / mistral / qwen2 checkpoint directory (config.json, safetensors, tokenizer) → GGUF')
    .argument('<model_dir>', 'directory with config.json, model.safetensors (or shards + index) and tokenizer files')
    .argument('<out.gguf>', 'output file')
    .option('--type <type>', `stored type of matrices: ${FLOAT_OUT_TYPES.join(', ')}`, 'F32')
    .option('--pre <name>', "tokenizer.ggml.pre for byte-level BPE tokenizers lowbit does not recognise (e.g. llama-bpe, qwen2, smollm, gpt-2)")
    .option('--name <name>', 'general.name (default: the directory name)')
    .action(async (dir: string, out: string, opts: { type: string; pre?: string; name?: string }) => {
      const s = await convertHfDir(dir, out, floatType(opts.type), { pre: opts.pre, name: opts.name });
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    });
}
