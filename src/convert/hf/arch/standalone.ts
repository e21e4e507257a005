// The Hugging Face architectures whose own module (arch/<gguf-arch>.ts) converts the whole checkpoint
// (metadata, tensors, vocab), keyed by the config.json `architectures[0]` class names
// convert_hf_to_gguf.py registers them under: phi3, gemma3, gpt-oss, whose converter classes share
// little with LlamaModel. The llama-style architectures go through convert.ts's shared path.
import type { ConvertedModel } from '../../model.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import type { HfConfig } from '../config.js';
import type { HfTokenizerFiles, HfVocab } from '../tokenizer.js';
import { phi3 } from './phi3.js';
import { gemma3 } from './gemma3.js';
import { gptOss } from './gpt-oss.js';

export interface StandaloneArchOptions {
  /** general.name */
  name: string;
}

export interface StandaloneArchitecture {
  /** general.architecture */
  arch: string;
  /** config.json architectures[0] values */
  classes: string[];
  /** config.json model_type values (when architectures is absent) */
  modelTypes: string[];
  /** transformers' config defaults config.ts may need (num_attention_heads …) when config.json omits them */
  configDefaults?: Record<string, unknown>;
  /** the architecture reads its own RoPE settings (config.ts's llama rope parsing is skipped) */
  ownRope?: boolean;
  /** its own vocab reading (set_vocab), instead of tokenizer.ts's default */
  vocab?(files: HfTokenizerFiles, cfg: HfConfig, opts: { pre?: string }): HfVocab;
  convert(cfg: HfConfig, tensors: SafetensorsSet, vocab: HfVocab, opts: StandaloneArchOptions): ConvertedModel;
}

export const STANDALONE_ARCHITECTURES: readonly StandaloneArchitecture[] = [phi3, gemma3, gptOss];

export function standaloneArchitecture(arch: string): StandaloneArchitecture | undefined {
  return STANDALONE_ARCHITECTURES.find((a) => a.arch === arch);
}
