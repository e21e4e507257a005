// Phi3ForCausalLM (Phi-3-mini, Phi-3.5-mini, Phi-4-mini) → GGUF arch phi3, as convert_hf_to_gguf.py's
// Phi3MiniModel writes it: the fused self_attn.qkv_proj and mlp.gate_up_proj stay fused (attn_qkv,
// ffn_up with the gate half first, as llama.cpp's phi3 graph splits them), no Q/K permutation (phi3
// uses NEOX RoPE on HF's layout), partial rotary as rope.dimension_count, longrope's long/short
// factors as rope_factors_long/short with the attention factor, sliding_window (0 when absent).
// The vocab: SentencePiece tokenizer.model with Phi-3's added tokens, or (tokenizer_class
// GPT2Tokenizer, Phi-4-mini) byte-level BPE.
import { LowbitError } from '../../../errors.js';
import { gv, type GgufMetadata } from '../../../io/gguf/metadata.js';
import { addVocab, FILE_TYPE, TOKEN_TYPE, type TensorSpec } from '../../model.js';
import { readSentencePieceModel, SP_TYPE } from '../sentencepiece.js';
import { applySpecialVocab, buildByteLevelBpeVocab, type HfTokenizerFiles, type HfVocab } from '../tokenizer.js';
import type { HfConfig } from '../config.js';
import { checkMissing, plainTensor, requireParam, ropeParameters } from './common.js';
import type { StandaloneArchitecture } from './standalone.js';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

const LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.qkv_proj.weight': 'attn_qkv.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

export function mapPhi3Name(name: string): string | null | undefined {
  if (/(\.attention\.masked_bias|\.attention\.bias|\.rotary_emb\.inv_freq)$/.test(name)) return null;
  if (GLOBAL[name]) return GLOBAL[name];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const t = m ? LAYER[m[2]!] : undefined;
  return t ? `blk.${m![1]}.${t}` : undefined;
}

/** Phi3MiniModel.set_vocab */
function phi3Vocab(files: HfTokenizerFiles, cfg: HfConfig, opts: { pre?: string }): HfVocab {
  const tc = isObj(files.tokenizerConfig) ? files.tokenizerConfig : undefined;
  if (tc?.tokenizer_class === 'GPT2Tokenizer') return buildByteLevelBpeVocab(files, cfg, opts);
  if (!files.tokenizerModel)
    throw new LowbitError('phi3: the model directory needs tokenizer.model (or a GPT2Tokenizer tokenizer.json)');
  const sp = readSentencePieceModel(files.tokenizerModel);
  const n = cfg.vocabSize;
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const scores = new Float32Array(n).fill(-10000);
  const types = new Int32Array(n).fill(TOKEN_TYPE.UNUSED);
  sp.pieces.forEach((p, id) => {
    if (id >= n)
      throw new LowbitError(`tokenizer.model has ${sp.pieces.length} pieces, config.json vocab_size is ${n}`);
    tokens[id] = p.piece;
    scores[id] = p.score;
    types[id] =
      p.type === SP_TYPE.UNKNOWN
        ? TOKEN_TYPE.UNKNOWN
        : p.type === SP_TYPE.CONTROL
          ? TOKEN_TYPE.CONTROL
          : p.type === SP_TYPE.UNUSED
            ? TOKEN_TYPE.UNUSED
            : p.type === SP_TYPE.BYTE
              ? TOKEN_TYPE.BYTE
              : TOKEN_TYPE.NORMAL;
  });
  if (isObj(files.addedTokensJson)) {
    for (const [key, id] of Object.entries(files.addedTokensJson)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
        throw new LowbitError(`added_tokens.json: ${JSON.stringify(key)} has id ${String(id)}`);
      if (id >= n) continue;
      tokens[id] = key;
      scores[id] = -1000;
      types[id] = TOKEN_TYPE.USER_DEFINED;
    }
  }
  const override = (id: number, content: unknown, special: unknown, file: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= n || typeof content !== 'string')
      throw new LowbitError(`${file}: added token ${id} is out of range or malformed`);
    tokens[id] = content;
    scores[id] = -1000;
    types[id] = special === true ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  };
  const atd = tc && isObj(tc.added_tokens_decoder) ? tc.added_tokens_decoder : {};
  for (const [k, d] of Object.entries(atd))
    if (isObj(d)) override(Number(k), d.content, d.special, 'tokenizer_config.json');
  const tj = isObj(files.tokenizerJson) ? files.tokenizerJson : undefined;
  if (Array.isArray(tj?.added_tokens))
    for (const d of tj.added_tokens) if (isObj(d)) override(Number(d.id), d.content, d.special, 'tokenizer.json');
  const v: HfVocab = { model: 'llama', pre: 'default', tokens, scores, tokenTypes: types };
  applySpecialVocab(v, tj, files.tokenizerConfig, cfg, files.chatTemplateFile);
  return v;
}

