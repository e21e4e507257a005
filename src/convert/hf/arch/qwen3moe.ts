// Qwen3MoeModel in convert_hf_to_gguf.py (a Qwen2MoeModel): Qwen3's q/k norms, every layer a mixture
// of experts: the router (mlp.gate → ffn_gate_inp) and the per-expert projections stacked into
// ffn_{gate,up,down}_exps [n_expert, rows, cols], expert_count / expert_used_count /
// expert_feed_forward_length in the metadata. llama.cpp's qwen3moe graph always renormalises the
// top-k softmax weights and makes every layer sparse, so configs that say otherwise are refused.
import { LowbitError } from '../../../errors.js';
import { gv } from '../../../io/gguf/metadata.js';
import { QK_NORM_NAMES, refuseSlidingWindow } from './qwen3.js';
import type { ArchDef } from './types.js';

export const qwen3moe: ArchDef = {
  arch: 'qwen3moe',
  classes: ['Qwen3MoeForCausalLM'],
  modelTypes: ['qwen3_moe'],
  layerNames: { ...QK_NORM_NAMES, 'mlp.gate.weight': 'ffn_gate_inp.weight' },
  stackedExperts: true,
  checkConfig(cfg, file) {
    refuseSlidingWindow(cfg, file);
    const c = cfg.raw;
    if (!cfg.nExpert || !cfg.nExpertUsed)
      throw new LowbitError(`${file}: a Qwen3-MoE config needs num_experts and num_experts_per_tok`);
    if (typeof c.moe_intermediate_size !== 'number')
      throw new LowbitError(`${file}: a Qwen3-MoE config needs moe_intermediate_size`);
    // transformers' Qwen3MoeConfig defaults norm_topk_prob to false
    if (c.norm_topk_prob !== true)
      throw new LowbitError(
        `${file}: norm_topk_prob ${c.norm_topk_prob === undefined ? 'absent (transformers: false)' : JSON.stringify(c.norm_topk_prob)}: llama.cpp's qwen3moe always renormalises the top-k expert weights`,
      );
    if ((c.decoder_sparse_step ?? 1) !== 1 || (Array.isArray(c.mlp_only_layers) && c.mlp_only_layers.length > 0)) {
      throw new LowbitError(
        `${file}: dense layers (decoder_sparse_step / mlp_only_layers): llama.cpp's qwen3moe makes every layer a mixture of experts`,
      );
    }
  },
  extraMetadata(m, cfg) {
    m.set('qwen3moe.expert_feed_forward_length', gv.u32(cfg.raw.moe_intermediate_size as number));
  },
  layerTensors: () =>
    [
      'attn_norm',
      'attn_q',
      'attn_k',
      'attn_v',
      'attn_output',
      'attn_q_norm',
      'attn_k_norm',
      'ffn_norm',
      'ffn_gate_inp',
      'ffn_gate_exps',
      'ffn_up_exps',
      'ffn_down_exps',
    ].map((s) => `${s}.weight`),
};
