// Generated Hugging Face checkpoints laid out as real ones are, small enough for tests:
//  - 'llama3': Llama-3 style — GQA, rope_theta 500000, llama3 rope_scaling, byte-level BPE
//    tokenizer.json with Llama 3's split regex (llama-bpe), special header/eot tokens, a chat
//    template in tokenizer_config.json, BF16 weights in two shards with model.safetensors.index.json,
//    untied lm_head.
//  - 'smollm2': SmolLM2 style — tied embeddings, rope_theta 100000, GPT-2 byte-level BPE with
//    individual digits (smollm), one BF16 model.safetensors.
// Rows are 256/512 long so K-quants really apply. Weights are random (seeded) and returned as the
// exact floats the BF16 files hold, in HF layout, for the reference forward pass (hf-forward.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferSink } from '../../../src/io/source.js';
import { writeSafetensors, type SafetensorsOutTensor } from '../../../src/io/safetensors/writer.js';
import { bf16ToFp32, fp32ToBf16 } from '../../../src/formats/half.js';
import { rng } from '../../support/oracle.js';
import { bytesToUnicode } from '../../support/hf-fixture.js';

export type RealisticKind = 'llama3' | 'smollm2';

export interface HfWeights {
  dim: number;
  hidden: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  /** llama3 rope_scaling, as config.json holds it */
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };
  /** HF names → values (row-major, HF shapes), exactly as stored (BF16 widened) */
  tensors: Map<string, Float32Array>;
  tied: boolean;
}

export interface RealisticFixture {
  files: Map<string, Uint8Array>;
  weights: HfWeights;
  /** token ids of specials */
  bos: number;
  eos: number;
}

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const LLAMA3_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** byte symbols 0..255, then merged tokens (each merge's result), then the added specials */
function byteLevelVocab(
  merges: [string, string][],
  specials: string[],
): { vocab: Record<string, number>; added: { id: number; content: string }[] } {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, i) => {
    vocab[c] = i;
  });
  let id = 256;
  for (const [a, b] of merges) vocab[a + b] = id++;
  const added = specials.map((content) => ({ id: id++, content }));
  return { vocab, added };
}

