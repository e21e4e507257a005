// Synthetic Phi-3 family checkpoints (Phi3ForCausalLM): random BF16 weights in the family's own
// layout (fused self_attn.qkv_proj, fused mlp.gate_up_proj), the config keys Phi-3-mini /
// Phi-3.5-mini / Phi-4-mini ship, and Phi-3's tokenizer layout (a SentencePiece tokenizer.model,
// here brown-3m's real 512-piece model, plus <|endoftext|>, <|user|> … in added_tokens.json,
// tokenizer.json and tokenizer_config.json). Two variants:
//  - 'phi3-mini': MHA, untied lm_head, no RoPE scaling (Phi-3-mini-4k)
//  - 'phi4-mini': GQA, partial rotary 0.75, longrope long/short factors, tied embeddings, and
//    Phi-4-mini's tokenizer layout: tokenizer_class GPT2Tokenizer, an o200k-style byte-level BPE
//    tokenizer.json (fixture-gpt-oss.ts's trained merges) with <|endoftext|>, <|user|> … added.
// Write them: node --import tsx test/convert/support/fixture-phi3.ts (then tools/make-standalone-arch-goldens.sh)
import { readFileSync } from 'node:fs';
import { Checkpoint, json, writeFiles, addedToken, FIXTURE_ROOT, type Files } from './synthetic-hf.js';
import { o200kTokenizerJson, trainBpe } from './fixture-gpt-oss.js';

export type Phi3Variant = 'phi3-mini' | 'phi4-mini';
export const PHI3_VARIANTS: Phi3Variant[] = ['phi3-mini', 'phi4-mini'];
export { FIXTURE_ROOT };

const SP_MODEL = 'fixtures/brown-3m/tokenizer.model';
const ADDED = ['<|endoftext|>', '<|assistant|>', '<|placeholder1|>', '<|system|>', '<|end|>', '<|user|>'];
const BASE_VOCAB = 512;
/** Phi-4-mini layout: byte-level BPE of 256 bytes + 59 merges, then the added tokens */
const PHI4_BPE = trainBpe(160);
export const PHI4_BASE = PHI4_BPE.vocab.length;
const PHI4_ADDED = ['<|endoftext|>', '<|assistant|>', '<|end|>', '<|user|>', '<|system|>', '<|tool|>'];

export interface Phi3Dims {
  hidden: number;
  ff: number;
  layers: number;
  heads: number;
  kvHeads: number;
}

export function phi3Dims(v: Phi3Variant, over: Partial<Phi3Dims> = {}) {
  const phi4 = v === 'phi4-mini';
  const d = { hidden: 64, ff: 96, layers: 2, heads: 4, kvHeads: phi4 ? 2 : 4, ...over };
  return {
    ...d,
    headDim: d.hidden / d.heads,
    vocab: phi4 ? PHI4_BASE + 16 : 520,
    partial: phi4 ? 0.75 : 1,
    tied: phi4,
    maxPos: phi4 ? 1024 : 256,
    origMaxPos: 256,
  };
}

