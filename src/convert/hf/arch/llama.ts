// LlamaModel in convert_hf_to_gguf.py: Llama 1-3, Mistral (and SmolLM/TinyLlama, which are Llamas).
import type { ArchDef } from './types.js';

export const DENSE_LAYER = [
  'attn_norm',
  'attn_q',
  'attn_k',
  'attn_v',
  'attn_output',
  'ffn_norm',
  'ffn_gate',
  'ffn_up',
  'ffn_down',
];

export const llama: ArchDef = {
  arch: 'llama',
  classes: ['LlamaForCausalLM', 'LLaMAForCausalLM', 'MistralForCausalLM'],
  modelTypes: ['llama', 'mistral'],
  llamaModel: true,
  layerTensors: () => DENSE_LAYER.map((s) => `${s}.weight`),
};
