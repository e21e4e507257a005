// config.json of a Hugging Face causal LM → the hyperparameters a llama-family GGUF needs, with
// the names and fallbacks convert_hf_to_gguf.py uses (find_hparam lists).
import { LowbitError } from '../../errors.js';
import { findArch, supportedClasses } from './arch/index.js';
import { STANDALONE_ARCHITECTURES } from './arch/standalone.js';

/** GGUF architecture name (arch/index.ts and arch/standalone.ts list them) */
export type HfArch = string;

export interface RopeScaling {
  type: 'linear' | 'llama3' | 'yarn' | 'none';
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalContext?: number;
}

export interface HfConfig {
  arch: HfArch;
  modelType: string;
  nLayers: number;
  nCtx?: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  headDim?: number;
  vocabSize: number;
  rmsEps?: number;
  ropeTheta?: number;
  rope: RopeScaling | null;
  tieEmbeddings: boolean;
  /** num_local_experts / num_experts / n_routed_experts */
  nExpert?: number;
  /** num_experts_per_tok / num_experts_per_token / top_k_experts */
  nExpertUsed?: number;
  raw: Record<string, unknown>;
}

export function parseHfConfig(json: unknown, file = 'config.json'): HfConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new LowbitError(`${file}: not a JSON object`);
  let c = json as Record<string, unknown>;
  if (c.text_config && typeof c.text_config === 'object') c = { ...c, ...(c.text_config as Record<string, unknown>) };
  const modelType = String(c.model_type ?? '');
  const cls = Array.isArray(c.architectures) ? String(c.architectures[0]) : '';
  // architectures with a converter of their own (arch/standalone.ts) first, then the shared table (arch/index.ts)
  const table =
    STANDALONE_ARCHITECTURES.find((a) => a.classes.includes(cls)) ??
    (cls ? undefined : STANDALONE_ARCHITECTURES.find((a) => a.modelTypes.includes(modelType)));
  const def = table ? undefined : findArch(modelType, cls);
  if (!table && !def) {
    throw new LowbitError(
      `${file}: model_type '${modelType || '(none)'}'${cls ? ` (${cls})` : ''} is not supported; lowbit converts ${supportedClasses()}`,
      'EUNSUPPORTED',
    );
  }
  const arch = table?.arch ?? def!.arch;
  // the architecture's config defaults (transformers' config class), for these hyperparameters only: raw stays as given
  const withDefaults: Record<string, unknown> = { ...(table?.configDefaults ?? {}), ...c };
  const find = (names: string[], required: boolean): number | undefined => {
    for (const n of names) {
      const v = withDefaults[n];
      if (v !== undefined && v !== null) {
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new LowbitError(`${file}: ${n} is not a number`);
        return v;
      }
    }
    if (required) throw new LowbitError(`${file}: missing ${names[0]}`);
    return undefined;
  };
  const int = (names: string[]) => {
    const v = find(names, true)!;
    if (!Number.isInteger(v) || v <= 0) throw new LowbitError(`${file}: ${names[0]} = ${v} is not a positive integer`);
    return v;
  };
  const nHead = int(['num_attention_heads', 'n_head', 'n_heads']);
  const cfg: HfConfig = {
    arch,
    modelType,
    raw: c,
    nLayers: int(['n_layers', 'num_hidden_layers', 'n_layer', 'num_layers']),
    nCtx: find(
      ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length'],
      false,
    ),
    nEmbd: int(['hidden_size', 'n_embd', 'dim']),
    nFf: int(['intermediate_size', 'n_inner', 'hidden_dim']),
    nHead,
    nHeadKv: find(['num_key_value_heads', 'n_kv_heads'], false) ?? nHead,
    headDim: find(['head_dim'], false),
    vocabSize: int(['vocab_size']),
    rmsEps: find(['rms_norm_eps', 'norm_eps'], false),
    ropeTheta: undefined,
    rope: null,
    tieEmbeddings: c.tie_word_embeddings === true,
    nExpert: find(['num_local_experts', 'num_experts', 'n_routed_experts'], false),
    nExpertUsed: find(['num_experts_per_tok', 'num_experts_per_token', 'top_k_experts'], false),
  };
  if (!Number.isInteger(cfg.nHeadKv) || cfg.nHeadKv <= 0 || nHead % cfg.nHeadKv !== 0) {
    throw new LowbitError(
      `${file}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${cfg.nHeadKv}`,
    );
  }
  if (table?.ownRope) return cfg;
  const rp = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  const theta = rp.rope_theta ?? find(['rope_theta', 'rotary_emb_base'], false);
  if (typeof theta === 'number') cfg.ropeTheta = theta;
  const ropeType = String(rp.rope_type ?? rp.type ?? '').toLowerCase();
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  if (ropeType === 'linear' && num(rp.factor) !== undefined) cfg.rope = { type: 'linear', factor: num(rp.factor)! };
  else if (ropeType === 'llama3') {
    cfg.rope = {
      type: 'llama3',
      factor: num(rp.factor) ?? 8,
      lowFreqFactor: num(rp.low_freq_factor) ?? 1,
      highFreqFactor: num(rp.high_freq_factor) ?? 4,
      originalContext: num(rp.original_max_position_embeddings) ?? 8192,
    };
  } else if (ropeType === 'yarn' && num(rp.factor) !== undefined) {
    cfg.rope = { type: 'yarn', factor: num(rp.factor)!, originalContext: num(rp.original_max_position_embeddings) };
  } else if (ropeType && ropeType !== 'default') {
    throw new LowbitError(
      `${file}: rope scaling '${ropeType}' is not supported (linear, llama3, yarn)`,
      'EUNSUPPORTED',
    );
  }
  def?.checkConfig?.(cfg, file);
  return cfg;
}

/**
 * rope_freqs for rope_type llama3, as LlamaModel.generate_extra_tensors computes them (float32
 * frequencies as torch makes them, then per-frequency factors).
 */
export function llama3RopeFactors(cfg: HfConfig): Float32Array {
  const r = cfg.rope!;
  const base = cfg.ropeTheta ?? 10000;
  const dim = cfg.headDim ?? cfg.nEmbd / cfg.nHead;
  const factor = r.factor!,
    lo = r.lowFreqFactor!,
    hi = r.highFreqFactor!,
    old = r.originalContext!;
  const lowWavelen = old / lo,
    highWavelen = old / hi;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
    // torch does these in float32 (python scalars meet float32 tensors)
    const f = Math.fround;
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = f(f(f(f(old) / wavelen) - f(lo)) / f(hi - lo));
      out[i] = f(1 / f(f(f(1 - smooth) / f(factor)) + smooth));
    }
  }
  return out;
}
