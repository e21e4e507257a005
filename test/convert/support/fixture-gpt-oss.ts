// A synthetic gpt-oss checkpoint (GptOssForCausalLM, model_type gpt_oss) in the layout OpenAI
// ships: MXFP4 experts (mlp.experts.{gate_up,down}_proj_blocks U8 [E, rows, cols/32, 16] with
// _scales U8 E8M0 [E, rows, cols/32], gate/up rows interleaved), BF16 expert biases, router
// (mlp.router weight + bias), attention with q/k/v/o biases and per-head sinks, untied lm_head;
// the config keys of gpt-oss-20b (quantization_config mxfp4, layer_types alternating sliding/full,
// sliding_window, YaRN rope_scaling with factor 32, swiglu_limit, experts_per_token); and an
// o200k-style byte-level BPE tokenizer.json (gpt-4o's pre-tokenizer regex, byte-level symbols,
// merges trained here on a small text) with harmony's special tokens, tokenizer_config.json and
// chat_template.jinja. Write it: node --import tsx test/convert/support/fixture-gpt-oss.ts
import { Checkpoint, json, writeFiles, addedToken, FIXTURE_ROOT, type Files } from './synthetic-hf.js';
import { bytesToUnicode } from '../../support/hf-fixture.js';

export const GPT_OSS_DIR = `${FIXTURE_ROOT}/gpt-oss`;
/** experts in BF16 ([E, D, 2·ff] / [E, ff, D]), no quantization_config, as BF16 re-releases ship them */
export const GPT_OSS_BF16_DIR = `${FIXTURE_ROOT}/gpt-oss-bf16`;

export const O200K_REGEX =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const CORPUS = `The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away into the forest.
It's the first time they've seen the other side of the river, and they'll return there tomorrow.
def forward(self, x):
    return self.linear(x) + self.bias  # the residual
for i in range(10): print(i, i * i)
Grüße aus München, ça va très bien. Привет, как дела? 你好，世界。こんにちは世界。
The the the there then these those other mother brother weather together.`;

export const HARMONY: [string, number][] = [
  ['<|startoftext|>', 0],
  ['<|endoftext|>', 1],
  ['<|reserved_200000|>', 2],
  ['<|reserved_200001|>', 3],
  ['<|return|>', 4],
  ['<|constrain|>', 5],
  ['<|reserved_200004|>', 6],
  ['<|channel|>', 7],
  ['<|start|>', 8],
  ['<|end|>', 9],
  ['<|message|>', 10],
  ['<|call|>', 14],
];

/** Byte-level BPE trained on CORPUS: words split at spaces (space kept as a prefix), `n` merges, most frequent pair first. */
export function trainBpe(n: number): { vocab: string[]; merges: [string, string][] } {
  const u = bytesToUnicode();
  const enc = new TextEncoder();
  const words = new Map<string, number>();
  for (const w of CORPUS.match(/ ?[^\s]+|\s+/g) ?? []) {
    const k = Array.from(enc.encode(w), (b) => u[b]!).join('\u0000');
    words.set(k, (words.get(k) ?? 0) + 1);
  }
  let seqs = [...words].map(([k, c]) => ({ s: k.split('\u0000'), c }));
  const vocab = [...u];
  const merges: [string, string][] = [];
  for (let m = 0; m < n; m++) {
    const counts = new Map<string, number>();
    for (const { s, c } of seqs)
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]}\u0000${s[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + c);
      }
    let best = '',
      bc = 0;
    for (const [k, c] of counts)
      if (c > bc || (c === bc && k < best)) {
        best = k;
        bc = c;
      }
    if (bc < 2) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    vocab.push(a + b);
    seqs = seqs.map(({ s, c }) => {
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(s[i]!);
      }
      return { s: out, c };
    });
  }
  return { vocab, merges };
}

/** tokenizer.json of an o200k-style byte-level BPE (gpt-4o's split regex, then byte-level symbols) */
export function o200kTokenizerJson(
  vocab: string[],
  merges: [string, string][],
  added: ReturnType<typeof addedToken>[],
): unknown {
  const vocabObj: Record<string, number> = {};
  vocab.forEach((t, i) => {
    vocabObj[t] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: O200K_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObj,
      merges,
    },
  };
}

export interface GptOssDims {
  hidden: number;
  ff: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  experts: number;
  used: number;
  window: number;
}

export function gptOssTokenizer() {
  const { vocab, merges } = trainBpe(160);
  const base = vocab.length;
  const added = HARMONY.map(([t, off]) => addedToken(base + off, t));
  const vocabSize = base + 32;
  return { vocab, merges, added, vocabSize };
}

/** E8M0 scales around 2^-4 and random FP4 codes, as HF stores MXFP4 ([..., rows, cols/32, 16] blocks, [..., rows, cols/32] scales). */
function mxfp4(ck: Checkpoint, prefix: string, experts: number, rows: number, cols: number): void {
  const nb = cols / 32;
  ck.raw(`${prefix}_blocks`, 'U8', [experts, rows, nb, 16], ck.bytes(experts * rows * nb * 16));
  const scales = ck.bytes(experts * rows * nb).map((b) => 121 + (b % 4));
  ck.raw(`${prefix}_scales`, 'U8', [experts, rows, nb], scales);
}

