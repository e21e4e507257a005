// A synthetic Gemma 3 text checkpoint (Gemma3ForCausalLM, model_type gemma3_text): random BF16
// weights with the family's tensor names (q_norm/k_norm, the four sandwich norms stored as w where
// the model uses 1 + w, no lm_head: tied), the config keys gemma-3-1b / 270m ship (head_dim ≠
// hidden / heads, query_pre_attn_scalar, rope_local_base_freq for sliding layers, sliding_window and
// sliding_window_pattern 6: layers 0-4 sliding, 5 global), and Gemma's tokenizer layout: a
// SentencePiece BPE tokenizer.model (no dummy prefix, byte fallback) with <pad> <eos> <bos> <unk>
// <mask> [multimodal] <unused*> <start_of_turn> <end_of_turn> first, then the 256 byte pieces, then
// brown-3m's trained merges; tokenizer_config.json / tokenizer.json with their added tokens.
// Write it: node --import tsx test/convert/support/fixture-gemma3.ts (then tools/make-standalone-arch-goldens.sh gemma3)
import { readFileSync } from 'node:fs';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { readSentencePieceModel, SP_TYPE } from '../../../src/convert/hf/sentencepiece.js';
import { Checkpoint, json, writeFiles, addedToken, FIXTURE_ROOT, type Files } from './synthetic-hf.js';

export const GEMMA3_DIR = `${FIXTURE_ROOT}/gemma3`;
/** the Gemma3ForConditionalGeneration layout (gemma-3-4b-it and larger) */
export const GEMMA3_MM_DIR = `${FIXTURE_ROOT}/gemma3-mm`;

export interface Gemma3Dims {
  hidden: number;
  ff: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  window: number;
}

const SPECIAL: [string, number][] = [
  ['<pad>', SP_TYPE.CONTROL],
  ['<eos>', SP_TYPE.CONTROL],
  ['<bos>', SP_TYPE.CONTROL],
  ['<unk>', SP_TYPE.UNKNOWN],
  ['<mask>', SP_TYPE.USER_DEFINED],
  ['[multimodal]', SP_TYPE.USER_DEFINED],
  ['<unused0>', SP_TYPE.USER_DEFINED],
  ['<unused1>', SP_TYPE.USER_DEFINED],
  ['<start_of_turn>', SP_TYPE.USER_DEFINED],
  ['<end_of_turn>', SP_TYPE.USER_DEFINED],
];
export const GEMMA_START_OF_TURN = 8,
  GEMMA_END_OF_TURN = 9;

/** Gemma-style tokenizer.model: specials, bytes, then brown-3m's normal pieces with their scores. */
export function gemmaSentencePiece(): { bytes: Uint8Array; pieces: string[] } {
  const brown = readSentencePieceModel(new Uint8Array(readFileSync('fixtures/brown-3m/tokenizer.model')));
  const pieces: [string, number, number][] = SPECIAL.map(([p, t]) => [p, 0, t]);
  for (let b = 0; b < 256; b++) pieces.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, SP_TYPE.BYTE]);
  for (const p of brown.pieces) if (p.type === SP_TYPE.NORMAL) pieces.push([p.piece, p.score, SP_TYPE.NORMAL]);
  const w = new BinaryWriter();
  for (const [piece, score, type] of pieces) {
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited)
      .string(piece)
      .tag(2, WireType.Bit32)
      .float(score)
      .tag(3, WireType.Varint)
      .int32(type);
    w.join();
  }
  // TrainerSpec: model_type BPE, vocab_size, byte_fallback; unk/bos/eos/pad ids as Gemma's
  w.tag(2, WireType.LengthDelimited)
    .fork()
    .tag(3, WireType.Varint)
    .int32(2)
    .tag(4, WireType.Varint)
    .int32(pieces.length)
    .tag(35, WireType.Varint)
    .bool(true)
    .tag(40, WireType.Varint)
    .int32(3)
    .tag(41, WireType.Varint)
    .int32(2)
    .tag(42, WireType.Varint)
    .int32(1)
    .tag(43, WireType.Varint)
    .int32(0)
    .join();
  // NormalizerSpec: identity, no dummy prefix, keep whitespace, escape spaces as ▁
  w.tag(3, WireType.LengthDelimited)
    .fork()
    .tag(1, WireType.LengthDelimited)
    .string('identity')
    .tag(3, WireType.Varint)
    .bool(false)
    .tag(4, WireType.Varint)
    .bool(false)
    .tag(5, WireType.Varint)
    .bool(true)
    .join();
  return { bytes: w.finish(), pieces: pieces.map((p) => p[0]) };
}

/**
 * `multimodal`: Gemma3ForConditionalGeneration as gemma-3-4b-it ships it: text tensors under
 * language_model.model.*, a (tiny) vision tower and projector, config.json with text_config that
 * leaves Gemma3TextConfig's defaults out (8 heads, 4 KV heads, rms_norm_eps, rope_theta …) and
 * linear RoPE scaling ×8 on the global layers.
 */