function bpeTokenizerJson(kind: RealisticKind, merges: [string, string][], specials: string[], bosId: number): unknown {
  const { vocab, added } = byteLevelVocab(merges, specials);
  const pre =
    kind === 'llama3'
      ? {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: LLAMA3_REGEX }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        }
      : {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Digits', individual_digits: true },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
          ],
        };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added.map((a) => ({
      ...a,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: pre,
    post_processor:
      kind === 'llama3'
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [],
            special_tokens: {
              '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [bosId], tokens: ['<|begin_of_text|>'] },
            },
          }
        : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: kind === 'llama3',
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export async function buildRealisticFixture(kind: RealisticKind): Promise<RealisticFixture> {
  const G = bytesToUnicode()[0x20]!; // Ġ: the space byte
  const merges: [string, string][] = [
    ['h', 'e'],
    ['l', 'l'],
    ['he', 'll'],
    ['hell', 'o'],
    [G, 'w'],
    ['o', 'r'],
    [G + 'w', 'or'],
    ['l', 'd'],
    [G + 'wor', 'ld'],
    [G, 't'],
    [G + 't', 'he'],
  ];
  const llama3 = kind === 'llama3';
  const specials = llama3
    ? [
        '<|begin_of_text|>',
        '<|end_of_text|>',
        '<|start_header_id|>',
        '<|end_header_id|>',
        '<|eot_id|>',
        ...Array.from({ length: 48 }, (_, i) => `<|reserved_special_token_${i}|>`),
      ]
    : ['<|endoftext|>', '<|im_start|>', '<|im_end|>', ...Array.from({ length: 50 }, (_, i) => `<filler_${i}>`)];
  const vocabSize = 256 + merges.length + specials.length;
  const bos = 256 + merges.length; // <|begin_of_text|> / <|endoftext|>
  const eos = llama3 ? bos + 4 : bos + 2; // <|eot_id|> / <|im_end|>
  const dim = 256,
    hidden = 512,
    nLayers = 2,
    nHeads = 4,
    headDim = 64;
  const nKvHeads = llama3 ? 2 : 1;
  const w: HfWeights = {
    dim,
    hidden,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocab: vocabSize,
    rmsEps: llama3 ? 1e-5 : 1e-5,
    ropeTheta: llama3 ? 500000 : 100000,
    tensors: new Map(),
    tied: !llama3,
    // original_max_position_embeddings is small so the scaled frequencies matter within a short test
    ropeScaling: llama3 ? { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 32 } : undefined,
  };
  const r = rng(llama3 ? 3 : 2);
  const st: SafetensorsOutTensor[] = [];
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const bits = new Uint16Array(n);
    const vals = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      bits[i] = fp32ToBf16(offset + (r() * 2 - 1) * scale);
      vals[i] = bf16ToFp32(bits[i]!);
    }
    w.tensors.set(name, vals);
    st.push({ name, dtype: 'BF16', shape, data: () => new Uint8Array(bits.buffer) });
  };
  const lin = (fanIn: number) => Math.sqrt(3 / fanIn);
  const kv = nKvHeads * headDim;
  add('model.embed_tokens.weight', [vocabSize, dim], 1);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [dim], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [nHeads * headDim, dim], lin(dim) * 2);
    add(`${p}.self_attn.k_proj.weight`, [kv, dim], lin(dim) * 2);
    add(`${p}.self_attn.v_proj.weight`, [kv, dim], lin(dim));
    add(`${p}.self_attn.o_proj.weight`, [dim, nHeads * headDim], lin(dim));
    add(`${p}.post_attention_layernorm.weight`, [dim], 0.1, 1);
    add(`${p}.mlp.gate_proj.weight`, [hidden, dim], lin(dim));
    add(`${p}.mlp.up_proj.weight`, [hidden, dim], lin(dim));
    add(`${p}.mlp.down_proj.weight`, [dim, hidden], lin(hidden));
  }
  add('model.norm.weight', [dim], 0.1, 1);
  if (!w.tied) add('lm_head.weight', [vocabSize, dim], lin(dim) * 4);

  const files = new Map<string, Uint8Array>();
  const json = (name: string, x: unknown) =>
    files.set(name, new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n'));
  const write = async (ts: SafetensorsOutTensor[]) => {
    const s = new BufferSink();
    await writeSafetensors(s, ts, { metadata: { format: 'pt' } });
    return s;
  };
  if (llama3) {
    // layer 0 and the embeddings in shard 1, the rest in shard 2, as HF's sharding by size does
    const first = st.filter((t) => t.name.startsWith('model.embed') || t.name.startsWith('model.layers.0.'));
    const second = st.filter((t) => !first.includes(t));
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (const [i, ts] of [first, second].entries()) {
      files.set(names[i]!, (await write(ts)).bytes());
      for (const t of ts) {
        weightMap[t.name] = names[i]!;
        total += t.shape.reduce((a, b) => a * b, 1) * 2;
      }
    }
    json('model.safetensors.index.json', {
      metadata: { total_size: total },
      weight_map: Object.fromEntries(Object.entries(weightMap).sort()),
    });
    json('config.json', {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: bos,
      eos_token_id: [bos + 1, eos],
      head_dim: headDim,
      hidden_act: 'silu',
      hidden_size: dim,
      initializer_range: 0.02,
      intermediate_size: hidden,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: nHeads,
      num_hidden_layers: nLayers,
      num_key_value_heads: nKvHeads,
      pretraining_tp: 1,
      rms_norm_eps: w.rmsEps,
      rope_scaling: {
        factor: 8.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 32,
        rope_type: 'llama3',
      },
      rope_theta: 500000.0,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.45.0',
      use_cache: true,
      vocab_size: vocabSize,
    });
    json('tokenizer.json', bpeTokenizerJson(kind, merges, specials, bos));
    json('tokenizer_config.json', {
      bos_token: '<|begin_of_text|>',
      eos_token: '<|eot_id|>',
      chat_template: LLAMA3_CHAT_TEMPLATE,
      clean_up_tokenization_spaces: true,
      model_input_names: ['input_ids', 'attention_mask'],
      model_max_length: 131072,
      tokenizer_class: 'PreTrainedTokenizerFast',
    });
  } else {
    files.set('model.safetensors', (await write(st)).bytes());
    json('config.json', {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      bos_token_id: bos + 1,
      eos_token_id: eos,
      hidden_act: 'silu',
      hidden_size: dim,
      initializer_range: 0.041666666666666664,
      intermediate_size: hidden,
      max_position_embeddings: 8192,
      model_type: 'llama',
      num_attention_heads: nHeads,
      num_hidden_layers: nLayers,
      num_key_value_heads: nKvHeads,
      pretraining_tp: 1,
      rms_norm_eps: w.rmsEps,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.42.3',
      use_cache: true,
      vocab_size: vocabSize,
    });
    json('tokenizer.json', bpeTokenizerJson(kind, merges, specials, bos));
    json('tokenizer_config.json', {
      add_prefix_space: false,
      bos_token: '<|im_start|>',
      eos_token: '<|im_end|>',
      pad_token: '<|im_end|>',
      unk_token: '<|endoftext|>',
      chat_template: CHATML_TEMPLATE,
      clean_up_tokenization_spaces: false,
      model_max_length: 8192,
      tokenizer_class: 'GPT2Tokenizer',
    });
  }
  return { files, weights: w, bos: llama3 ? bos : bos + 1, eos };
}

export async function writeRealisticFixture(dir: string, kind: RealisticKind): Promise<RealisticFixture> {
  const f = await buildRealisticFixture(kind);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of f.files) writeFileSync(join(dir, name), bytes);
  return f;
}
