// Builds Hugging Face-layout checkpoints from llama2.c's stories260K (MIT, karpathy/tinyllamas):
// config.json, model.safetensors and tokenizer files, as transformers would hold the same model.
// Q/K rows are put back into HF's rotate-half order (the inverse of convert_hf_to_gguf.py's
// permute) for llama; qwen2 uses NEOX RoPE on the HF layout, so the same inverse makes a qwen2
// checkpoint that computes exactly what the llama2.c model computes. Run this file to rewrite the
// committed fixture: node --import tsx test/support/hf-fixture.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferSink } from '../../src/io/source.js';
import { writeSafetensors, type SafetensorsOutTensor } from '../../src/io/safetensors/writer.js';
import { unpermuteQK } from '../../src/convert/hf/tensors.js';
import { loadLlama2c, type Biases, type Weights } from './llama2c-forward.js';
import { rng } from './oracle.js';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { fp32ToBf16, fp32ToFp16 } from '../../src/formats/half.js';

export const STORIES = 'fixtures/stories260K.bin';
export const HF_FIXTURE_DIR = 'test/fixtures/hf-stories260K';

export interface HfFixtureOptions {
  arch: 'llama' | 'qwen2';
  /** write lm_head.weight (a copy of the embeddings) and tie_word_embeddings false */
  untied?: boolean;
  /** storage type of the weights (default F32); BF16/F16 round to nearest even */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** llama: ship a SentencePiece tokenizer.model (same pieces) instead of tokenizer.json */
  sentencepiece?: boolean;
}

/** tokenizer.model (SentencePiece ModelProto, BPE with byte fallback) with the llama fixture's pieces. */
export function sentencePieceModel(vocabSize: number): Uint8Array {
  const tj = llamaTokenizerJson(vocabSize) as { model: { vocab: Record<string, number> } };
  const byId = Object.entries(tj.model.vocab).sort((a, b) => a[1] - b[1]);
  const w = new BinaryWriter();
  for (const [piece, id] of byId) {
    const type = id === 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : 1;
    // merged pieces score by merge order, as SentencePiece BPE does; fillers far below
    const score = id === 263 ? -1 : id === 264 ? -2 : id === 265 ? -3 : id > 265 ? -1000 : 0;
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited)
      .string(piece)
      .tag(2, WireType.Bit32)
      .float(score)
      .tag(3, WireType.Varint)
      .int32(type);
    w.join();
  }
  w.tag(2, WireType.LengthDelimited).fork().tag(3, WireType.Varint).int32(2).tag(35, WireType.Varint).bool(true).join();
  w.tag(3, WireType.LengthDelimited).fork().tag(3, WireType.Varint).bool(true).join();
  return w.finish();
}

const f32 = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
const halfBytes = (a: Float32Array, conv: (x: number) => number) => new Uint8Array(Uint16Array.from(a, conv).buffer);

/** The llama tokenizer.json: SentencePiece-style BPE with byte fallback, a few merges for ' the'. */
export function llamaTokenizerJson(vocabSize: number): unknown {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['\u2581', 't', 'h', 'e', 'th', 'the', '\u2581the'];
  pieces.forEach((p, i) => {
    vocab[p] = 259 + i;
  });
  for (let id = 259 + pieces.length; id < vocabSize; id++) vocab[`<unused${id}>`] = id;
  const added = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: ['t h', 'th e', '\u2581 the'],
    },
  };
}

/** GPT-2's bytes_to_unicode: printable stand-ins for the 256 byte values (lowbit's own table). */
export { byteToUnicode as bytesToUnicode } from '../../src/convert/hf/bpe.js';
import { byteToUnicode as bytesToUnicode } from '../../src/convert/hf/bpe.js';

