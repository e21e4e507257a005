// GptOssForCausalLM (gpt-oss-20b / 120b) → GGUF arch gpt-oss, as convert_hf_to_gguf.py's
// GptOssModel writes it. Experts in a float type (BF16 re-releases) are transposed to ggml's layout
// and gate_up split (even rows gate, odd up). The MXFP4 experts stay MXFP4, bit for bit: HF's blocks (byte j = codes
// 2j | 2j+1 << 4) and E8M0 scales become ggml block_mxfp4 (scale byte, then byte j = codes j | j+16 << 4),
// gate_up split into ffn_gate_exps (even rows) and ffn_up_exps (odd rows), down as ffn_down_exps;
// these come first, in the order their _scales appear. Then the rest in checkpoint order: expert
// biases (gate_up_proj_bias split the same way), router as ffn_gate_inp (F32), attention with
// biases, self_attn.sinks as attn_sinks, post_attention_layernorm as post_attention_norm.
// Metadata: TextModel's (YaRN rope scaling, expert counts, head_dim) plus sliding_window and
// expert_feed_forward_length; general.file_type MXFP4_MOE in the float outputs, as the converter
// labels them. The vocab: byte-level BPE (o200k: pre "gpt-4o").
import { LowbitError } from '../../../errors.js';
import { gv, type GgufMetadata } from '../../../io/gguf/metadata.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import type { SafetensorsTensor } from '../../../io/safetensors/reader.js';
import { toFloat32 } from '../../../io/safetensors/dtypes.js';
import { GGML_TYPE } from '../../../formats/ggml-types.js';
import { addVocab, FILE_TYPE, type TensorSpec } from '../../model.js';
import { buildByteLevelBpeVocab } from '../tokenizer.js';
import { baseTextParams, checkFloat, checkMissing, plainTensor, ropeParameters } from './common.js';
import type { StandaloneArchitecture } from './standalone.js';

const LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'post_attention_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'self_attn.sinks': 'attn_sinks.weight',
  'mlp.router.weight': 'ffn_gate_inp.weight',
  'mlp.router.bias': 'ffn_gate_inp.bias',
  'mlp.experts.down_proj_bias': 'ffn_down_exps.bias',
};
const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

/** HF MXFP4 block (16 bytes: codes 2j low, 2j+1 high) → ggml's (codes j low, j+16 high), GptOssModel.transform_nibble_layout */
function relayout(src: Uint8Array, s: number, dst: Uint8Array, d: number): void {
  const code = (k: number) => (k & 1 ? src[s + (k >> 1)]! >> 4 : src[s + (k >> 1)]! & 15);
  for (let j = 0; j < 16; j++) dst[d + j] = code(j) | (code(j + 16) << 4);
}

/**
 * A ggml MXFP4 tensor [cols, rowsOut, E] from HF blocks [E, R, cols/32, 16] and scales [E, R, cols/32];
 * GGUF row r of expert e is HF row `stride·r + offset` (gate_up: stride 2, offset 0 gate / 1 up).
 */
function mxfp4Tensor(
  set: SafetensorsSet,
  name: string,
  blocks: SafetensorsTensor,
  scales: SafetensorsTensor,
  stride: number,
  offset: number,
): TensorSpec {
  const [E, R, nb, sixteen] = blocks.shape;
  if (
    blocks.shape.length !== 4 ||
    sixteen !== 16 ||
    blocks.dtype !== 'U8' ||
    scales.dtype !== 'U8' ||
    scales.shape.length !== 3 ||
    scales.shape[0] !== E ||
    scales.shape[1] !== R ||
    scales.shape[2] !== nb
  ) {
    throw new LowbitError(
      `${blocks.name} [${blocks.shape}] / ${scales.name} [${scales.shape}] are not MXFP4 blocks and scales`,
    );
  }
  if (R! % stride !== 0) throw new LowbitError(`${blocks.name}: ${R} rows do not split in ${stride}`);
  const rows = R! / stride,
    cols = nb! * 32;
  return {
    name,
    shape: [cols, rows, E!],
    keepF32: false,
    read: () => {
      throw new Error(`${name} is kept as MXFP4`);
    },
    raw: {
      type: GGML_TYPE.MXFP4,
      async readRows(first, count) {
        const out = new Uint8Array(count * nb! * 17);
        // GGUF rows [first, first + count) → HF rows, read expert by expert as one contiguous span each
        for (let g = first; g < first + count;) {
          const e = Math.floor(g / rows),
            r0 = g % rows;
          const n = Math.min(rows - r0, first + count - g);
          const h0 = e * R! + stride * r0 + offset,
            h1 = e * R! + stride * (r0 + n - 1) + offset + 1;
          const b = await set.readBytes(blocks.name, h0 * nb! * 16, (h1 - h0) * nb! * 16);
          const sc = await set.readBytes(scales.name, h0 * nb!, (h1 - h0) * nb!);
          for (let i = 0; i < n; i++) {
            const hr = stride * i; // relative HF row
            for (let k = 0; k < nb!; k++) {
              const o = ((g - first + i) * nb! + k) * 17;
              out[o] = sc[hr * nb! + k]!;
              relayout(b, (hr * nb! + k) * 16, out, o + 1);
            }
          }
          g += n;
        }
        return out;
      },
    },
  };
}

