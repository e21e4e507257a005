// SmolLM3Model in convert_hf_to_gguf.py (a LlamaModel: Q/K permuted, vocab_size and
// rope.dimension_count written). Every fourth layer has no RoPE; the GGUF records nothing about it:
// llama.cpp's smollm3 graph hard-codes that pattern (n_no_rope_layer_step = 4), so a config whose
// no_rope_layers say otherwise is refused rather than converted into a model that runs differently.
import { LowbitError } from '../../../errors.js';
import { DENSE_LAYER } from './llama.js';
import { refuseSlidingWindow } from './qwen3.js';
import type { ArchDef } from './types.js';

export const smollm3: ArchDef = {
  arch: 'smollm3',
  classes: ['SmolLM3ForCausalLM'],
  modelTypes: ['smollm3'],
  llamaModel: true,
  checkConfig(cfg, file) {
    refuseSlidingWindow(cfg, file);
    // transformers' SmolLM3Config: absent no_rope_layers are (l + 1) % no_rope_layer_interval != 0 (interval 4)
    const interval = cfg.raw.no_rope_layer_interval ?? 4;
    const nr =
      cfg.raw.no_rope_layers ??
      (typeof interval === 'number'
        ? Array.from({ length: cfg.nLayers }, (_, l) => ((l + 1) % interval !== 0 ? 1 : 0))
        : interval);
    const want = Array.from({ length: cfg.nLayers }, (_, l) => ((l + 1) % 4 !== 0 ? 1 : 0));
    if (!Array.isArray(nr) || nr.length !== cfg.nLayers || nr.some((v, l) => Number(v) !== want[l])) {
      throw new LowbitError(
        `${file}: no_rope_layers ${JSON.stringify(nr)} differ from llama.cpp's smollm3 pattern (no RoPE in every fourth layer)`,
      );
    }
  },
  layerTensors: () => DENSE_LAYER.map((s) => `${s}.weight`),
};
