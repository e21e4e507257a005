// Reference forward pass of Gemma3ForCausalLM as transformers' modeling_gemma3 computes it
// (float64), from the HF checkpoint: embeddings × √hidden (the normalizer cast to the weights'
// dtype), Gemma3RMSNorm (x / rms · (1 + w)) as input / post-attention / pre- and post-feedforward
// norms, per-head q_norm and k_norm before RoPE, rotate_half RoPE with rope_local_base_freq on
// sliding layers and rope_theta on global ones (layer i is global when (i + 1) % pattern == 0),
// linear rope_scaling on the global layers only, sliding-window causal mask on sliding layers, scores × query_pre_attn_scalar^-½, GQA,
// gelu_pytorch_tanh(gate) · up, tied lm_head, optional final logit soft-capping.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bf16ToFp32, fp32ToBf16 } from '../../../src/formats/half.js';
import { add, attend, geluTanh, get, invFreq, linear, loadHfWeights, rmsnorm, ropeHalf } from './forward-math.js';

/** Gemma3TextConfig's defaults */
const DEFAULTS = {
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 1_000_000,
  rope_local_base_freq: 10_000,
  query_pre_attn_scalar: 256,
  sliding_window_pattern: 6,
  final_logit_softcapping: null,
  rope_scaling: null,
};

export async function forwardGemma3(dir: string, tokens: number[]): Promise<Float64Array[]> {
  const file = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  // Gemma3ForConditionalGeneration: the text model's config is text_config, its tensors language_model.*
  const c = { ...DEFAULTS, torch_dtype: file.torch_dtype, ...(file.text_config ?? file) };
  const prefix = file.text_config ? 'language_model.' : '';
  const all = await loadHfWeights(dir);
  const w = new Map([...all].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const D = c.hidden_size,
    nH = c.num_attention_heads,
    nKv = c.num_key_value_heads,
    hd = c.head_dim,
    ff = c.intermediate_size,
    eps = c.rms_norm_eps;
  const pattern = c.sliding_window_pattern ?? 6;
  const invLocal = invFreq(c.rope_local_base_freq, hd);
  // rope_scaling (linear) applies to the global layers' rotary embedding only
  const rs = c.rope_scaling as { rope_type?: string; factor?: number } | null;
  if (rs && rs.rope_type !== 'linear') throw new Error(`rope_scaling ${rs.rope_type} not modelled`);
  const invGlobal = invFreq(c.rope_theta, hd).map((f) => (rs ? f / rs.factor! : f));
  const embScale = c.torch_dtype === 'bfloat16' ? bf16ToFp32(fp32ToBf16(Math.sqrt(D))) : Math.fround(Math.sqrt(D));
  const gnorm = (name: string) => {
    const g = get(w, name);
    return (i: number) => 1 + g[i]!;
  };
  const headNorm = (v: Float64Array, heads: number, g: (i: number) => number) => {
    const out = new Float64Array(v.length);
    for (let h = 0; h < heads; h++) out.set(rmsnorm(v.subarray(h * hd, (h + 1) * hd), g, eps), h * hd);
    return out;
  };
  const emb = get(w, 'model.embed_tokens.weight');
  const keys: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  return tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * D, (tok + 1) * D), (v) => v * embScale);
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      const sliding = (l + 1) % pattern !== 0;
      const h = rmsnorm(x, gnorm(`${p}.input_layernorm.weight`), eps);
      const q = headNorm(
        linear(get(w, `${p}.self_attn.q_proj.weight`), h, nH * hd),
        nH,
        gnorm(`${p}.self_attn.q_norm.weight`),
      );
      const k = headNorm(
        linear(get(w, `${p}.self_attn.k_proj.weight`), h, nKv * hd),
        nKv,
        gnorm(`${p}.self_attn.k_norm.weight`),
      );
      const v = linear(get(w, `${p}.self_attn.v_proj.weight`), h, nKv * hd);
      ropeHalf(q, nH, hd, pos, sliding ? invLocal : invGlobal);
      ropeHalf(k, nKv, hd, pos, sliding ? invLocal : invGlobal);
      keys[l]!.push(k);
      vals[l]!.push(v);
      const att = attend(q, keys[l]!, vals[l]!, nH, nKv, hd, {
        scale: Math.pow(c.query_pre_attn_scalar, -0.5),
        window: sliding ? c.sliding_window : undefined,
      });
      x = add(
        x,
        rmsnorm(
          linear(get(w, `${p}.self_attn.o_proj.weight`), att, D),
          gnorm(`${p}.post_attention_layernorm.weight`),
          eps,
        ),
      );
      const h2 = rmsnorm(x, gnorm(`${p}.pre_feedforward_layernorm.weight`), eps);
      const g = linear(get(w, `${p}.mlp.gate_proj.weight`), h2, ff),
        u = linear(get(w, `${p}.mlp.up_proj.weight`), h2, ff);
      const mid = g.map((gi, i) => geluTanh(gi) * u[i]!);
      x = add(
        x,
        rmsnorm(
          linear(get(w, `${p}.mlp.down_proj.weight`), mid, D),
          gnorm(`${p}.post_feedforward_layernorm.weight`),
          eps,
        ),
      );
    }
    let logits = linear(emb, rmsnorm(x, gnorm('model.norm.weight'), eps), c.vocab_size);
    const cap = c.final_logit_softcapping;
    if (cap) logits = logits.map((z) => Math.tanh(z / cap) * cap);
    return logits;
  });
}
