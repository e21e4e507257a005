// Gemma3ForCausalLM (Gemma 3 text models: 270M, 1B) and the text model of Gemma3ForConditionalGeneration
// (4B, 12B, 27B: language_model.* tensors, text_config with Gemma3TextConfig's defaults) → GGUF arch gemma3, as convert_hf_to_gguf.py's Gemma3Model writes it: every *norm.weight stored
// as 1 + w (Gemma3RMSNorm multiplies by 1 + w; llama.cpp by the stored weight), q_norm/k_norm per
// head, the sandwich norms (post_attention_norm, ffn_norm = pre_feedforward, post_ffw_norm), no
// lm_head (tied: llama.cpp reuses token_embd), embedding rows past the vocab dropped, local
// (sliding) RoPE base as rope.freq_base_swa, sliding_window unless sliding_window_pattern is 1.
// llama.cpp itself supplies the embedding scale √n_embd and the query scale 1/√head_dim (the
// converter writes neither). The vocab: SentencePiece (add_space_prefix false) or byte-level BPE.
import { LowbitError } from '../../../errors.js';
import { gv, type GgufMetadata } from '../../../io/gguf/metadata.js';
import { addVocab, type TensorSpec } from '../../model.js';
import {
  applySpecialVocab,
  buildByteLevelBpeVocab,
  fromSentencePiece,
  type HfTokenizerFiles,
  type HfVocab,
} from '../tokenizer.js';
import type { HfConfig } from '../config.js';
import { baseTextParams, checkMissing, isMultimodalTensor, plainTensor, ropeParameters } from './common.js';
import type { StandaloneArchitecture } from './standalone.js';

const LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'post_attention_norm.weight',
  'pre_feedforward_layernorm.weight': 'ffn_norm.weight',
  'post_feedforward_layernorm.weight': 'post_ffw_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
};

export function mapGemma3Name(hfName: string): string | null | undefined {
  // Gemma3ForConditionalGeneration: the vision tower and projector go (to an mmproj, not here), and
  // language_model.model.* / model.language_model.* are the text model's tensors
  if (isMultimodalTensor(hfName)) return null;
  const name = hfName.replace('language_model.', '');
  if (name === 'lm_head.weight' || /(\.attention\.masked_bias|\.attention\.bias|\.rotary_emb\.inv_freq)$/.test(name))
    return null;
  if (GLOBAL[name]) return GLOBAL[name];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const t = m ? LAYER[m[2]!] : undefined;
  return t ? `blk.${m![1]}.${t}` : undefined;
}

/** Gemma3Model.set_vocab */
function gemma3Vocab(files: HfTokenizerFiles, cfg: HfConfig, opts: { pre?: string }): HfVocab {
  if (!files.tokenizerModel) return buildByteLevelBpeVocab(files, cfg, opts);
  const v = fromSentencePiece(files.tokenizerModel, cfg, files.tokenizerConfig, files.addedTokensJson);
  applySpecialVocab(
    v,
    files.tokenizerJson as Record<string, unknown> | undefined,
    files.tokenizerConfig,
    cfg,
    files.chatTemplateFile,
  );
  v.addSpacePrefix = false;
  return v;
}

export const gemma3: StandaloneArchitecture = {
  arch: 'gemma3',
  classes: ['Gemma3ForCausalLM', 'Gemma3ForConditionalGeneration'],
  modelTypes: ['gemma3_text'],
  // Gemma3TextConfig's defaults, which the text_config of the multimodal checkpoints leaves out
  configDefaults: {
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 256,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-6,
  },
  ownRope: true,
  vocab: gemma3Vocab,
  convert(cfg, set, vocab, opts) {
    const c = cfg.raw;
    const a = 'gemma3';
    const rp = ropeParameters(c);
    const m: GgufMetadata = new Map();
    m.set('general.architecture', gv.str(a));
    m.set('general.type', gv.str('model'));
    m.set('general.name', gv.str(opts.name));
    baseTextParams(m, a, c, cfg.nLayers, rp);
    const num = (k: string, d: number) => {
      const v = c[k];
      if (v === undefined || v === null) return d;
      if (typeof v !== 'number') throw new LowbitError(`config.json: ${k} is not a number`);
      return v;
    };
    m.set(`${a}.context_length`, gv.u32(num('max_position_embeddings', 131072)));
    m.set(`${a}.attention.head_count`, gv.u32(num('num_attention_heads', 8)));
    m.set(`${a}.attention.layer_norm_rms_epsilon`, gv.f32(num('rms_norm_eps', 1e-6)));
    m.set(`${a}.attention.key_length`, gv.u32(num('head_dim', 256)));
    m.set(`${a}.attention.value_length`, gv.u32(num('head_dim', 256)));
    const full = (rp.full_attention ?? rp) as Record<string, unknown>;
    m.set(`${a}.rope.freq_base`, gv.f32(typeof full.rope_theta === 'number' ? full.rope_theta : 1_000_000));
    if (c.attn_logit_softcapping !== undefined && c.attn_logit_softcapping !== null)
      throw new LowbitError('config.json: gemma3 has no attn_logit_softcapping');
    if (typeof c.final_logit_softcapping === 'number' && c.final_logit_softcapping)
      m.set(`${a}.final_logit_softcapping`, gv.f32(c.final_logit_softcapping));
    if (c.sliding_window_pattern !== 1) {
      if (typeof c.sliding_window !== 'number') throw new LowbitError('config.json: gemma3 needs sliding_window');
      m.set(`${a}.attention.sliding_window`, gv.u32(c.sliding_window));
    }
    m.set(`${a}.attention.head_count_kv`, gv.u32(num('num_key_value_heads', 4)));
    m.set('general.quantization_version', gv.u32(2));
    addVocab(m, vocab);
    if (vocab.addSpacePrefix !== undefined) m.set('tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix));

    const out: TensorSpec[] = [];
    for (const t of set.tensors) {
      const name = mapGemma3Name(t.name);
      if (name === null) continue;
      if (name === undefined) throw new LowbitError(`cannot map tensor '${t.name}' to a gemma3 GGUF tensor`);
      const norm = t.name.replace('language_model.', '').endsWith('norm.weight');
      // modify_tensors: embedding rows past the real vocab go; norms become 1 + w (in float32)
      out.push(
        plainTensor(set, t, name, {
          rows: name === 'token_embd.weight' ? Math.min(vocab.tokens.length, t.shape[0]!) : undefined,
          map: norm ? (x) => Math.fround(x + 1) : undefined,
        }),
      );
    }
    const need = ['token_embd.weight', 'output_norm.weight'];
    for (let l = 0; l < cfg.nLayers; l++) {
      for (const s of [
        'attn_norm',
        'attn_q',
        'attn_k',
        'attn_v',
        'attn_output',
        'attn_q_norm',
        'attn_k_norm',
        'post_attention_norm',
        'ffn_norm',
        'ffn_gate',
        'ffn_up',
        'ffn_down',
        'post_ffw_norm',
      ])
        need.push(`blk.${l}.${s}.weight`);
    }
    checkMissing(new Set(out.map((t) => t.name)), need, a);
    return { metadata: m, tensors: out };
  },
};
