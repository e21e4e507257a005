// llama.cpp's per-tensor rules (src/llama-quant.cpp of the build lowbit matches): which tensors are
// quantized at all, the mixture rules of each file type (llama_tensor_get_type_impl), and the
// fallbacks when a row length does not fit a type's block. Kept line-for-line close to the C++ so a
// reader can check one against the other; every branch that changes the type names its rule.
import { GGML_TYPE as T, ggmlTypeById } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import { FTYPE as F } from './file-types.js';

export type TensorCategory =
  | 'token_embd'
  | 'attn_q'
  | 'attn_v'
  | 'attn_k'
  | 'attn_qkv'
  | 'attn_kv_b'
  | 'attn_output'
  | 'ffn_up'
  | 'ffn_gate'
  | 'ffn_down'
  | 'output'
  | 'other';

/** What the rules need to know about the model (llama_hparams as llama.cpp loads them). */
export interface ModelInfo {
  arch: string;
  /** {arch}.block_count */
  nLayer: number;
  /** heads of layer 0 */
  nHead: number;
  nHeadKv: number;
  /** {arch}.expert_count, 0 when absent */
  nExpert: number;
  /** llama.cpp's LLM_TYPE_70B, which gets a bigger attn_v */
  is70B: boolean;
}

export function isTokenEmbd(name: string): boolean {
  return name === 'token_embd.weight' || name === 'per_layer_token_embd.weight';
}

export function tensorCategory(name: string): TensorCategory {
  if (name === 'output.weight') return 'output';
  if (isTokenEmbd(name)) return 'token_embd';
  // substring tests in llama.cpp's order: attn_qkv before attn_v etc.
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

const isAttnV = (c: TensorCategory) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** ggml_n_dims: dimensions up to the last one that is not 1 (at least 1). */
export function nDims(shape: readonly number[]): number {
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i] !== 1) return i + 1;
  return 1;
}

const NOT_QUANTIZED_SUBSTRINGS = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'ffn_gate_tid2eid.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'indexer.k_proj.weight',
  'indexer.q_proj.weight',
  'time_mix_first.weight',
  'time_mix_w0.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_v0.weight',
  'time_mix_v1.weight',
  'time_mix_v2.weight',
  'time_mix_a0.weight',
  'time_mix_a1.weight',
  'time_mix_a2.weight',
  'time_mix_g1.weight',
  'time_mix_g2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
  'attn_rel_b.weight',
  '.position_embd',
  'sam.pos_embd',
  'sam.neck.',
  'sam.net_',
  '.rel_pos',
  '.patch_embd',
  '.patch_merger',
  'a.rvq.codebook',
  'mm.a.code_embd',
];

/**
 * tensor_allows_quantization: null when the tensor may be quantized, else why it is kept as is.
 * (llama.cpp checks `name.rfind("weight") == size-6`, i.e. the name ends in "weight".)
 */
export function whyNotQuantized(name: string, shape: readonly number[], quantizeOutput = true): string | null {
  if (nDims(shape) < 2) return '1-D tensor';
  // llama.cpp tests name.rfind("weight") == name.size() - 6 in size_t: for a 5-byte name both sides
  // are SIZE_MAX, so such names count as weights too
  if (!name.endsWith('weight') && new TextEncoder().encode(name).length !== 5) return 'not a weight';
  for (const s of NOT_QUANTIZED_SUBSTRINGS) if (name.includes(s)) return `llama.cpp keeps *${s}*`;
  if (!quantizeOutput && name === 'output.weight') return 'output tensor left as is';
  if (name === 'position_embd.weight' || name === 'token_types.weight') return 'positional/token-type embedding';
  return null;
}

/** Mutable counters llama.cpp keeps across tensors (quantize_state_impl). */
export interface RuleState {
  model: ModelInfo;
  hasImatrix: boolean;
  hasTiedEmbeddings: boolean;
  nAttentionWv: number;
  iAttentionWv: number;
  nFfnDown: number;
  iFfnDown: number;
  nFfnGate: number;
  iFfnGate: number;
  nFfnUp: number;
  iFfnUp: number;
  nFallback: number;
}

