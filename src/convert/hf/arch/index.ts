// The Hugging Face architectures converted by their own module (arch/<gguf-arch>.ts), keyed by the
// config.json `architectures[0]` class names convert_hf_to_gguf.py registers them under. llama,
// mistral and qwen2 go through convert.ts's shared llama-family path.
import type { ConvertedModel } from '../../model.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import type { HfConfig } from '../config.js';
import type { HfTokenizerFiles, HfVocab } from '../tokenizer.js';
import { phi3 } from './phi3.js';
import { gemma3 } from './gemma3.js';
import { gptOss } from './gpt-oss.js';

export interface HfArchOptions {
  /** general.name */
  name: string;
}

export interface HfArchitecture {
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
  convert(cfg: HfConfig, tensors: SafetensorsSet, vocab: HfVocab, opts: HfArchOptions): ConvertedModel;
}

export const HF_ARCHITECTURES: readonly HfArchitecture[] = [
  phi3,
  gemma3,
  gptOss,
];

export function hfArchitecture(arch: string): HfArchitecture | undefined {
  return HF_ARCHITECTURES.find((a) => a.arch === arch);
}
