// Qwen2Model in convert_hf_to_gguf.py: no Q/K permutation, q/k/v biases.
import { DENSE_LAYER } from './llama.js';
import type { ArchDef } from './types.js';

export const qwen2: ArchDef = {
  arch: 'qwen2',
  classes: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  layerTensors: () => [...DENSE_LAYER.map((s) => `${s}.weight`), 'attn_q.bias', 'attn_k.bias', 'attn_v.bias'],
};
