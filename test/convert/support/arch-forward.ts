// Reference forward passes (float64) of the Hugging Face architectures, written from transformers'
// modeling code, not from llama.cpp's graphs, on the HF-layout weights the fixture generator made:
//  - Qwen3ForCausalLM (modeling_qwen3): q/k projected, then RMSNorm per head over head_dim
//    (q_norm / k_norm, eps = rms_norm_eps) before rotate-half RoPE; GQA; scale head_dim^-0.5;
//    SiLU-gated MLP; tied or untied lm_head.
//  - Qwen3MoeForCausalLM (modeling_qwen3_moe): the same attention; the MLP is a router
//    (softmax over gate(x) in float, top-k, renormalised when norm_topk_prob) mixing the chosen
//    experts' SiLU-gated MLPs.
//  - SmolLM3ForCausalLM (modeling_smollm3): Llama attention where layers with no_rope_layers[l] == 0
//    skip RoPE; tied embeddings.
import type { ArchWeights } from './arch-fixture.js';

function rmsnorm(x: Float64Array, g: Float32Array, eps: number, off = 0, n = x.length): Float64Array {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[off + i]! * x[off + i]!;
  const r = 1 / Math.sqrt(ss / n + eps);
  return Float64Array.from({ length: n }, (_, i) => g[i]! * (x[off + i]! * r));
}

function linear(w: Float32Array, x: Float64Array, rows: number, wOff = 0): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = wOff + r * cols;
    for (let c = 0; c < cols; c++) s += w[o + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

function rope(v: Float64Array, heads: number, hd: number, pos: number, theta: number): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const inv = 1 / Math.pow(theta, (2 * i) / hd);
      const a = v[h * hd + i]!,
        b = v[h * hd + i + hd / 2]!;
      const c = Math.cos(pos * inv),
        s = Math.sin(pos * inv);
      v[h * hd + i] = a * c - b * s;
      v[h * hd + i + hd / 2] = b * c + a * s;
    }
  }
}

const silu = (g: number) => g / (1 + Math.exp(-g));

/** Logits after each position. */
export function forwardArch(w: ArchWeights, tokens: number[]): Float64Array[] {
  const T = (n: string) => {
    const t = w.tensors.get(n);
    if (!t) throw new Error(`no ${n}`);
    return t;
  };
  const { dim, nHeads, nKvHeads, headDim: hd } = w;
  const qkNorm = w.kind !== 'smollm3';
  const group = nHeads / nKvHeads;
  const keys: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const emb = T('model.embed_tokens.weight');
  const head = w.tied ? emb : T('lm_head.weight');
  const mlp = (
    x: Float64Array,
    g: Float32Array,
    u: Float32Array,
    d: Float32Array,
    hidden: number,
    off = 0,
    dOff = 0,
  ) => {
    const gg = linear(g, x, hidden, off),
      uu = linear(u, x, hidden, off);
    return linear(
      d,
      gg.map((v, i) => silu(v) * uu[i]!),
      dim,
      dOff,
    );
  };
  return tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * dim, (tok + 1) * dim));
    for (let l = 0; l < w.nLayers; l++) {
      const p = `model.layers.${l}`;
      const xn = rmsnorm(x, T(`${p}.input_layernorm.weight`), w.rmsEps);
      let q = linear(T(`${p}.self_attn.q_proj.weight`), xn, nHeads * hd);
      let k = linear(T(`${p}.self_attn.k_proj.weight`), xn, nKvHeads * hd);
      const v = linear(T(`${p}.self_attn.v_proj.weight`), xn, nKvHeads * hd);
      if (qkNorm) {
        const qn = T(`${p}.self_attn.q_norm.weight`),
          kn = T(`${p}.self_attn.k_norm.weight`);
        const perHead = (a: Float64Array, heads: number, g: Float32Array) => {
          const out = new Float64Array(a.length);
          for (let h = 0; h < heads; h++) out.set(rmsnorm(a, g, w.rmsEps, h * hd, hd), h * hd);
          return out;
        };
        q = perHead(q, nHeads, qn);
        k = perHead(k, nKvHeads, kn);
      }
      if (w.useRope[l]) {
        rope(q, nHeads, hd, pos, w.ropeTheta);
        rope(k, nKvHeads, hd, pos, w.ropeTheta);
      }
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
      let d: Float64Array;
      if (w.kind === 'qwen3moe') {
        const logits = linear(T(`${p}.mlp.gate.weight`), xn2, w.nExpert);
        const mx = Math.max(...logits);
        const ex = logits.map((z) => Math.exp(z - mx));
        const tot = ex.reduce((a, b) => a + b, 0);
        const probs = ex.map((e) => e / tot);
        const top = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b).slice(0, w.nExpertUsed);
        const norm = top.reduce((a, e) => a + probs[e]!, 0); // norm_topk_prob
        d = new Float64Array(dim);
        for (const e of top) {
          const ep = `${p}.mlp.experts.${e}`;
          const y = mlp(
            xn2,
            T(`${ep}.gate_proj.weight`),
            T(`${ep}.up_proj.weight`),
            T(`${ep}.down_proj.weight`),
            w.moeHidden,
          );
          for (let i = 0; i < dim; i++) d[i]! += (probs[e]! / norm) * y[i]!;
        }
      } else {
        d = mlp(
          xn2,
          T(`${p}.mlp.gate_proj.weight`),
          T(`${p}.mlp.up_proj.weight`),
          T(`${p}.mlp.down_proj.weight`),
          w.hidden,
        );
      }
      x = x.map((xi, i) => xi + d[i]!);
    }
    return linear(head, rmsnorm(x, T('model.norm.weight'), w.rmsEps), w.vocab);
  });
}