/** The variant's checkpoint files; `over` changes sizes (for plan tests on wider models, not committed). */
export async function buildPhi3(v: Phi3Variant, over: Partial<Phi3Dims> = {}): Promise<Files> {
  const d = phi3Dims(v, over);
  const ck = new Checkpoint(v === 'phi3-mini' ? 3 : 4);
  const norm = (name: string) => ck.add(name, [d.hidden], ck.random(d.hidden, 0.2, 1));
  ck.matrix('model.embed_tokens.weight', d.vocab, d.hidden, 4);
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`);
    ck.matrix(`${p}.self_attn.qkv_proj.weight`, (d.heads + 2 * d.kvHeads) * d.headDim, d.hidden, 2);
    ck.matrix(`${p}.self_attn.o_proj.weight`, d.hidden, d.heads * d.headDim);
    norm(`${p}.post_attention_layernorm.weight`);
    ck.matrix(`${p}.mlp.gate_up_proj.weight`, 2 * d.ff, d.hidden);
    ck.matrix(`${p}.mlp.down_proj.weight`, d.hidden, d.ff);
  }
  norm('model.norm.weight');
  if (!d.tied) ck.matrix('lm_head.weight', d.vocab, d.hidden, 2);

  const files: Files = new Map();
  files.set('model.safetensors', await ck.safetensors());
  const phi4 = v === 'phi4-mini';
  const eos = phi4 ? PHI4_BASE : BASE_VOCAB;
  if (!phi4) files.set('tokenizer.model', new Uint8Array(readFileSync(SP_MODEL)));
  const rotaryHalf = (d.headDim * d.partial) / 2;
  const factors = (scale: number) =>
    Array.from({ length: rotaryHalf }, (_, i) => Math.round((1 + (scale * i) / rotaryHalf) * 1000) / 1000);
  json(files, 'config.json', {
    architectures: ['Phi3ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: phi4 ? eos : 1,
    embd_pdrop: 0.0,
    eos_token_id: eos,
    hidden_act: 'silu',
    hidden_size: d.hidden,
    initializer_range: 0.02,
    intermediate_size: d.ff,
    max_position_embeddings: d.maxPos,
    model_type: 'phi3',
    num_attention_heads: d.heads,
    num_hidden_layers: d.layers,
    num_key_value_heads: d.kvHeads,
    original_max_position_embeddings: d.origMaxPos,
    pad_token_id: eos,
    ...(d.partial !== 1 ? { partial_rotary_factor: d.partial } : {}),
    resid_pdrop: 0.0,
    rms_norm_eps: 1e-5,
    rope_scaling: v === 'phi4-mini' ? { long_factor: factors(3), short_factor: factors(0.5), type: 'longrope' } : null,
    rope_theta: 10000.0,
    sliding_window: v === 'phi4-mini' ? 262144 : 2047,
    tie_word_embeddings: d.tied,
    torch_dtype: 'bfloat16',
    transformers_version: '4.49.0',
    use_cache: true,
    vocab_size: d.vocab,
  });
  if (phi4) {
    const added = PHI4_ADDED.map((t, i) => addedToken(PHI4_BASE + i, t, true));
    json(files, 'tokenizer.json', o200kTokenizerJson(PHI4_BPE.vocab, PHI4_BPE.merges, added));
    json(files, 'tokenizer_config.json', {
      add_bos_token: false,
      add_eos_token: false,
      add_prefix_space: false,
      added_tokens_decoder: Object.fromEntries(
        added.map((a) => [
          String(a.id),
          { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
        ]),
      ),
      bos_token: '<|endoftext|>',
      chat_template:
        "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}",
      clean_up_tokenization_spaces: false,
      eos_token: '<|endoftext|>',
      model_max_length: d.maxPos,
      pad_token: '<|endoftext|>',
      tokenizer_class: 'GPT2Tokenizer',
      unk_token: '<|endoftext|>',
    });
    return files;
  }
  const added = ADDED.map((t, i) =>
    addedToken(BASE_VOCAB + i, t, true, t === '<|assistant|>' || t === '<|end|>' ? { rstrip: true } : {}),
  );
  json(files, 'added_tokens.json', Object.fromEntries(added.map((a) => [a.content, a.id])));
  const base = [addedToken(0, '<unk>'), addedToken(1, '<s>'), addedToken(2, '</s>', false, { rstrip: true })];
  json(files, 'tokenizer.json', {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...base, ...added],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', byte_fallback: true, vocab: {}, merges: [] },
  });
  const decoder = Object.fromEntries(
    [...base, ...added].map((a) => [
      String(a.id),
      {
        content: a.content,
        lstrip: a.lstrip,
        normalized: a.normalized,
        rstrip: a.rstrip,
        single_word: false,
        special: a.special,
      },
    ]),
  );
  json(files, 'tokenizer_config.json', {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: '<s>',
    chat_template:
      "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
    clean_up_tokenization_spaces: false,
    eos_token: '<|endoftext|>',
    legacy: false,
    model_max_length: d.maxPos,
    pad_token: '<|endoftext|>',
    padding_side: 'left',
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
    unk_token: '<unk>',
    use_default_system_prompt: false,
  });
  return files;
}

if (process.argv[1]?.endsWith('fixture-phi3.ts')) {
  for (const v of PHI3_VARIANTS) writeFiles(`${FIXTURE_ROOT}/${v}`, await buildPhi3(v));
  console.log(`wrote ${PHI3_VARIANTS.map((v) => `${FIXTURE_ROOT}/${v}`).join(', ')}`);
}
