// Shared pieces of the per-architecture Hugging Face converters (arch/<gguf-arch>.ts): a tensor read
// straight from the checkpoint (optionally transformed element-wise or sliced to some rows), and
// config helpers with convert_hf_to_gguf.py's find_hparam semantics.
import { LowbitError } from '../../../errors.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import type { SafetensorsTensor } from '../../../io/safetensors/reader.js';
import { FLOAT_DECODABLE, SAFETENSORS_DTYPE_BITS, toFloat32 } from '../../../io/safetensors/dtypes.js';
import type { TensorSpec } from '../../model.js';
import { gv, type GgufMetadata } from '../../../io/gguf/metadata.js';

export interface PlainTensorOptions {
  /** element-wise change applied in float32 (e.g. gemma's norm + 1) */
  map?: (x: number) => number;
  /** keep only the first `rows` HF rows (gemma3 drops out-of-vocabulary embedding rows) */
  rows?: number;
  /** F32 in every output type (default: 1-D tensors and *_norm.weight, as the converter does) */
  keepF32?: boolean;
}

/** prepare_tensors: 1-D tensors, norms, non-.weight tensors (biases) and routers stay F32 in every float output */
export function keepsF32(name: string, nDims: number): boolean {
  return (
    nDims <= 1 ||
    name.endsWith('_norm.weight') ||
    !name.endsWith('.weight') ||
    /\.ffn_gate_inp(_shexp)?\.weight$/.test(name)
  );
}

export function checkFloat(t: SafetensorsTensor): void {
  if (!FLOAT_DECODABLE.has(t.dtype))
    throw new LowbitError(`tensor '${t.name}' is ${t.dtype}; lowbit converts float checkpoints (F32, F16, BF16)`);
}

/** A tensor whose GGUF rows are the HF rows (ggml shape = HF shape reversed). */
export function plainTensor(
  set: SafetensorsSet,
  t: SafetensorsTensor,
  name: string,
  o: PlainTensorOptions = {},
): TensorSpec {
  checkFloat(t);
  const hfShape = [...t.shape];
  if (o.rows !== undefined) {
    if (o.rows > hfShape[0]!)
      throw new LowbitError(`tensor '${t.name}' has ${hfShape[0]} rows, expected at least ${o.rows}`);
    hfShape[0] = o.rows;
  }
  const shape = hfShape.reverse();
  const rowLen = shape[0]!;
  const total = shape.reduce((a, b) => a * b, 1);
  const elBytes = SAFETENSORS_DTYPE_BITS[t.dtype] / 8;
  const src = t.name,
    dtype = t.dtype,
    map = o.map;
  const readElems = async (first: number, n: number) => {
    const v = toFloat32(await set.readBytes(src, first * elBytes, n * elBytes), dtype);
    if (map) for (let i = 0; i < v.length; i++) v[i] = map(v[i]!);
    return v;
  };
  return {
    name,
    shape,
    keepF32: o.keepF32 ?? keepsF32(name, shape.length),
    read: () => readElems(0, total),
    readRows: (first, count) => readElems(first * rowLen, count * rowLen),
  };
}

type Obj = Record<string, unknown>;

/** find_hparam: the first of `names` present in the config (null counts as absent). */
export function findParam(c: Obj, names: string[]): unknown {
  for (const n of names) if (c[n] !== undefined && c[n] !== null) return c[n];
  return undefined;
}

export function numParam(c: Obj, names: string[], file = 'config.json'): number | undefined {
  const v = findParam(c, names);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new LowbitError(`${file}: ${names[0]} is not a number`);
  return v;
}

export function requireParam(c: Obj, names: string[], file = 'config.json'): number {
  const v = numParam(c, names, file);
  if (v === undefined) throw new LowbitError(`${file}: missing ${names[0]}`);
  return v;
}

