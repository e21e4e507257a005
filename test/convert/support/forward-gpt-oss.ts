// Reference forward pass of GptOssForCausalLM as transformers' modeling_gpt_oss computes it
// (float64), from the HF checkpoint itself: MXFP4 experts dequantized as transformers'
// convert_moe_packed_tensors does (byte j: code 2j low nibble, 2j+1 high; FP4 E2M1 table × 2^(scale-127)),
// q/k/v/o with biases, rotate_half RoPE with YaRN inv_freq (_compute_yarn_parameters, honouring
// `truncate`) and cos/sin × attention_factor (0.1·ln(factor) + 1), attention with per-head sinks in
// the softmax, sliding window on layer_types' sliding layers, router softmax over its top-k logits,
// experts: gate_up interleaved (gate = even, up = odd), gate clamped ≤ limit, up to ±limit,
// (up + 1) · gate · σ(1.702 · gate), down + bias, untied lm_head.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSafetensorsDir } from '../../../src/node/safetensors-files.js';
import { fp16ToFp32, fp32ToFp16 } from '../../../src/formats/half.js';
import { add, attend, get, linear, loadHfWeights, rmsnorm, ropeHalf } from './forward-math.js';

const FP4 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

async function dequantExperts(dir: string, name: string): Promise<{ w: Float64Array; rows: number; cols: number }> {
  const set = await openSafetensorsDir(dir);
  try {
    const bi = set.info(`${name}_blocks`);
    const [E, R, nb] = bi.shape as [number, number, number];
    const blocks = await set.readBytes(`${name}_blocks`),
      scales = await set.readBytes(`${name}_scales`);
    const cols = nb * 32;
    const w = new Float64Array(E * R * cols);
    for (let i = 0; i < E * R * nb; i++) {
      const s = Math.pow(2, scales[i]! - 127);
      for (let j = 0; j < 16; j++) {
        const b = blocks[i * 16 + j]!;
        w[i * 32 + 2 * j] = FP4[b & 15]! * s;
        w[i * 32 + 2 * j + 1] = FP4[b >> 4]! * s;
      }
    }
    return { w, rows: R, cols };
  } finally {
    await set.close();
  }
}

/** transformers' _compute_yarn_parameters: inv_freq and attention_factor */
export function yarnInvFreq(
  base: number,
  dim: number,
  rs: Record<string, number | boolean>,
): { inv: Float64Array; attn: number } {
  const factor = rs.factor as number,
    orig = rs.original_max_position_embeddings as number;
  const betaFast = (rs.beta_fast as number) ?? 32,
    betaSlow = (rs.beta_slow as number) ?? 1;
  const attn =
    typeof rs.attention_factor === 'number' ? rs.attention_factor : factor <= 1 ? 1 : 0.1 * Math.log(factor) + 1;
  const corr = (rot: number) => (dim * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(base));
  let low = corr(betaFast),
    high = corr(betaSlow);
  if (rs.truncate !== false) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const inv = Float64Array.from({ length: dim / 2 }, (_, i) => {
    const pos = Math.pow(base, (2 * i) / dim);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrap = 1 - ramp;
    return (1 / (factor * pos)) * (1 - extrap) + (1 / pos) * extrap;
  });
  return { inv, attn };
}

/**
 * ggml's CPU matmul with MXFP4 weights first rounds the activations to Q8_0 (blocks of 32: scale
 * max|x|/127 stored as F16, codes round(x/scale)): `q8` applies that rounding to the experts' inputs.
 */
const roundEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export function roundQ8_0(x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += 32) {
    let amax = 0;
    for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(Math.fround(x[i]!)));
    const d = Math.fround(amax / 127),
      id = amax ? Math.fround(127 / amax) : 0;
    const dh = fp16ToFp32(fp32ToFp16(d));
    for (let i = b; i < b + 32; i++) out[i] = roundEven(Math.fround(Math.fround(x[i]!) * id)) * dh;
  }
  return out;
}

export interface GptOssForwardOptions {
  rope?: Record<string, number | boolean>;
  /** round the experts' inputs to Q8_0 as ggml's CPU MXFP4 matmul does */
  q8?: boolean;
}

