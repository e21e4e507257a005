// Small synthetic Hugging Face checkpoints of the Qwen3, Qwen3-MoE and SmolLM3 families: the real
// config.json keys and tensor names, BF16 safetensors, and a real tokenizer layout — a byte-level
// BPE tokenizer.json with the family's normalizer / pre-tokenizer / post-processor, a vocabulary
// trained here (seeded, deterministic) on a multilingual + code text, the family's added tokens
// (special and not), tokenizer_config.json with a chat template. Random weights (seeded).
// `wide` makes rows 256 long (and 8 experts) so llama.cpp's K-quant and expert rules apply.
// tools/make-arch-goldens.sh converts the narrow ones with llama.cpp's own converter.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferSink } from '../../../src/io/source.js';
import { writeSafetensors, type SafetensorsOutTensor } from '../../../src/io/safetensors/writer.js';
import { bf16ToFp32, fp32ToBf16 } from '../../../src/formats/half.js';
import { byteToUnicode, jsRegex } from '../../../src/convert/hf/bpe.js';
import { rng } from '../../support/oracle.js';

export type ArchKind = 'qwen3' | 'qwen3moe' | 'smollm3';

export interface ArchWeights {
  kind: ArchKind;
  dim: number;
  hidden: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  tied: boolean;
  nExpert: number;
  nExpertUsed: number;
  moeHidden: number;
  /** SmolLM3: no_rope_layers (1 = RoPE) */
  useRope: boolean[];
  /** HF names → values (row-major, HF shapes), exactly as stored (BF16 widened) */
  tensors: Map<string, Float32Array>;
}

export interface ArchFixture {
  files: Map<string, Uint8Array>;
  weights: ArchWeights;
  /** special token ids */
  specials: Record<string, number>;
  /** tokenizer.ggml.pre the family's real tokenizer hashes to */
  pre: string;
}

export const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** what the vocabulary is trained on, and what the tokenizer tests encode */
export const TRAIN_TEXT = [
  'The quick brown fox jumps over the lazy dog. The model runs the test, then the next test.',
  'def forward(self, x):\n    return self.norm(x) + x  # residual\n\nfor i in range(10):\n    print(i)\n',
  'Der schnelle braune Fuchs springt über den faulen Hund. Le renard brun saute par-dessus le chien.',
  'Быстрая коричневая лиса прыгает через ленивую собаку. 快速的棕色狐狸跳过了懒狗。素早い茶色の狐。',
  'const answer = 42; let s = "hello world"; if (a && b) { return [1, 2, 3]; }',
  "I've been told it's there, we'll see. 3.14159 1234567 ---=== !!! ???",
];

