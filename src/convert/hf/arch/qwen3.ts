// Qwen3Model in convert_hf_to_gguf.py (a Qwen2Model): no Q/K permutation, per-head RMSNorm of q and
// k (attn_q_norm / attn_k_norm, head_dim wide), head_dim recorded as key/value length.
import { LowbitError } from '../../../errors.js';
import { DENSE_LAYER } from './llama.js';
import type { ArchDef } from './types.js';
import type { HfConfig } from '../config.js';

export const QK_NORM_NAMES: Record<string, string> = {
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
};

/** use_sliding_window makes transformers window some layers (layer_types); llama.cpp's graph has none */
export function refuseSlidingWindow(cfg: HfConfig, file: string): void {
  const lt = cfg.raw.layer_types;
  if (cfg.raw.use_sliding_window === true || (Array.isArray(lt) && lt.some((t) => t !== 'full_attention'))) {
    throw new LowbitError(
      `${file}: sliding-window layers (use_sliding_window / layer_types): llama.cpp's ${cfg.arch} attends over the whole context`,
    );
  }
}

export const qwen3: ArchDef = {
  arch: 'qwen3',
  classes: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  layerNames: QK_NORM_NAMES,
  checkConfig(cfg, file) {
    refuseSlidingWindow(cfg, file);
    // Qwen3Model._is_qwen3_reranker: llama.cpp's converter turns Qwen3-Reranker checkpoints into a
    // rank-pooling model (cls_out tensor, rerank template); lowbit does not, so it says so
    const hints = [file.split(/[\\/]/).slice(-2, -1)[0] ?? '', String(cfg.raw._name_or_path ?? '')].map((h) =>
      h.toLowerCase(),
    );
    if (hints.some((h) => h.includes('qwen3-reranker') || h.includes('qwen3-vl-reranker'))) {
      throw new LowbitError(
        `${file}: a Qwen3 reranker: llama.cpp's converter makes it a rank-pooling model, which lowbit does not convert`,
      );
    }
  },
  layerTensors: () => [...DENSE_LAYER.map((s) => `${s}.weight`), 'attn_q_norm.weight', 'attn_k_norm.weight'],
};
