// Qwen3Model in convert_hf_to_gguf.py (a Qwen2Model): no Q/K permutation, per-head RMSNorm of q and
// k (attn_q_norm / attn_k_norm, head_dim wide), head_dim recorded as key/value length.
import { DENSE_LAYER } from './llama.js';
import type { ArchDef } from './types.js';

export const QK_NORM_NAMES: Record<string, string> = {
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
};

export const qwen3: ArchDef = {
  arch: 'qwen3',
  classes: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  layerNames: QK_NORM_NAMES,
  layerTensors: () => [...DENSE_LAYER.map((s) => `${s}.weight`), 'attn_q_norm.weight', 'attn_k_norm.weight'],
};
