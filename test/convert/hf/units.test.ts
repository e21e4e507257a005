import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { readSentencePieceModel } from '../../../src/convert/hf/sentencepiece.js';
import { buildHfVocab, detectPre } from '../../../src/convert/hf/tokenizer.js';
import { parseHfConfig, llama3RopeFactors } from '../../../src/convert/hf/config.js';
import { permuteQK, unpermuteQK, mapHfTensorName } from '../../../src/convert/hf/tensors.js';
import { TOKEN_TYPE } from '../../../src/convert/model.js';
import { FileFormatError, LowbitError } from '../../../src/errors.js';
import { qwen2TokenizerJson } from '../../support/hf-fixture.js';

/** A SentencePiece ModelProto written with @bufbuild/protobuf's encoder (an independent writer). */
function spModel(pieces: [string, number, number][], byteFallback: boolean, addDummyPrefix: boolean): Uint8Array {
  const w = new BinaryWriter();
  for (const [piece, score, type] of pieces) {
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(piece);
    w.tag(2, WireType.Bit32).float(score);
    w.tag(3, WireType.Varint).int32(type);
    w.join();
  }
  w.tag(2, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string('input.txt'); // an unused field, skipped
  w.tag(3, WireType.Varint).int32(2);
  w.tag(4, WireType.Varint).int32(pieces.length);
  w.tag(35, WireType.Varint).bool(byteFallback);
  w.join();
  w.tag(3, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string('identity');
  w.tag(3, WireType.Varint).bool(addDummyPrefix);
  w.join();
  return w.finish();
}

const cfg = (extra: Record<string, unknown> = {}) =>
  parseHfConfig({
    model_type: 'llama',
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    vocab_size: 6,
    ...extra,
  });

test('SentencePiece tokenizer.model → llama vocab with SentencePiece types, padded to vocab_size', () => {
  const bytes = spModel(
    [
      ['<unk>', 0, 2],
      ['<s>', 0, 3],
      ['</s>', 0, 3],
      ['<0x0A>', 0, 6],
      ['\u2581the', -2.5, 1],
    ],
    true,
    false,
  );
  const sp = readSentencePieceModel(bytes);
  assert.equal(sp.pieces.length, 5);
  assert.equal(sp.modelType, 2);
  assert.equal(sp.byteFallback, true);
  assert.equal(sp.addDummyPrefix, false);
  const v = buildHfVocab(
    { tokenizerModel: bytes, tokenizerConfig: { added_tokens_decoder: { 1: { content: '<s>', special: true } } } },
    cfg({ bos_token_id: 1, eos_token_id: 2 }),
  );
  assert.equal(v.model, 'llama');
  assert.equal(v.pre, 'default');
  assert.deepEqual(v.tokens, ['<unk>', '<s>', '</s>', '<0x0A>', '\u2581the', '[PAD5]']);
  assert.deepEqual(Array.from(v.tokenTypes), [
    TOKEN_TYPE.UNKNOWN,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.BYTE,
    TOKEN_TYPE.NORMAL,
    TOKEN_TYPE.UNUSED,
  ]);
  assert.deepEqual(Array.from(v.scores!), [0, -1000, 0, 0, -2.5, -10000]);
  assert.deepEqual([v.bosId, v.eosId], [1, 2]);
});

test('a truncated or garbled tokenizer.model is a FileFormatError', () => {
  const bytes = spModel(
    [
      ['<unk>', 0, 2],
      ['a', -1, 1],
    ],
    false,
    true,
  );
  assert.throws(() => readSentencePieceModel(bytes.subarray(0, bytes.length - 3)), FileFormatError);
  assert.throws(() => readSentencePieceModel(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), FileFormatError);
  assert.throws(() => readSentencePieceModel(new Uint8Array([0x0f])), /wire type 7/);
  assert.throws(() => readSentencePieceModel(new Uint8Array(0)), /no pieces/);
});

test('permuteQK matches LlamaModel.permute and unpermuteQK inverts it', () => {
  // 2 heads of size 4, 1 column: HF rows [h0: a0 a1 b0 b1][h1: ...] → adjacent pairs (a0 b0 a1 b1)
  const hf = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
  assert.deepEqual(Array.from(permuteQK(hf, 2, 8, 1)), [0, 2, 1, 3, 10, 12, 11, 13]);
  const w = Float32Array.from({ length: 8 * 3 }, (_, i) => i);
  assert.deepEqual(unpermuteQK(permuteQK(w, 2, 8, 3), 2, 8, 3), w);
  assert.deepEqual(Array.from(permuteQK(w, 2, 8, 3).subarray(3, 6)), [6, 7, 8]); // row 1 ← HF row 2
});

test('tensor names map as gguf-py tensor_mapping does', () => {
  assert.equal(mapHfTensorName('model.layers.7.self_attn.k_proj.bias'), 'blk.7.attn_k.bias');
  assert.equal(mapHfTensorName('model.layers.0.mlp.down_proj.weight'), 'blk.0.ffn_down.weight');
  assert.equal(mapHfTensorName('layers.0.post_attention_layernorm.weight'), 'blk.0.ffn_norm.weight');
  assert.equal(mapHfTensorName('lm_head.weight'), 'output.weight');
  assert.equal(mapHfTensorName('model.layers.0.self_attn.rotary_emb.inv_freq'), null);
  assert.equal(mapHfTensorName('model.layers.0.block_sparse_moe.gate.weight'), undefined);
});

test('config.json: GQA, rope theta and scaling, tied embeddings, clear errors', () => {
  const c = cfg({
    num_key_value_heads: 2,
    rope_theta: 500000,
    tie_word_embeddings: true,
    rope_scaling: { type: 'linear', factor: 4 },
  });
  assert.equal(c.nHeadKv, 2);
  assert.equal(c.ropeTheta, 500000);
  assert.deepEqual(c.rope, { type: 'linear', factor: 4 });
  assert.equal(c.tieEmbeddings, true);
  assert.equal(
    parseHfConfig({
      model_type: 'mistral',
      architectures: ['MistralForCausalLM'],
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      vocab_size: 4,
    }).arch,
    'llama',
  );
  assert.throws(
    () => parseHfConfig({ model_type: 'gemma' }),
    (e: unknown) => e instanceof LowbitError && /'gemma' is not supported/.test((e as Error).message),
  );
  assert.throws(() => cfg({ num_key_value_heads: 3 }), /multiple of num_key_value_heads/);
  assert.throws(
    () =>
      parseHfConfig({
        model_type: 'llama',
        hidden_size: 8,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        vocab_size: 4,
      }),
    /missing intermediate_size/,
  );
  assert.throws(() => cfg({ hidden_size: '64' }), /hidden_size is not a number/);
});

test('llama3 rope factors: 1 for short wavelengths, factor for long, smooth between (Llama 3.1 settings)', () => {
  const c = parseHfConfig({
    model_type: 'llama',
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 1,
    num_attention_heads: 32,
    vocab_size: 8,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
  });
  const f = llama3RopeFactors(c);
  assert.equal(f.length, 64);
  assert.equal(f[0], 1);
  assert.equal(f[63], 8);
  const mid = Array.from(f).filter((x) => x > 1 && x < 8);
  assert.ok(mid.length > 0 && mid.every((x, i) => i === 0 || x >= mid[i - 1]!), 'smooth part increases');
});

test('pre-tokenizer detection from tokenizer.json structure', () => {
  assert.equal(detectPre(qwen2TokenizerJson() as Record<string, unknown>), 'qwen2');
  assert.equal(detectPre({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true } }), 'gpt-2');
  assert.equal(
    detectPre({
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Digits', individual_digits: true },
          { type: 'ByteLevel', use_regex: true },
        ],
      },
    }),
    'smollm',
  );
  assert.equal(detectPre({ pre_tokenizer: { type: 'Whitespace' } }), undefined);
  const tj = { ...(qwen2TokenizerJson() as Record<string, unknown>), pre_tokenizer: { type: 'Whitespace' } };
  assert.throws(
    () =>
      buildHfVocab(
        { tokenizerJson: tj },
        parseHfConfig({
          model_type: 'qwen2',
          hidden_size: 8,
          intermediate_size: 8,
          num_hidden_layers: 1,
          num_attention_heads: 2,
          vocab_size: 512,
        }),
      ),
    /pass --pre NAME/,
  );
  const v = buildHfVocab(
    { tokenizerJson: tj },
    parseHfConfig({
      model_type: 'qwen2',
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      vocab_size: 512,
    }),
    { pre: 'qwen2' },
  );
  assert.equal(v.pre, 'qwen2');
  assert.equal(v.tokens[301], '[PAD301]');
  assert.equal(v.tokenTypes[300], TOKEN_TYPE.CONTROL);
});