const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** A qwen2-style byte-level BPE tokenizer.json: 256 byte symbols, merges for ' the', <|endoftext|>. */
export function qwen2TokenizerJson(): unknown {
  const u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  u.forEach((c, i) => {
    vocab[c] = i;
  });
  const G = u[0x20]!; // Ġ, the space byte
  const merged = ['th', 'the', `${G}the`];
  merged.forEach((t, i) => {
    vocab[t] = 256 + i;
  });
  return {
    version: '1.0',
    added_tokens: [
      {
        id: 300,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [
        ['t', 'h'],
        ['th', 'e'],
        [G, 'the'],
      ],
    },
  };
}

/** Small deterministic biases for the qwen2 fixture, in llama2.c (interleaved) row order. */
export function fixtureBiases(w: Weights): Biases {
  const r = rng(260);
  const kvDim = (w.dim * w.nKvHeads) / w.nHeads;
  const make = (n: number) => Float32Array.from({ length: n }, () => Math.fround((r() - 0.5) * 0.2));
  const b: Biases = { q: [], k: [], v: [] };
  for (let l = 0; l < w.nLayers; l++) {
    b.q.push(make(w.dim));
    b.k.push(make(kvDim));
    b.v.push(make(kvDim));
  }
  return b;
}

export async function buildHfFixture(opts: HfFixtureOptions): Promise<Map<string, Uint8Array>> {
  const w = loadLlama2c(STORIES);
  const kvDim = (w.dim * w.nKvHeads) / w.nHeads;
  const tensors: SafetensorsOutTensor[] = [];
  const dtype = opts.dtype ?? 'F32';
  const enc = (d: Float32Array) =>
    dtype === 'BF16' ? halfBytes(d, fp32ToBf16) : dtype === 'F16' ? halfBytes(d, fp32ToFp16) : f32(d);
  const add = (name: string, shape: number[], data: Float32Array) =>
    tensors.push({ name, dtype, shape, data: () => enc(data) });
  add('model.embed_tokens.weight', [w.vocab, w.dim], w.emb);
  if (opts.untied) add('lm_head.weight', [w.vocab, w.dim], w.wcls);
  add('model.norm.weight', [w.dim], w.rmsFinal);
  const biases = opts.arch === 'qwen2' ? fixtureBiases(w) : undefined;
  for (let l = 0; l < w.nLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [w.dim], w.rmsAtt[l]!);
    add(`${p}.self_attn.q_proj.weight`, [w.dim, w.dim], unpermuteQK(w.wq[l]!, w.nHeads, w.dim, w.dim));
    add(`${p}.self_attn.k_proj.weight`, [kvDim, w.dim], unpermuteQK(w.wk[l]!, w.nKvHeads, kvDim, w.dim));
    add(`${p}.self_attn.v_proj.weight`, [kvDim, w.dim], w.wv[l]!);
    add(`${p}.self_attn.o_proj.weight`, [w.dim, w.dim], w.wo[l]!);
    if (biases) {
      add(`${p}.self_attn.q_proj.bias`, [w.dim], unpermuteQK(biases.q[l]!, w.nHeads, w.dim, 1));
      add(`${p}.self_attn.k_proj.bias`, [kvDim], unpermuteQK(biases.k[l]!, w.nKvHeads, kvDim, 1));
      add(`${p}.self_attn.v_proj.bias`, [kvDim], biases.v[l]!);
    }
    add(`${p}.post_attention_layernorm.weight`, [w.dim], w.rmsFfn[l]!);
    add(`${p}.mlp.gate_proj.weight`, [w.hidden, w.dim], w.w1[l]!);
    add(`${p}.mlp.down_proj.weight`, [w.dim, w.hidden], w.w2[l]!);
    add(`${p}.mlp.up_proj.weight`, [w.hidden, w.dim], w.w3[l]!);
  }
  const sink = new BufferSink();
  await writeSafetensors(sink, tensors, { metadata: { format: 'pt' } });

  const common = {
    hidden_size: w.dim,
    intermediate_size: w.hidden,
    num_hidden_layers: w.nLayers,
    num_attention_heads: w.nHeads,
    num_key_value_heads: w.nKvHeads,
    max_position_embeddings: w.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    vocab_size: w.vocab,
    tie_word_embeddings: !opts.untied,
    torch_dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype],
    hidden_act: 'silu',
  };
  const files = new Map<string, Uint8Array>();
  const json = (name: string, x: unknown) =>
    files.set(name, new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n'));
  files.set('model.safetensors', sink.bytes());
  if (opts.arch === 'llama') {
    json('config.json', {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      bos_token_id: 1,
      eos_token_id: 2,
      ...common,
    });
    if (opts.sentencepiece) files.set('tokenizer.model', sentencePieceModel(w.vocab));
    else json('tokenizer.json', llamaTokenizerJson(w.vocab));
    json('tokenizer_config.json', {
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      chat_template: "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
      tokenizer_class: 'LlamaTokenizer',
    });
  } else {
    json('config.json', { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', eos_token_id: 300, ...common });
    json('tokenizer.json', qwen2TokenizerJson());
    json('tokenizer_config.json', {
      add_prefix_space: false,
      bos_token: null,
      eos_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      tokenizer_class: 'Qwen2Tokenizer',
    });
  }
  return files;
}

export async function writeHfFixture(dir: string, opts: HfFixtureOptions): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of await buildHfFixture(opts)) writeFileSync(join(dir, name), bytes);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/test\//, '/test/'))) {
  await writeHfFixture(HF_FIXTURE_DIR, { arch: 'llama' });
  console.log(`wrote ${HF_FIXTURE_DIR}`);
}