/** gate_up_proj_bias [E, 2·ff] → one half ([ff, E] in ggml order): columns offset, offset + 2, … */
function interleavedBias(set: SafetensorsSet, t: SafetensorsTensor, name: string, offset: number): TensorSpec {
  checkFloat(t);
  if (t.shape.length !== 2 || t.shape[1]! % 2 !== 0)
    throw new LowbitError(`tensor '${t.name}' has shape [${t.shape}], expected [experts, 2 × ff]`);
  const [E, two] = t.shape as [number, number];
  const ff = two / 2;
  const read = async () => {
    const all = toFloat32(await set.readBytes(t.name), t.dtype);
    return Float32Array.from({ length: E * ff }, (_, i) => all[Math.floor(i / ff) * two + 2 * (i % ff) + offset]!);
  };
  return {
    name,
    shape: [ff, E],
    keepF32: true,
    read,
    readRows: async (first, count) => (await read()).slice(first * ff, (first + count) * ff),
  };
}

/**
 * Experts stored in a float type (BF16 checkpoints): HF [E, A, B] (gate_up [E, D, 2·ff], down [E, ff, D])
 * transposed to [E, B, A] as the converter does; of the B rows, rows offset, offset + stride, …
 * (gate_up: even gate, odd up). One expert's slab is read (and kept) at a time.
 */
function transposedExperts(
  set: SafetensorsSet,
  t: SafetensorsTensor,
  name: string,
  stride: number,
  offset: number,
): TensorSpec {
  checkFloat(t);
  if (t.shape.length !== 3 || t.shape[2]! % stride !== 0)
    throw new LowbitError(`tensor '${t.name}' has shape [${t.shape}], expected [experts, in, out]`);
  const [E, A, B] = t.shape as [number, number, number];
  const rows = B / stride;
  const el = t.dtype === 'F32' ? 4 : 2;
  let cached: { e: number; v: Float32Array } | null = null;
  const slab = async (e: number) => {
    if (cached?.e !== e) cached = { e, v: toFloat32(await set.readBytes(t.name, e * A * B * el, A * B * el), t.dtype) };
    return cached.v;
  };
  const readRows = async (first: number, count: number) => {
    const out = new Float32Array(count * A);
    for (let i = 0; i < count; i++) {
      const g = first + i,
        e = Math.floor(g / rows),
        col = stride * (g % rows) + offset;
      const v = await slab(e);
      for (let a = 0; a < A; a++) out[i * A + a] = v[a * B + col]!;
    }
    return out;
  };
  return { name, shape: [A, rows, E], keepF32: false, read: () => readRows(0, rows * E), readRows };
}