export async function forwardGptOss(
  dir: string,
  tokens: number[],
  opts: GptOssForwardOptions = {},
): Promise<Float64Array[]> {
  const ropeOverride = opts.rope;
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const w = await loadHfWeights(dir);
  const D = c.hidden_size,
    nH = c.num_attention_heads,
    nKv = c.num_key_value_heads,
    hd = c.head_dim,
    ff = c.intermediate_size,
    eps = c.rms_norm_eps;
  const E = c.num_local_experts,
    topK = c.num_experts_per_tok,
    limit = c.swiglu_limit,
    alpha = 1.702;
  const { inv, attn: attnScale } = yarnInvFreq(c.rope_theta, hd, { ...c.rope_scaling, ...ropeOverride });
  const experts: {
    gu: { w: Float64Array; rows: number; cols: number };
    down: { w: Float64Array; rows: number; cols: number };
  }[] = [];
  // float experts (BF16 releases) are [E, in, out] (x @ W): as [E, out, in] rows here
  const floatExperts = (t: Float32Array, E: number, inDim: number, outDim: number) => {
    const v = new Float64Array(E * inDim * outDim);
    for (let e = 0; e < E; e++)
      for (let i = 0; i < inDim; i++)
        for (let o = 0; o < outDim; o++) v[(e * outDim + o) * inDim + i] = t[(e * inDim + i) * outDim + o]!;
    return { w: v, rows: outDim, cols: inDim };
  };
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.mlp.experts`;
    if (w.has(`${p}.gate_up_proj`)) {
      experts.push({
        gu: floatExperts(get(w, `${p}.gate_up_proj`), E, D, 2 * ff),
        down: floatExperts(get(w, `${p}.down_proj`), E, ff, D),
      });
    } else
      experts.push({
        gu: await dequantExperts(dir, `${p}.gate_up_proj`),
        down: await dequantExperts(dir, `${p}.down_proj`),
      });
  }
  const emb = get(w, 'model.embed_tokens.weight');
  const keys: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  const mat = (m: { w: Float64Array; rows: number; cols: number }, e: number, x: Float64Array, bias: Float32Array) =>
    Float64Array.from({ length: m.rows }, (_, r) => {
      let s = bias[e * m.rows + r]!;
      const o = (e * m.rows + r) * m.cols;
      for (let k = 0; k < m.cols; k++) s += m.w[o + k]! * x[k]!;
      return s;
    });
  return tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * D, (tok + 1) * D));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      const g1 = get(w, `${p}.input_layernorm.weight`);
      const h = rmsnorm(x, (i) => g1[i]!, eps);
      const q = linear(get(w, `${p}.self_attn.q_proj.weight`), h, nH * hd, get(w, `${p}.self_attn.q_proj.bias`));
      const k = linear(get(w, `${p}.self_attn.k_proj.weight`), h, nKv * hd, get(w, `${p}.self_attn.k_proj.bias`));
      const v = linear(get(w, `${p}.self_attn.v_proj.weight`), h, nKv * hd, get(w, `${p}.self_attn.v_proj.bias`));
      ropeHalf(q, nH, hd, pos, inv, attnScale);
      ropeHalf(k, nKv, hd, pos, inv, attnScale);
      keys[l]!.push(k);
      vals[l]!.push(v);
      const sliding = c.layer_types[l] === 'sliding_attention';
      const att = attend(q, keys[l]!, vals[l]!, nH, nKv, hd, {
        scale: 1 / Math.sqrt(hd),
        window: sliding ? c.sliding_window : undefined,
        sinks: get(w, `${p}.self_attn.sinks`),
      });
      x = add(x, linear(get(w, `${p}.self_attn.o_proj.weight`), att, D, get(w, `${p}.self_attn.o_proj.bias`)));
      const g2 = get(w, `${p}.post_attention_layernorm.weight`);
      const h2 = rmsnorm(x, (i) => g2[i]!, eps);
      const logits = linear(get(w, `${p}.mlp.router.weight`), h2, E, get(w, `${p}.mlp.router.bias`));
      const top = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, topK);
      const mx = Math.max(...top.map((e) => logits[e]!));
      const z = top.reduce((s, e) => s + Math.exp(logits[e]! - mx), 0);
      const moe = new Float64Array(D);
      for (const e of top) {
        const gu = mat(experts[l]!.gu, e, opts.q8 ? roundQ8_0(h2) : h2, get(w, `${p}.mlp.experts.gate_up_proj_bias`));
        const mid = Float64Array.from({ length: ff }, (_, i) => {
          const g = Math.min(gu[2 * i]!, limit),
            u = Math.min(Math.max(gu[2 * i + 1]!, -limit), limit);
          return (u + 1) * (g / (1 + Math.exp(-alpha * g)));
        });
        const o = mat(experts[l]!.down, e, opts.q8 ? roundQ8_0(mid) : mid, get(w, `${p}.mlp.experts.down_proj_bias`));
        const wgt = Math.exp(logits[e]! - mx) / z;
        for (let i = 0; i < D; i++) moe[i]! += wgt * o[i]!;
      }
      x = add(x, moe);
    }
    const gn = get(w, 'model.norm.weight');
    return linear(
      get(w, 'lm_head.weight'),
      rmsnorm(x, (i) => gn[i]!, eps),
      c.vocab_size,
    );
  });
}