export const phi3: StandaloneArchitecture = {
  arch: 'phi3',
  classes: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  ownRope: true,
  vocab: phi3Vocab,
  convert(cfg, set, vocab, opts) {
    const c = cfg.raw;
    const rp = ropeParameters(c);
    const nEmbd = requireParam(c, ['hidden_size', 'n_embd']);
    const nHead = requireParam(c, ['num_attention_heads', 'n_head']);
    const nHeadKv = requireParam(c, ['num_key_value_heads', 'n_head_kv']);
    const rmsEps = requireParam(c, ['rms_norm_eps']);
    const maxPos = requireParam(c, ['n_positions', 'max_position_embeddings']);
    const origMaxPos = rp.original_max_position_embeddings;
    if (typeof origMaxPos !== 'number')
      throw new LowbitError('config.json: phi3 needs original_max_position_embeddings');
    const rotPct = typeof rp.partial_rotary_factor === 'number' ? rp.partial_rotary_factor : 1;
    const ropeDims = Math.floor(Math.trunc(rotPct * nEmbd) / nHead);
    const full = isObj(rp.full_attention) ? rp.full_attention : rp;
    if (typeof full.rope_theta !== 'number') throw new LowbitError('config.json: phi3 needs rope_theta');

    const m: GgufMetadata = new Map();
    m.set('general.architecture', gv.str('phi3'));
    const out: TensorSpec[] = [];
    // generate_extra_tensors runs first: the attention factor key lands right after the architecture
    const long = rp.long_factor,
      short = rp.short_factor;
    if (Array.isArray(long) && long.length > 0) {
      const scale = maxPos / origMaxPos;
      const type = String(rp.rope_type ?? '').toLowerCase();
      if (!type) throw new LowbitError('config.json: rope_scaling has long_factor but no type');
      let attn: number;
      if (type === 'su' || type === 'longrope')
        attn = scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(origMaxPos)) : 1;
      else if (type === 'yarn') attn = scale > 1 ? 0.1 * Math.log(scale) + 1 : 1;
      else throw new LowbitError(`config.json: phi3 rope scaling '${type}' is not supported (longrope, su, yarn)`);
      m.set('phi3.rope.scaling.attn_factor', gv.f32(attn));
      if (!Array.isArray(short)) throw new LowbitError('config.json: rope_scaling has long_factor but no short_factor');
      if (long.length !== short.length || long.length !== ropeDims / 2) {
        throw new LowbitError(
          `config.json: rope long and short factors must have ${ropeDims / 2} values each (have ${long.length}, ${short.length})`,
        );
      }
      for (const [name, f] of [
        ['rope_factors_long.weight', long],
        ['rope_factors_short.weight', short],
      ] as const) {
        if (!f.every((x) => typeof x === 'number'))
          throw new LowbitError(`config.json: ${name.split('.')[0]} has a non-number`);
        const vals = Float32Array.from(f as number[]);
        out.push({ name, shape: [vals.length], keepF32: true, read: async () => vals.slice() });
      }
    }
    m.set('general.type', gv.str('model'));
    m.set('general.name', gv.str(opts.name));
    m.set('phi3.context_length', gv.u32(maxPos));
    m.set('phi3.rope.scaling.original_context_length', gv.u32(origMaxPos));
    m.set('phi3.embedding_length', gv.u32(nEmbd));
    m.set('phi3.feed_forward_length', gv.u32(requireParam(c, ['intermediate_size'])));
    m.set('phi3.block_count', gv.u32(cfg.nLayers));
    m.set('phi3.attention.head_count', gv.u32(nHead));
    m.set('phi3.attention.head_count_kv', gv.u32(nHeadKv));
    m.set('phi3.attention.layer_norm_rms_epsilon', gv.f32(rmsEps));
    m.set('phi3.rope.dimension_count', gv.u32(ropeDims));
    m.set('phi3.rope.freq_base', gv.f32(full.rope_theta));
    m.set('general.file_type', gv.u32(FILE_TYPE.F32!));
    m.set('phi3.attention.sliding_window', gv.u32(typeof c.sliding_window === 'number' ? c.sliding_window : 0));
    m.set('general.quantization_version', gv.u32(2));
    addVocab(m, vocab);

    for (const t of set.tensors) {
      const name = mapPhi3Name(t.name);
      if (name === null) continue;
      if (name === undefined) throw new LowbitError(`cannot map tensor '${t.name}' to a phi3 GGUF tensor`);
      out.push(plainTensor(set, t, name));
    }
    const need = ['token_embd.weight', 'output_norm.weight'];
    for (let l = 0; l < cfg.nLayers; l++)
      for (const s of ['attn_norm', 'attn_qkv', 'attn_output', 'ffn_norm', 'ffn_up', 'ffn_down'])
        need.push(`blk.${l}.${s}.weight`);
    checkMissing(new Set(out.map((t) => t.name)), need, 'phi3');
    return { metadata: m, tensors: out };
  },
};