function trainMerges(pattern: string, nMerges: number): [string, string][] {
  const b2u = byteToUnicode();
  const enc = new TextEncoder();
  const re = jsRegex(pattern);
  const words = new Map<string, number>();
  for (const t of TRAIN_TEXT)
    for (const m of t.matchAll(re)) {
      const w = Array.from(enc.encode(m[0]), (b) => b2u[b]!).join('\u0000');
      words.set(w, (words.get(w) ?? 0) + 1);
    }
  let seqs = [...words].map(([w, c]) => ({ sym: w.split('\u0000'), c }));
  const merges: [string, string][] = [];
  for (let k = 0; k < nMerges; k++) {
    const pairs = new Map<string, number>();
    for (const { sym, c } of seqs)
      for (let i = 0; i + 1 < sym.length; i++) {
        const key = `${sym[i]}\u0000${sym[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + c);
      }
    let best: string | undefined,
      bc = 1;
    for (const [p, c] of pairs)
      if (c > bc || (c === bc && best !== undefined && p < best)) {
        best = p;
        bc = c;
      }
    if (!best) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    seqs = seqs.map(({ sym, c }) => {
      const out: string[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(sym[i]!);
      }
      return { sym: out, c };
    });
  }
  return merges;
}

const QWEN3_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' }}{%- if message.role == 'assistant' and message.reasoning_content %}{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}{%- endif %}{{- message.content + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}";
const SMOLLM3_TEMPLATE =
  "{%- set system_message = '## Metadata\\n\\nKnowledge Cutoff Date: June 2025\\nReasoning Mode: /think\\n\\n' -%}{{- '<|im_start|>system\\n' + system_message + '<|im_end|>\\n' -}}{%- for message in messages -%}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

export interface ArchFixtureOptions {
  /** rows of 256, 8 experts */
  wide?: boolean;
  /** qwen3moe: experts saved stacked (mlp.experts.gate_up_proj / down_proj, newer transformers) instead of one tensor per expert; same values */
  fusedExperts?: boolean;
}

export async function buildArchFixture(kind: ArchKind, opts: ArchFixtureOptions = {}): Promise<ArchFixture> {
  const wide = opts.wide === true;
  const qwen = kind !== 'smollm3';
  const pattern = qwen ? QWEN2_REGEX : LLAMA3_REGEX;
  const merges = trainMerges(pattern, 160);
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((c, i) => {
    vocab[c] = i;
  });
  let next = 256;
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = next++;
  // the family's added tokens: [content, special]
  const addedList: [string, boolean][] = qwen
    ? [
        ['<|endoftext|>', true],
        ['<|im_start|>', true],
        ['<|im_end|>', true],
        ['<|vision_start|>', true],
        ['<tool_call>', false],
        ['</tool_call>', false],
        ['<think>', false],
        ['</think>', false],
      ]
    : [
        ['<|begin_of_text|>', true],
        ['<|end_of_text|>', true],
        ['<|im_start|>', true],
        ['<|im_end|>', true],
        ['<think>', true],
        ['</think>', true],
        ['<|reserved_special_token_0|>', true],
      ];
  const specials: Record<string, number> = {};
  const added = addedList.map(([content, special]) => {
    specials[content] = next;
    return { id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
  });
  const nTokens = next;
  const vocabSize = nTokens + 8; // config vocab_size beyond the tokenizer, as Qwen3's (151936 > 151669)

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: qwen ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: qwen
      ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }
      : {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            {
              type: 'TemplateProcessing',
              single: [
                { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
                { Sequence: { id: 'A', type_id: 0 } },
              ],
              pair: [],
              special_tokens: {
                '<|begin_of_text|>': {
                  id: '<|begin_of_text|>',
                  ids: [specials['<|begin_of_text|>']],
                  tokens: ['<|begin_of_text|>'],
                },
              },
            },
          ],
        },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: !qwen,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
  const addedDecoder = Object.fromEntries(
    added.map((a) => [
      String(a.id),
      { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: a.special },
    ]),
  );
  const tokenizerConfig = qwen
    ? {
        add_bos_token: false,
        add_prefix_space: false,
        added_tokens_decoder: addedDecoder,
        additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
        bos_token: null,
        chat_template: QWEN3_TEMPLATE,
        clean_up_tokenization_spaces: false,
        eos_token: '<|im_end|>',
        errors: 'replace',
        model_max_length: 131072,
        pad_token: '<|endoftext|>',
        split_special_tokens: false,
        tokenizer_class: 'Qwen2Tokenizer',
        unk_token: null,
      }
    : {
        added_tokens_decoder: addedDecoder,
        bos_token: '<|begin_of_text|>',
        chat_template: SMOLLM3_TEMPLATE,
        clean_up_tokenization_spaces: true,
        eos_token: '<|im_end|>',
        model_input_names: ['input_ids', 'attention_mask'],
        model_max_length: 131072,
        pad_token: '<|im_end|>',
        tokenizer_class: 'PreTrainedTokenizerFast',
      };

  const dim = wide ? 256 : 64,
    nHeads = 4,
    nKvHeads = 2;
  // Qwen3 configs give head_dim (nHeads × head_dim ≠ hidden_size); SmolLM3's imply hidden_size / heads
  const headDim = kind === 'smollm3' ? dim / nHeads : wide ? 128 : 32;
  const hidden = wide ? 512 : 128;
  const moe = kind === 'qwen3moe';
  const nExpert = moe ? (wide ? 8 : 4) : 0,
    nExpertUsed = moe ? 2 : 0,
    moeHidden = moe ? (wide ? 256 : 32) : 0;
  const nLayers = kind === 'smollm3' ? 4 : 2;
  const useRope = Array.from({ length: nLayers }, (_, l) => kind !== 'smollm3' || (l + 1) % 4 !== 0);
  const w: ArchWeights = {
    kind,
    dim,
    hidden,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocab: vocabSize,
    rmsEps: 1e-6,
    ropeTheta: kind === 'smollm3' ? 5000000 : 1000000,
    tied: kind !== 'qwen3moe',
    nExpert,
    nExpertUsed,
    moeHidden,
    useRope,
    tensors: new Map(),
  };
  const r = rng({ qwen3: 31, qwen3moe: 32, smollm3: 33 }[kind] + (wide ? 100 : 0));
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
  const kv = nKvHeads * headDim,
    qd = nHeads * headDim;
  add('model.embed_tokens.weight', [vocabSize, dim], 1);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [dim], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [qd, dim], lin(dim) * 2);
    add(`${p}.self_attn.k_proj.weight`, [kv, dim], lin(dim) * 2);
    add(`${p}.self_attn.v_proj.weight`, [kv, dim], lin(dim));
    add(`${p}.self_attn.o_proj.weight`, [dim, qd], lin(qd));
    if (qwen) {
      add(`${p}.self_attn.q_norm.weight`, [headDim], 0.2, 1);
      add(`${p}.self_attn.k_norm.weight`, [headDim], 0.2, 1);
    }
    add(`${p}.post_attention_layernorm.weight`, [dim], 0.1, 1);
    if (moe) {
      add(`${p}.mlp.gate.weight`, [nExpert, dim], lin(dim) * 4);
      for (let x = 0; x < nExpert; x++) {
        add(`${p}.mlp.experts.${x}.gate_proj.weight`, [moeHidden, dim], lin(dim));
        add(`${p}.mlp.experts.${x}.up_proj.weight`, [moeHidden, dim], lin(dim));
        add(`${p}.mlp.experts.${x}.down_proj.weight`, [dim, moeHidden], lin(moeHidden));
      }
    } else {
      add(`${p}.mlp.gate_proj.weight`, [hidden, dim], lin(dim));
      add(`${p}.mlp.up_proj.weight`, [hidden, dim], lin(dim));
      add(`${p}.mlp.down_proj.weight`, [dim, hidden], lin(hidden));
    }
  }
  add('model.norm.weight', [dim], 0.1, 1);
  if (!w.tied) add('lm_head.weight', [vocabSize, dim], lin(dim) * 4);

  if (opts.fusedExperts && moe) {
    // replace each layer's per-expert tensors by the two stacked ones, where the first of them was
    const bf = (v: Float32Array) => Uint16Array.from(v, fp32ToBf16);
    for (let l = 0; l < nLayers; l++) {
      const p = `model.layers.${l}.mlp.experts`;
      const at = st.findIndex((t) => t.name.startsWith(`${p}.`));
      const down = new Float32Array(nExpert * dim * moeHidden),
        gateUp = new Float32Array(nExpert * 2 * moeHidden * dim);
      for (let x = 0; x < nExpert; x++) {
        down.set(w.tensors.get(`${p}.${x}.down_proj.weight`)!, x * dim * moeHidden);
        gateUp.set(w.tensors.get(`${p}.${x}.gate_proj.weight`)!, x * 2 * moeHidden * dim);
        gateUp.set(w.tensors.get(`${p}.${x}.up_proj.weight`)!, (x * 2 + 1) * moeHidden * dim);
      }
      const rest = st.filter((t) => !t.name.startsWith(`${p}.`));
      const fused: SafetensorsOutTensor[] = [
        {
          name: `${p}.gate_up_proj`,
          dtype: 'BF16',
          shape: [nExpert, 2 * moeHidden, dim],
          data: () => new Uint8Array(bf(gateUp).buffer),
        },
        {
          name: `${p}.down_proj`,
          dtype: 'BF16',
          shape: [nExpert, dim, moeHidden],
          data: () => new Uint8Array(bf(down).buffer),
        },
      ];
      st.splice(0, st.length, ...rest.slice(0, at), ...fused, ...rest.slice(at));
    }
  }

  const files = new Map<string, Uint8Array>();
  const json = (name: string, x: unknown) =>
    files.set(name, new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n'));
  const sink = new BufferSink();
  await writeSafetensors(sink, st, { metadata: { format: 'pt' } });
  files.set('model.safetensors', sink.bytes());
  const common = {
    attention_bias: false,
    attention_dropout: 0.0,
    hidden_act: 'silu',
    hidden_size: dim,
    initializer_range: 0.02,
    intermediate_size: hidden,
    max_position_embeddings: 40960,
    num_attention_heads: nHeads,
    num_hidden_layers: nLayers,
    num_key_value_heads: nKvHeads,
    rms_norm_eps: w.rmsEps,
    rope_scaling: null,
    rope_theta: w.ropeTheta,
    tie_word_embeddings: w.tied,
    torch_dtype: 'bfloat16',
    transformers_version: '4.51.0',
    use_cache: true,
    vocab_size: vocabSize,
  };
  if (kind === 'qwen3') {
    json('config.json', {
      architectures: ['Qwen3ForCausalLM'],
      ...common,
      bos_token_id: specials['<|endoftext|>'],
      eos_token_id: specials['<|im_end|>'],
      head_dim: headDim,
      max_window_layers: 28,
      model_type: 'qwen3',
      sliding_window: null,
      use_sliding_window: false,
    });
  } else if (kind === 'qwen3moe') {
    json('config.json', {
      architectures: ['Qwen3MoeForCausalLM'],
      ...common,
      bos_token_id: specials['<|endoftext|>'],
      eos_token_id: specials['<|im_end|>'],
      decoder_sparse_step: 1,
      head_dim: headDim,
      max_window_layers: 48,
      mlp_only_layers: [],
      model_type: 'qwen3_moe',
      moe_intermediate_size: moeHidden,
      norm_topk_prob: true,
      num_experts: nExpert,
      num_experts_per_tok: nExpertUsed,
      output_router_logits: false,
      router_aux_loss_coef: 0.001,
      sliding_window: null,
      use_sliding_window: false,
    });
  } else {
    json('config.json', {
      architectures: ['SmolLM3ForCausalLM'],
      ...common,
      bos_token_id: null,
      eos_token_id: specials['<|im_end|>'],
      pad_token_id: specials['<|end_of_text|>'],
      max_position_embeddings: 65536,
      mlp_bias: false,
      model_type: 'smollm3',
      no_rope_layer_interval: 4,
      no_rope_layers: useRope.map((u) => (u ? 1 : 0)),
      pretraining_tp: 2,
      sliding_window: null,
      use_sliding_window: false,
      max_window_layers: 28,
      layer_types: Array(nLayers).fill('full_attention'),
    });
  }
  json('tokenizer.json', tokenizerJson);
  json('tokenizer_config.json', tokenizerConfig);
  json('generation_config.json', {
    bos_token_id: qwen ? specials['<|endoftext|>'] : specials['<|begin_of_text|>'],
    eos_token_id: specials['<|im_end|>'],
  });
  return { files, weights: w, specials, pre: qwen ? 'qwen2' : 'llama-bpe' };
}

export async function writeArchFixture(
  dir: string,
  kind: ArchKind,
  opts: ArchFixtureOptions = {},
): Promise<ArchFixture> {
  const f = await buildArchFixture(kind, opts);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of f.files) writeFileSync(join(dir, name), bytes);
  return f;
}

/** the tokenizer test text: multilingual, code, special and added tokens */
export const TOKENIZER_TEST_TEXT =
  '<|im_start|>user\nThe quick brown fox? Der Fuchs springt über den Hund; лиса прыгает — 快速的狐狸 😀\n' +
  'def forward(self, x):\n    return [1, 22, 333, 4444]  # it\'s fine, we\'ll see\n<think>\nhmm\n</think>\n<tool_call>{"a": 3.14}</tool_call><|im_end|>\n';
