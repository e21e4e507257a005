// One judged variant of a model for --sensitivity engine and --refine: the input quantized with a
// given per-tensor assignment (ggml's encoder unless `encoder` says gptq, no target, no progress)
// into `file`, scored by the judge against the input, and removed.
import { rmSync } from 'node:fs';
import type { QuantizeOptions } from '../pipeline/quantize-gguf.js';
import { quantizeGgufFile } from '../node/quantize-file.js';
import type { KlJudge } from './llama.js';

export async function judgeAssignment(
  judge: KlJudge,
  input: string,
  opts: QuantizeOptions,
  assignment: NonNullable<QuantizeOptions['assignment']>,
  file: string,
  encoder?: 'gptq',
): Promise<number> {
  try {
    await quantizeGgufFile(input, file, {
      ...opts,
      target: undefined,
      encoder,
      assignment,
      onProgress: undefined,
    });
    return await judge.kl(file);
  } finally {
    rmSync(file, { force: true });
  }
}