export function newRuleState(model: ModelInfo, names: readonly string[], hasImatrix: boolean): RuleState {
  let nAttentionWv = 0;
  let tied = true;
  for (const n of names) {
    const c = tensorCategory(n);
    if (isAttnV(c)) nAttentionWv++;
    if (c === 'output') tied = false;
  }
  return {
    model,
    hasImatrix,
    hasTiedEmbeddings: tied,
    nAttentionWv,
    iAttentionWv: 0,
    nFfnDown: model.nLayer,
    iFfnDown: 0,
    nFfnGate: model.nLayer,
    iFfnGate: 0,
    nFfnUp: model.nLayer,
    iFfnUp: 0,
    nFallback: 0,
  };
}

const blockSize = (type: number) => ggmlTypeById(type)?.blockSize ?? 1;
const isQuantizedType = (type: number) => type !== T.F32 && type !== T.F16 && type !== T.BF16 && blockSize(type) > 1;
export { isQuantizedType };

function nGqa(m: ModelInfo): number {
  return m.nHeadKv === 0 ? 0 : Math.trunc(m.nHead / m.nHeadKv);
}

/** sscanf(name, "blk.%d.") as llama.cpp uses it; undefined when it does not convert. */
export function layerOf(name: string): number | undefined {
  const m = /^blk\.\s*([+-]?\d+)/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface RuleResult {
  type: number;
  rule?: string;
}

/** llama_tensor_get_type_impl: the file type's mixture rule for one tensor. Advances the counters. */
export function mixtureType(
  qs: RuleState,
  newType: number,
  name: string,
  shape: readonly number[],
  ftype: number,
  category: TensorCategory,
  outputTensorType: number | undefined,
  tokenEmbeddingType: number | undefined,
): RuleResult {
  const m = qs.model;
  const arch = m.arch;
  const falcon = arch === 'falcon';
  const useMoreBits = (i: number, n: number) =>
    i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  const nExpert = Math.max(1, m.nExpert);
  const layerInfo = (i: number, n: number): [number, number] => {
    if (nExpert > 1) {
      const l = layerOf(name);
      if (l === undefined) throw new LowbitError(`Failed to determine layer for tensor ${name}`);
      if (l < 0 || l >= n) throw new LowbitError(`Bad layer ${l} for tensor ${name}. Must be in [0, ${n})`);
      return [l, n];
    }
    return [i, n];
  };
  const is = (...fs: string[]) => fs.some((f) => F[f] === ftype);
  let t = newType;
  let rule: string | undefined;
  const set = (type: number, why: string) => {
    t = type;
    rule = why;
  };

  if (category === 'output' || (qs.hasTiedEmbeddings && category === 'token_embd')) {
    const what = category === 'output' ? 'output.weight' : 'tied token_embd';
    if (outputTensorType !== undefined) set(outputTensorType, `${what}: --output-tensor-type`);
    else {
      const nx = shape[0]!;
      if (is('MXFP4_MOE')) set(T.Q8_0, `${what}: Q8_0 in MXFP4_MOE`);
      else if (falcon || nx % blockSize(t) !== 0)
        set(T.Q8_0, `${what}: Q8_0 (row ${nx} not a multiple of ${blockSize(t)})`);
      else if (is('IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ2_S', 'IQ2_M', 'IQ1_M'))
        set(T.Q5_K, `${what}: Q5_K in low-bit IQ types`);
      else if (t !== T.Q8_0) set(T.Q6_K, `${what}: Q6_K, as llama.cpp keeps the output at 6 bits`);
    }
  } else if (is('MXFP4_MOE')) {
    const bailingExpert =
      arch === 'bailingmoe3' && (category === 'ffn_up' || category === 'ffn_gate' || category === 'ffn_down');
    if ((shape[2] ?? 1) > 1 && (arch !== 'bailingmoe3' || bailingExpert)) set(T.MXFP4, 'expert tensor: MXFP4');
    else set(T.Q8_0, 'non-expert tensor: Q8_0');
  } else if (category === 'token_embd') {
    if (tokenEmbeddingType !== undefined) set(tokenEmbeddingType, '--token-embedding-type');
    else if (is('IQ2_XXS', 'IQ2_XS', 'IQ1_S', 'IQ1_M')) set(T.Q2_K, 'token_embd: Q2_K');
    else if (is('IQ2_S', 'IQ2_M', 'IQ3_XXS')) set(T.IQ3_S, 'token_embd: IQ3_S');
    else if (is('TQ1_0', 'TQ2_0', 'Q2_0')) set(T.Q4_K, 'token_embd: Q4_K for ternary/Q2_0');
  } else if (is('IQ2_XXS', 'IQ2_XS', 'IQ1_S', 'IQ2_S', 'IQ2_M', 'IQ1_M')) {
    if (isAttnV(category)) {
      if (nGqa(m) >= 4 || m.nExpert >= 4) set(T.Q4_K, 'attn_v: Q4_K with GQA>=4 or >=4 experts');
      else set(is('IQ2_S', 'IQ2_M') ? T.IQ3_S : T.Q2_K, 'attn_v: one step up');
      qs.iAttentionWv++;
    } else if (m.nExpert === 8 && category === 'attn_k') {
      set(T.Q4_K, 'attn_k: Q4_K with 8 experts');
    } else if (category === 'ffn_down') {
      if (qs.iFfnDown < Math.trunc(qs.nFfnDown / 8))
        set(is('IQ2_S', 'IQ2_M') ? T.IQ3_S : T.Q2_K, 'ffn_down: first 1/8 of layers one step up');
      qs.iFfnDown++;
    } else if (category === 'attn_output') {
      if (m.nExpert === 8) set(T.Q5_K, 'attn_output: Q5_K with 8 experts');
      else if (is('IQ1_S', 'IQ1_M')) set(T.IQ2_XXS, 'attn_output: IQ2_XXS');
      else if (is('IQ2_S', 'IQ2_M')) set(T.IQ3_S, 'attn_output: IQ3_S');
    }
  } else if (isAttnV(category)) {
    const gqa4 = nGqa(m) >= 4;
    if (is('Q2_K')) set(gqa4 ? T.Q4_K : T.Q3_K, gqa4 ? 'attn_v: Q4_K with GQA>=4' : 'attn_v: Q3_K in Q2_K');
    else if (is('Q2_K_S') && gqa4) set(T.Q4_K, 'attn_v: Q4_K with GQA>=4');
    else if (is('IQ3_XXS')) set(gqa4 ? T.Q4_K : !qs.hasImatrix ? T.IQ3_S : T.IQ3_XXS, 'attn_v: IQ3_XXS rule');
    else if (is('IQ3_XS', 'IQ3_S') && gqa4) set(T.Q4_K, 'attn_v: Q4_K with GQA>=4');
    else if (is('IQ3_M')) set(T.Q4_K, 'attn_v: Q4_K in IQ3_M');
    else if (is('Q3_K_M'))
      set(
        qs.iAttentionWv < 2 ? T.Q5_K : T.Q4_K,
        qs.iAttentionWv < 2 ? 'attn_v: Q5_K for the first 2' : 'attn_v: Q4_K in Q3_K_M',
      );
    else if (is('Q3_K_L')) set(T.Q5_K, 'attn_v: Q5_K in Q3_K_L');
    else if (is('IQ4_NL', 'IQ4_XS') && gqa4) set(T.Q5_K, 'attn_v: Q5_K with GQA>=4');
    else if (is('Q4_K_M', 'Q5_K_M') && useMoreBits(qs.iAttentionWv, qs.nAttentionWv))
      set(T.Q6_K, 'attn_v: Q6_K on first/last 1/8 and every 3rd layer');
    else if (is('Q4_K_S') && qs.iAttentionWv < 4) set(T.Q5_K, 'attn_v: Q5_K for the first 4');
    if (m.is70B && (t === T.Q3_K || t === T.Q4_K)) set(T.Q5_K, 'attn_v: Q5_K in 70B models');
    if (m.nExpert === 8) set(T.Q8_0, 'attn_v: Q8_0 with 8 experts');
    qs.iAttentionWv++;
  } else if (category === 'attn_k') {
    if (m.nExpert === 8) set(T.Q8_0, 'attn_k: Q8_0 with 8 experts');
    else if (is('IQ3_XS')) set(T.IQ3_XXS, 'attn_k: IQ3_XXS in IQ3_XS');
    else if (is('IQ3_XXS')) set(T.IQ2_S, 'attn_k: IQ2_S in IQ3_XXS');
  } else if (category === 'attn_q') {
    if (is('IQ3_XS')) set(T.IQ3_XXS, 'attn_q: IQ3_XXS in IQ3_XS');
    else if (is('IQ3_XXS')) set(T.IQ2_S, 'attn_q: IQ2_S in IQ3_XXS');
  } else if (category === 'ffn_down') {
    const [i, n] = layerInfo(qs.iFfnDown, qs.nFfnDown);
    const first8 = i < Math.trunc(n / 8);
    if (is('Q2_K')) set(T.Q3_K, 'ffn_down: Q3_K in Q2_K');
    else if (is('Q2_K_S')) {
      if (first8) set(T.Q4_K, 'ffn_down: Q4_K in the first 1/8 of layers');
    } else if (is('IQ3_XXS') && !qs.hasImatrix) set(first8 ? T.Q4_K : T.Q3_K, 'ffn_down: IQ3_XXS without imatrix');
    else if (is('Q3_K_M')) {
      if (i < Math.trunc(n / 16)) set(T.Q5_K, 'ffn_down: Q5_K in the first 1/16 of layers');
      else if (!falcon || useMoreBits(i, n)) set(T.Q4_K, 'ffn_down: Q4_K in Q3_K_M');
      else set(T.Q3_K, 'ffn_down: Q3_K');
    } else if (is('IQ3_M') && (first8 || (m.nExpert === 8 && useMoreBits(i, n))))
      set(T.Q4_K, 'ffn_down: Q4_K in IQ3_M');
    else if (is('Q3_K_L')) set(falcon ? T.Q4_K : T.Q5_K, 'ffn_down: one step up in Q3_K_L');
    else if (is('Q4_K_M')) {
      if (falcon)
        set(i < Math.trunc(n / 16) ? T.Q6_K : useMoreBits(i, n) ? T.Q5_K : T.Q4_K, 'ffn_down: falcon Q4_K_M rule');
      else if (useMoreBits(i, n)) set(T.Q6_K, 'ffn_down: Q6_K on first/last 1/8 and every 3rd layer');
    } else if (first8 && is('IQ4_NL', 'IQ4_XS') && !qs.hasImatrix)
      set(T.Q5_K, 'ffn_down: Q5_K in the first 1/8 without imatrix');
    else if (is('Q5_K_M') && useMoreBits(i, n)) set(T.Q6_K, 'ffn_down: Q6_K on first/last 1/8 and every 3rd layer');
    else if (is('Q4_K_S') && !falcon && first8) set(T.Q5_K, 'ffn_down: Q5_K in the first 1/8 of layers');
    else if (is('Q4_0', 'Q5_0') && qs.hasImatrix && first8)
      set(is('Q4_0') ? T.Q4_1 : T.Q5_1, 'ffn_down: _1 type in the first 1/8 with imatrix');
    qs.iFfnDown++;
  } else if (category === 'attn_output') {
    // (llama.cpp's separate ATTENTION_QKV branch after this one is unreachable: attn_qkv counts as attn_v above)
    if (!falcon) {
      if (m.nExpert === 8) {
        if (
          is('Q2_K', 'IQ3_XS', 'IQ3_XXS', 'Q3_K_S', 'Q3_K_M', 'IQ4_NL', 'Q4_K_S', 'Q4_K_M', 'IQ3_S', 'IQ3_M', 'IQ4_XS')
        )
          set(T.Q5_K, 'attn_output: Q5_K with 8 experts');
      } else if (is('Q2_K')) set(T.Q3_K, 'attn_output: Q3_K in Q2_K');
      else if (is('IQ3_XXS')) set(T.IQ3_S, 'attn_output: IQ3_S in IQ3_XXS');
      else if (is('Q3_K_M')) set(T.Q4_K, 'attn_output: Q4_K in Q3_K_M');
      else if (is('Q3_K_L')) set(T.Q5_K, 'attn_output: Q5_K in Q3_K_L');
      else if (is('IQ3_M')) set(T.Q4_K, 'attn_output: Q4_K in IQ3_M');
    } else if (is('Q3_K_L')) set(T.Q4_K, 'attn_output: falcon Q4_K in Q3_K_L');
  } else if (category === 'ffn_gate' || category === 'ffn_up') {
    const up = category === 'ffn_up';
    const [i, n] = layerInfo(up ? qs.iFfnUp : qs.iFfnGate, up ? qs.nFfnUp : qs.nFfnGate);
    if (is('IQ3_XS') && i >= Math.trunc(n / 8) && i < Math.trunc((7 * n) / 8))
      set(T.IQ3_XXS, `${category}: IQ3_XXS in middle layers`);
    if (up) qs.iFfnUp++;
    else qs.iFfnGate++;
  }
  return rule === undefined ? { type: t } : { type: t, rule };
}

/**
 * tensor_type_fallback: a type whose block does not divide the row length falls back to a 32-block
 * type, and to F16 when even that does not fit.
 */
export function fallbackType(qs: RuleState, name: string, ncols: number, target: number): RuleResult {
  const bs = blockSize(target);
  if (ncols % bs === 0) return { type: target };
  qs.nFallback++;
  let ret: number;
  switch (target) {
    case T.IQ1_S:
    case T.IQ1_M:
    case T.IQ2_XXS:
    case T.IQ2_XS:
    case T.IQ2_S:
    case T.IQ3_XXS:
    case T.IQ3_S:
    case T.IQ4_XS:
      ret = T.IQ4_NL;
      break;
    case T.Q2_0:
    case T.Q2_K:
    case T.Q3_K:
    case T.TQ1_0:
    case T.TQ2_0:
      ret = T.Q4_0;
      break;
    case T.Q4_K:
      ret = T.Q5_0;
      break;
    case T.Q5_K:
      ret = T.Q5_1;
      break;
    case T.Q6_K:
      ret = T.Q8_0;
      break;
    default:
      if (bs <= 32) {
        ret = target;
        break;
      }
      throw new LowbitError(
        `no tensor type fallback is defined for type ${ggmlTypeById(target)?.ggmlName ?? target} (tensor ${name} has rows of ${ncols})`,
      );
  }
  if (ncols % blockSize(ret) !== 0) ret = T.F16;
  const from = ggmlTypeById(target)?.ggmlName ?? String(target);
  return { type: ret, rule: `fallback: row length ${ncols} is not a multiple of ${bs} (${from})` };
}

/** tensor_requires_imatrix: types that produce garbage without importance data. */
export function requiresImatrix(name: string, dst: number, ftype: number): boolean {
  if (isTokenEmbd(name) || name === 'output.weight') return false;
  switch (dst) {
    case T.IQ3_XXS:
    case T.IQ2_XXS:
    case T.IQ2_XS:
    case T.IQ2_S:
    case T.IQ1_M:
    case T.IQ1_S:
      return true;
    case T.Q2_K:
      return ftype === F.Q2_K_S;
    default:
      return false;
  }
}