export const gptOss: StandaloneArchitecture = {
  arch: 'gpt-oss',
  classes: ['GptOssForCausalLM'],
  modelTypes: ['gpt_oss'],
  ownRope: true,
  vocab: (files, cfg, opts) => buildByteLevelBpeVocab(files, cfg, opts),
  convert(cfg, set, vocab, opts) {
    const c = cfg.raw;
    const a = 'gpt-oss';
    const qc = (c.quantization_config ?? {}) as Record<string, unknown>;
    const mxfp4 = qc.quant_method === 'mxfp4';
    const m: GgufMetadata = new Map();
    m.set('general.architecture', gv.str(a));
    m.set('general.type', gv.str('model'));
    m.set('general.name', gv.str(opts.name));
    baseTextParams(m, a, c, cfg.nLayers, ropeParameters(c));
    if (typeof c.sliding_window !== 'number') throw new LowbitError('config.json: gpt-oss needs sliding_window');
    m.set(`${a}.attention.sliding_window`, gv.u32(c.sliding_window));
    m.set(`${a}.expert_feed_forward_length`, gv.u32(cfg.nFf));
    m.set('general.quantization_version', gv.u32(2));
    addVocab(m, vocab);

    const byName = new Map(set.tensors.map((t) => [t.name, t]));
    const out: TensorSpec[] = [];
    // generate_extra_tensors: the MXFP4 experts, at their _scales, before everything else
    if (mxfp4) {
      for (const t of set.tensors) {
        const mm = /^model\.layers\.(\d+)\.mlp\.experts\.(down_proj|gate_up_proj)_scales$/.exec(t.name);
        if (!mm) continue;
        const blocks = byName.get(t.name.replace(/_scales$/, '_blocks'));
        if (!blocks) throw new LowbitError(`checkpoint has ${t.name} but no ${t.name.replace(/_scales$/, '_blocks')}`);
        const b = `blk.${mm[1]}`;
        if (mm[2] === 'down_proj') out.push(mxfp4Tensor(set, `${b}.ffn_down_exps.weight`, blocks, t, 1, 0));
        else
          out.push(
            mxfp4Tensor(set, `${b}.ffn_gate_exps.weight`, blocks, t, 2, 0),
            mxfp4Tensor(set, `${b}.ffn_up_exps.weight`, blocks, t, 2, 1),
          );
      }
    }
    for (const t of set.tensors) {
      const name = t.name;
      if (/(\.attention\.masked_bias|\.attention\.bias|\.rotary_emb\.inv_freq)$/.test(name)) continue;
      const lm = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
      const rest = lm?.[2];
      if (rest && /^mlp\.experts\.(down_proj|gate_up_proj)_(blocks|scales)$/.test(rest)) {
        if (!mxfp4) throw new LowbitError(`${name}: MXFP4 blocks without quantization_config.quant_method mxfp4`);
        continue;
      }
      if (rest === 'mlp.experts.gate_up_proj_bias') {
        out.push(
          interleavedBias(set, t, `blk.${lm![1]}.ffn_gate_exps.bias`, 0),
          interleavedBias(set, t, `blk.${lm![1]}.ffn_up_exps.bias`, 1),
        );
        continue;
      }
      // experts in a float type (not MXFP4): transposed, gate_up split into gate (even) and up (odd)
      if (rest === 'mlp.experts.down_proj') {
        out.push(transposedExperts(set, t, `blk.${lm![1]}.ffn_down_exps.weight`, 1, 0));
        continue;
      }
      if (rest === 'mlp.experts.gate_up_proj') {
        out.push(
          transposedExperts(set, t, `blk.${lm![1]}.ffn_gate_exps.weight`, 2, 0),
          transposedExperts(set, t, `blk.${lm![1]}.ffn_up_exps.weight`, 2, 1),
        );
        continue;
      }
      const gg = GLOBAL[name] ?? (rest && LAYER[rest] ? `blk.${lm![1]}.${LAYER[rest]}` : undefined);
      if (!gg) throw new LowbitError(`cannot map tensor '${name}' to a gpt-oss GGUF tensor`);
      out.push(plainTensor(set, t, gg));
    }
    const need = ['token_embd.weight', 'output_norm.weight', 'output.weight'];
    for (let l = 0; l < cfg.nLayers; l++) {
      for (const s of [
        'attn_norm',
        'post_attention_norm',
        'attn_q',
        'attn_k',
        'attn_v',
        'attn_output',
        'attn_sinks',
        'ffn_gate_inp',
        'ffn_gate_exps',
        'ffn_up_exps',
        'ffn_down_exps',
      ])
        need.push(`blk.${l}.${s}.weight`);
    }
    checkMissing(new Set(out.map((t) => t.name)), need, a);
    return { metadata: m, tensors: out, floatFileType: mxfp4 ? FILE_TYPE.MXFP4_MOE : undefined };
  },
};
