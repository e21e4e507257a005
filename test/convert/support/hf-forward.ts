// A reference forward pass of a Hugging Face llama checkpoint in its own layout, as transformers'
// LlamaForCausalLM computes it (float64): rotate-half RoPE with inv_freq from rope_theta (and
// rope_type llama3 scaling of inv_freq, _compute_llama3_parameters), GQA, RMSNorm with the config's
// epsilon, SiLU-gated MLP, tied or untied output. Independent of lowbit's converter: it reads the
// HF-layout weights the fixture generator made, with no Q/K permutation.
import type { HfWeights } from './realistic-fixture.js';

export function invFreq(w: HfWeights, scaled = true): Float64Array {
  const d = w.headDim;
  const inv = Float64Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(w.ropeTheta, (2 * i) / d));
  const s = w.ropeScaling;
  if (!s || !scaled) return inv;
  const lowWavelen = s.originalContext / s.lowFreqFactor,
    highWavelen = s.originalContext / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

function rmsnorm(x: Float64Array, g: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from(x, (v, i) => g[i]! * (v * r));
}

/** y = W x for W [rows, cols] row-major */
function linear(w: Float32Array, x: Float64Array, rows: number): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

/** HF apply_rotary_pos_emb: per head, x[i] pairs with x[i + d/2] */
function rope(v: Float64Array, heads: number, hd: number, pos: number, inv: Float64Array): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const a = v[h * hd + i]!,
        b = v[h * hd + i + hd / 2]!;
      const c = Math.cos(pos * inv[i]!),
        s = Math.sin(pos * inv[i]!);
      v[h * hd + i] = a * c - b * s;
      v[h * hd + i + hd / 2] = b * c + a * s;
    }
  }
}

/** Logits after each position. `scaledRope: false` drops the llama3 scaling (to show it matters). */
export function forwardHf(w: HfWeights, tokens: number[], opts: { scaledRope?: boolean } = {}): Float64Array[] {
  const T = (n: string) => {
    const t = w.tensors.get(n);
    if (!t) throw new Error(`no ${n}`);
    return t;
  };
  const { dim, hidden, nHeads, nKvHeads, headDim: hd } = w;
  const inv = invFreq(w, opts.scaledRope ?? true);
  const group = nHeads / nKvHeads;
  const keys: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const emb = T('model.embed_tokens.weight');
  const head = w.tied ? emb : T('lm_head.weight');
  return tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * dim, (tok + 1) * dim));
    for (let l = 0; l < w.nLayers; l++) {
      const p = `model.layers.${l}`;
      const xn = rmsnorm(x, T(`${p}.input_layernorm.weight`), w.rmsEps);
      const q = linear(T(`${p}.self_attn.q_proj.weight`), xn, nHeads * hd);
      const k = linear(T(`${p}.self_attn.k_proj.weight`), xn, nKvHeads * hd);
      const v = linear(T(`${p}.self_attn.v_proj.weight`), xn, nKvHeads * hd);
      rope(q, nHeads, hd, pos, inv);
      rope(k, nKvHeads, hd, pos, inv);
      keys[l]!.push(k);
      vals[l]!.push(v);
      const att = new Float64Array(nHeads * hd);
      for (let h = 0; h < nHeads; h++) {
        const kh = Math.floor(h / group) * hd;
        const sc = keys[l]!.map((kk) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[h * hd + i]! * kk[kh + i]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        e.forEach((a, t) => {
          for (let i = 0; i < hd; i++) att[h * hd + i]! += (a / sum) * vals[l]![t]![kh + i]!;
        });
      }
      const o = linear(T(`${p}.self_attn.o_proj.weight`), att, dim);
      x = x.map((xi, i) => xi + o[i]!);
      const xn2 = rmsnorm(x, T(`${p}.post_attention_layernorm.weight`), w.rmsEps);
      const g = linear(T(`${p}.mlp.gate_proj.weight`), xn2, hidden);
      const u = linear(T(`${p}.mlp.up_proj.weight`), xn2, hidden);
      const hmid = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
      const d = linear(T(`${p}.mlp.down_proj.weight`), hmid, dim);
      x = x.map((xi, i) => xi + d[i]!);
    }
    return linear(head, rmsnorm(x, T('model.norm.weight'), w.rmsEps), w.vocab);
  });
}