/** TextModel.__init__'s rope_parameters: rope_parameters or rope_scaling, mirrored keys. */
export function ropeParameters(c: Obj): Obj {
  const rp = { ...((c.rope_parameters ?? c.rope_scaling ?? {}) as Obj) };
  if (!('full_attention' in rp) && !('sliding_attention' in rp)) {
    const local = findParam(c, [
      'local_rope_theta',
      'rope_local_theta',
      'rope_theta_local',
      'swa_rope_theta',
      'rope_local_base_freq',
    ]);
    const theta = findParam(c, [
      'global_rope_theta',
      'rope_global_theta',
      'rope_theta_global',
      'rope_theta',
      'rotary_emb_base',
    ]);
    const partial = findParam(c, ['partial_rotary_factor', 'rope_pct', 'rope_percent']);
    const orig = findParam(c, ['original_max_position_embeddings']);
    if (local !== undefined) rp.sliding_attention = { rope_theta: local };
    if (!('rope_theta' in rp) && theta !== undefined) rp.rope_theta = theta;
    if (!('rope_type' in rp) && rp.type !== undefined) rp.rope_type = rp.type;
    if (!('partial_rotary_factor' in rp) && partial !== undefined) rp.partial_rotary_factor = partial;
    if (!('original_max_position_embeddings' in rp) && orig !== undefined) rp.original_max_position_embeddings = orig;
  }
  return rp;
}

export const checkMissing = (have: Set<string>, need: string[], arch: string): void => {
  const missing = need.filter((n) => !have.has(n));
  if (missing.length)
    throw new LowbitError(
      `checkpoint is missing ${missing.length} tensor(s) a ${arch} model needs, e.g. ${missing.slice(0, 3).join(', ')}`,
    );
};

/**
 * TextModel.set_gguf_parameters (after general.*): the keys every text model writes, in its order,
 * from the config; architecture modules then set (in place, like gguf-py's overwrite) or add theirs.
 */