export async function buildGptOss(over: Partial<GptOssDims> = {}, bf16Experts = false): Promise<Files> {
  const d: GptOssDims = {
    hidden: 64,
    ff: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    experts: 4,
    used: 2,
    window: 4,
    ...over,
  };
  const tok = gptOssTokenizer();
  const ck = new Checkpoint(bf16Experts ? 8 : 6);
  const norm = (name: string) => ck.add(name, [d.hidden], ck.random(d.hidden, 0.2, 1));
  const bias = (name: string, shape: number[], s = 0.1) =>
    ck.add(
      name,
      shape,
      ck.random(
        shape.reduce((a, b) => a * b, 1),
        s,
      ),
    );
  ck.matrix('model.embed_tokens.weight', tok.vocabSize, d.hidden, 4);
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`);
    ck.matrix(`${p}.self_attn.q_proj.weight`, d.heads * d.headDim, d.hidden, 2);
    bias(`${p}.self_attn.q_proj.bias`, [d.heads * d.headDim]);
    ck.matrix(`${p}.self_attn.k_proj.weight`, d.kvHeads * d.headDim, d.hidden, 2);
    bias(`${p}.self_attn.k_proj.bias`, [d.kvHeads * d.headDim]);
    ck.matrix(`${p}.self_attn.v_proj.weight`, d.kvHeads * d.headDim, d.hidden);
    bias(`${p}.self_attn.v_proj.bias`, [d.kvHeads * d.headDim]);
    ck.matrix(`${p}.self_attn.o_proj.weight`, d.hidden, d.heads * d.headDim);
    bias(`${p}.self_attn.o_proj.bias`, [d.hidden]);
    ck.add(`${p}.self_attn.sinks`, [d.heads], ck.random(d.heads, 1.5, 0.5));
    norm(`${p}.post_attention_layernorm.weight`);
    ck.matrix(`${p}.mlp.router.weight`, d.experts, d.hidden, 3);
    bias(`${p}.mlp.router.bias`, [d.experts], 0.5);
    if (bf16Experts)
      ck.add(
        `${p}.mlp.experts.gate_up_proj`,
        [d.experts, d.hidden, 2 * d.ff],
        ck.random(d.experts * d.hidden * 2 * d.ff, 2 / Math.sqrt(d.hidden)),
      );
    else mxfp4(ck, `${p}.mlp.experts.gate_up_proj`, d.experts, 2 * d.ff, d.hidden);
    bias(`${p}.mlp.experts.gate_up_proj_bias`, [d.experts, 2 * d.ff], 0.3);
    if (bf16Experts)
      ck.add(
        `${p}.mlp.experts.down_proj`,
        [d.experts, d.ff, d.hidden],
        ck.random(d.experts * d.ff * d.hidden, 1 / Math.sqrt(d.ff)),
      );
    else mxfp4(ck, `${p}.mlp.experts.down_proj`, d.experts, d.hidden, d.ff);
    bias(`${p}.mlp.experts.down_proj_bias`, [d.experts, d.hidden], 0.1);
  }
  norm('model.norm.weight');
  ck.matrix('lm_head.weight', tok.vocabSize, d.hidden, 2);

  const files: Files = new Map();
  files.set('model.safetensors', await ck.safetensors());
  const base = tok.vocab.length;
  json(files, 'config.json', {
    architectures: ['GptOssForCausalLM'],
    attention_bias: true,
    attention_dropout: 0.0,
    eos_token_id: base + 4,
    experts_per_token: d.used,
    head_dim: d.headDim,
    hidden_act: 'silu',
    hidden_size: d.hidden,
    initial_context_length: 4096,
    initializer_range: 0.02,
    intermediate_size: d.ff,
    layer_types: Array.from({ length: d.layers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
    max_position_embeddings: 131072,
    model_type: 'gpt_oss',
    num_attention_heads: d.heads,
    num_experts_per_tok: d.used,
    num_hidden_layers: d.layers,
    num_key_value_heads: d.kvHeads,
    num_local_experts: d.experts,
    output_router_logits: false,
    pad_token_id: base + 1,
    ...(bf16Experts
      ? {}
      : {
          quantization_config: {
            modules_to_not_convert: [
              'model.layers.*.self_attn',
              'model.layers.*.mlp.router',
              'model.embed_tokens',
              'lm_head',
            ],
            quant_method: 'mxfp4',
          },
        }),
    rms_norm_eps: 1e-5,
    rope_scaling: {
      beta_fast: 32.0,
      beta_slow: 1.0,
      factor: 32.0,
      original_max_position_embeddings: 4096,
      rope_type: 'yarn',
      truncate: false,
    },
    rope_theta: 150000,
    router_aux_loss_coef: 0.9,
    sliding_window: d.window,
    swiglu_limit: 7.0,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.55.0.dev0',
    use_cache: true,
    vocab_size: tok.vocabSize,
  });
  json(files, 'tokenizer.json', o200kTokenizerJson(tok.vocab, tok.merges, tok.added));
  json(files, 'tokenizer_config.json', {
    added_tokens_decoder: Object.fromEntries(
      tok.added.map((a) => [
        String(a.id),
        { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    bos_token: '<|startoftext|>',
    clean_up_tokenization_spaces: false,
    eos_token: '<|return|>',
    extra_special_tokens: {},
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 1000000000000000019884624838656,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'PreTrainedTokenizerFast',
  });
  files.set(
    'chat_template.jinja',
    new TextEncoder().encode(
      "{#- harmony (abridged) -#}\n{%- for message in messages -%}<|start|>{{ message['role'] }}<|message|>{{ message['content'] }}<|end|>{%- endfor -%}{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}",
    ),
  );
  return files;
}

if (process.argv[1]?.endsWith('fixture-gpt-oss.ts')) {
  writeFiles(GPT_OSS_DIR, await buildGptOss());
  writeFiles(GPT_OSS_BF16_DIR, await buildGptOss({}, true));
  console.log(`wrote ${GPT_OSS_DIR}, ${GPT_OSS_BF16_DIR}`);
}