export async function buildGemma3(over: Partial<Gemma3Dims> = {}, multimodal = false): Promise<Files> {
  const d: Gemma3Dims = {
    hidden: 64,
    ff: 128,
    layers: 6,
    heads: multimodal ? 8 : 4,
    kvHeads: multimodal ? 4 : 1,
    headDim: 32,
    window: 4,
    ...over,
  };
  const sp = gemmaSentencePiece();
  const vocab = sp.pieces.length;
  const ck = new Checkpoint(multimodal ? 7 : 5);
  const M = multimodal ? 'language_model.' : '';
  const norm = (name: string, n: number) => ck.add(M + name, [n], ck.random(n, 0.3));
  const matrix = (name: string, rows: number, cols: number, gain = 1) => ck.matrix(M + name, rows, cols, gain);
  matrix('model.embed_tokens.weight', vocab, d.hidden, 0.5);
  if (multimodal) {
    ck.add('vision_tower.vision_model.embeddings.patch_embedding.weight', [16, 3, 2, 2], ck.random(192, 0.1));
    ck.add('vision_tower.vision_model.post_layernorm.weight', [16], ck.random(16, 0.1, 1));
    ck.add('multi_modal_projector.mm_input_projection_weight', [16, d.hidden], ck.random(16 * d.hidden, 0.1));
    ck.add('multi_modal_projector.mm_soft_emb_norm.weight', [16], ck.random(16, 0.1));
  }
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, d.hidden);
    matrix(`${p}.self_attn.q_proj.weight`, d.heads * d.headDim, d.hidden, 2);
    matrix(`${p}.self_attn.k_proj.weight`, d.kvHeads * d.headDim, d.hidden, 2);
    matrix(`${p}.self_attn.v_proj.weight`, d.kvHeads * d.headDim, d.hidden);
    matrix(`${p}.self_attn.o_proj.weight`, d.hidden, d.heads * d.headDim);
    norm(`${p}.self_attn.q_norm.weight`, d.headDim);
    norm(`${p}.self_attn.k_norm.weight`, d.headDim);
    norm(`${p}.post_attention_layernorm.weight`, d.hidden);
    norm(`${p}.pre_feedforward_layernorm.weight`, d.hidden);
    matrix(`${p}.mlp.gate_proj.weight`, d.ff, d.hidden, 2);
    matrix(`${p}.mlp.up_proj.weight`, d.ff, d.hidden);
    matrix(`${p}.mlp.down_proj.weight`, d.hidden, d.ff);
    norm(`${p}.post_feedforward_layernorm.weight`, d.hidden);
  }
  norm('model.norm.weight', d.hidden);

  const files: Files = new Map();
  files.set('model.safetensors', await ck.safetensors());
  files.set('tokenizer.model', sp.bytes);
  if (multimodal) {
    json(files, 'config.json', {
      architectures: ['Gemma3ForConditionalGeneration'],
      boi_token_index: 4,
      eoi_token_index: 5,
      eos_token_id: [1, GEMMA_END_OF_TURN],
      image_token_index: 6,
      initializer_range: 0.02,
      mm_tokens_per_image: 4,
      model_type: 'gemma3',
      text_config: {
        head_dim: d.headDim,
        hidden_size: d.hidden,
        intermediate_size: d.ff,
        model_type: 'gemma3_text',
        num_hidden_layers: d.layers,
        query_pre_attn_scalar: d.headDim,
        rope_scaling: { factor: 8.0, rope_type: 'linear' },
        sliding_window: d.window,
        vocab_size: vocab,
      },
      torch_dtype: 'bfloat16',
      transformers_version: '4.50.0.dev0',
      vision_config: {
        hidden_size: 16,
        image_size: 4,
        intermediate_size: 32,
        model_type: 'siglip_vision_model',
        num_attention_heads: 2,
        num_hidden_layers: 0,
        patch_size: 2,
        vision_use_head: false,
      },
    });
  } else
    json(files, 'config.json', {
      architectures: ['Gemma3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      attn_logit_softcapping: null,
      bos_token_id: 2,
      cache_implementation: 'hybrid',
      eos_token_id: [1, GEMMA_END_OF_TURN],
      final_logit_softcapping: null,
      head_dim: d.headDim,
      hidden_activation: 'gelu_pytorch_tanh',
      hidden_size: d.hidden,
      initializer_range: 0.02,
      intermediate_size: d.ff,
      max_position_embeddings: 1024,
      model_type: 'gemma3_text',
      num_attention_heads: d.heads,
      num_hidden_layers: d.layers,
      num_key_value_heads: d.kvHeads,
      pad_token_id: 0,
      query_pre_attn_scalar: d.headDim,
      rms_norm_eps: 1e-6,
      rope_local_base_freq: 10000.0,
      rope_scaling: null,
      rope_theta: 1000000.0,
      sliding_window: d.window,
      sliding_window_pattern: 6,
      torch_dtype: 'bfloat16',
      transformers_version: '4.50.0.dev0',
      use_cache: true,
      vocab_size: vocab,
    });
  const special = new Set(['<pad>', '<eos>', '<bos>', '<unk>', '<start_of_turn>', '<end_of_turn>']);
  const added = SPECIAL.map(([p], id) => addedToken(id, p, special.has(p)));
  json(files, 'tokenizer.json', {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
    pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false },
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', byte_fallback: true, vocab: {}, merges: [] },
  });
  json(files, 'tokenizer_config.json', {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(
      added.map((a) => [
        String(a.id),
        { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: a.special },
      ]),
    ),
    bos_token: '<bos>',
    chat_template:
      "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}",
    clean_up_tokenization_spaces: false,
    eos_token: '<eos>',
    model_max_length: 1000000000000000019884624838656,
    pad_token: '<pad>',
    sp_model_kwargs: null,
    spaces_between_special_tokens: false,
    tokenizer_class: 'GemmaTokenizer',
    unk_token: '<unk>',
    use_default_system_prompt: false,
  });
  return files;
}

if (process.argv[1]?.endsWith('fixture-gemma3.ts')) {
  writeFiles(GEMMA3_DIR, await buildGemma3());
  writeFiles(GEMMA3_MM_DIR, await buildGemma3({}, true));
  console.log(`wrote ${GEMMA3_DIR}, ${GEMMA3_MM_DIR}`);
}