export function baseTextParams(
  m: GgufMetadata,
  a: string,
  c: Obj,
  nLayers: number,
  rp: Obj,
  file = 'config.json',
): void {
  m.set(`${a}.block_count`, gv.u32(nLayers));
  const u32 = (key: string, names: string[]) => {
    const v = numParam(c, names, file);
    if (v !== undefined) m.set(`${a}.${key}`, gv.u32(v));
  };
  u32('context_length', [
    'max_position_embeddings',
    'n_ctx',
    'n_positions',
    'max_length',
    'max_sequence_length',
    'model_max_length',
  ]);
  u32('embedding_length', ['hidden_size', 'n_embd', 'dim']);
  u32('feed_forward_length', [
    'prefix_dense_intermediate_size',
    'dense_intermediate_size',
    'intermediate_size',
    'n_inner',
    'hidden_dim',
  ]);
  u32('attention.head_count', ['num_attention_heads', 'n_head', 'n_heads']);
  u32('attention.head_count_kv', ['num_key_value_heads', 'n_kv_heads']);
  if (c.is_causal === false) m.set(`${a}.attention.causal`, gv.bool(false));
  const full = (isObj(rp.full_attention) ? rp.full_attention : rp) as Obj;
  const ropeType = full.rope_type;
  if (ropeType !== undefined && ropeType !== null) {
    const factor = typeof full.factor === 'number' ? full.factor : undefined;
    const f32 = (key: string, v: unknown) => {
      if (typeof v === 'number') m.set(`${a}.${key}`, gv.f32(v));
    };
    if (ropeType === 'linear' && factor !== undefined) {
      m.set(`${a}.rope.scaling.type`, gv.str('linear'));
      m.set(`${a}.rope.scaling.factor`, gv.f32(factor));
    } else if (ropeType === 'yarn' && factor !== undefined) {
      m.set(`${a}.rope.scaling.type`, gv.str('yarn'));
      m.set(`${a}.rope.scaling.factor`, gv.f32(factor));
      if (typeof full.original_max_position_embeddings !== 'number')
        throw new LowbitError(`${file}: yarn rope scaling needs original_max_position_embeddings`);
      m.set(`${a}.rope.scaling.original_context_length`, gv.u32(full.original_max_position_embeddings));
      f32('rope.scaling.yarn_ext_factor', full.extrapolation_factor);
      f32('rope.scaling.yarn_attn_factor', full.attention_factor ?? full.attn_factor);
      f32('rope.scaling.yarn_beta_fast', full.beta_fast);
      f32('rope.scaling.yarn_beta_slow', full.beta_slow);
    } else if (ropeType === 'su' || ropeType === 'longrope') {
      m.set(`${a}.rope.scaling.type`, gv.str('longrope'));
    } else if (ropeType !== 'dynamic' && String(ropeType).toLowerCase() !== 'llama3' && ropeType !== 'default') {
      throw new LowbitError(`${file}: rope scaling '${String(ropeType)}' is not supported for ${a}`);
    }
  }
  if (Array.isArray(rp.mrope_section)) throw new LowbitError(`${file}: mrope_section is not supported for ${a}`);
  if (typeof full.rope_theta === 'number') m.set(`${a}.rope.freq_base`, gv.f32(full.rope_theta));
  const swa = isObj(rp.sliding_attention) ? rp.sliding_attention.rope_theta : undefined;
  if (typeof swa === 'number') m.set(`${a}.rope.freq_base_swa`, gv.f32(swa));
  const rms = numParam(c, ['rms_norm_eps', 'norm_eps'], file);
  if (rms !== undefined) m.set(`${a}.attention.layer_norm_rms_epsilon`, gv.f32(rms));
  const ln = numParam(c, ['layer_norm_eps', 'layer_norm_epsilon', 'norm_epsilon'], file);
  if (ln !== undefined) m.set(`${a}.attention.layer_norm_epsilon`, gv.f32(ln));
  u32('expert_count', ['num_local_experts', 'num_experts', 'n_routed_experts']);
  u32('expert_used_count', ['num_experts_per_tok', 'num_experts_per_token', 'top_k_experts']);
  if (typeof c.n_group === 'number') m.set(`${a}.expert_group_count`, gv.u32(c.n_group));
  if (typeof c.topk_group === 'number') m.set(`${a}.expert_group_used_count`, gv.u32(c.topk_group));
  const score = findParam(c, [
    'score_function',
    'scoring_func',
    'score_func',
    'moe_router_activation',
    'moe_router_activation_func',
    'expert_selection_fn',
  ]);
  if (score !== undefined) {
    const fn = ({ softmax: 1, sigmoid: 2, sqrtsoftplus: 4 } as Record<string, number>)[String(score)];
    if (fn === undefined) throw new LowbitError(`${file}: expert score function '${String(score)}' is not supported`);
    m.set(`${a}.expert_gating_func`, gv.u32(fn));
  }
  if (typeof c.head_dim === 'number') {
    m.set(`${a}.attention.key_length`, gv.u32(c.head_dim));
    m.set(`${a}.attention.value_length`, gv.u32(c.head_dim));
  }
  m.set('general.file_type', gv.u32(0));
}

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** TextModel.filter_tensors: tensors of vision/audio towers and projectors, which the text model skips */
export function isMultimodalTensor(name: string): boolean {
  return (
    /^(mlp|vit\.|vpm\.|siglip2\.|conformer\.|merger\.|resampler\.|sound_encoder\.|sound_projection\.|speech_embeddings\.)/.test(
      name,
    ) ||
    [
      'visual.',
      'vision.',
      'audio.',
      'talker.',
      'vision_',
      'audio_',
      'token2wav.',
      'code2wav.',
      'projector.',
      'pre_mm_projector_norm',
      'image_newline',
      'view_seperator',
      'patch_embed',
      'patch_embedding',
      'patch_merger.',
      'patch_merge_mlp.',
      'model.connector.',
    ].some((s) => name.includes(s))
  );
}
