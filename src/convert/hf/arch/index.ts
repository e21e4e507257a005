// The Hugging Face architectures `lowbit convert hf` handles: one ArchDef per GGUF architecture.
import { llama } from './llama.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { qwen3moe } from './qwen3moe.js';
import { smollm3 } from './smollm3.js';
import type { ArchDef } from './types.js';
import { STANDALONE_ARCHITECTURES } from './standalone.js';
import { LowbitError } from '../../../errors.js';

export type { ArchDef } from './types.js';

export const ARCHS: ArchDef[] = [llama, qwen2, qwen3, qwen3moe, smollm3];

/** By config.json model_type first, then architectures[0]. */
export function findArch(modelType: string, cls: string): ArchDef | undefined {
  return ARCHS.find((a) => a.modelTypes.includes(modelType)) ?? ARCHS.find((a) => a.classes.includes(cls));
}

export function archDef(arch: string): ArchDef {
  const d = ARCHS.find((a) => a.arch === arch);
  if (!d) throw new LowbitError(`no converter for GGUF architecture ${arch}`, 'EUNSUPPORTED');
  return d;
}

/** "LlamaForCausalLM, MistralForCausalLM, …" for refusals: both tables (this one and arch/standalone.ts) */
export function supportedClasses(): string {
  return [...ARCHS, ...STANDALONE_ARCHITECTURES]
    .flatMap((a) => a.classes.filter((c) => c !== 'LLaMAForCausalLM'))
    .join(', ');
}
