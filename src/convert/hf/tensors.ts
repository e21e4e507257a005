// HF llama-family tensor names → llama.cpp's (gguf-py tensor_mapping.py for LLAMA and QWEN2), and
// the Q/K row permutation HF's rotate-half RoPE layout needs for llama.cpp's adjacent-pair RoPE.

const LAYER = /^model\.layers\.(\d+)\.(.+)$/;
const LAYER_MAP: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const GLOBAL_MAP: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
/** tensors convert_hf_to_gguf.py drops */
const SKIP = /(\.attention\.masked_bias|\.attention\.bias|\.rotary_emb\.inv_freq)$/;

/** The GGUF name, null for tensors that are dropped, undefined for unknown ones. */
export function mapHfTensorName(name: string): string | null | undefined {
  if (SKIP.test(name)) return null;
  const n = name.startsWith('model.') || name.startsWith('lm_head.') ? name : `model.${name}`; // bare LlamaModel checkpoints
  const g = GLOBAL_MAP[n];
  if (g) return g;
  const m = LAYER.exec(n);
  if (m) {
    const t = LAYER_MAP[m[2]!];
    if (t) return `blk.${m[1]}.${t}`;
  }
  return undefined;
}

/**
 * LlamaModel.permute: within each of `nHead` heads, rows [half][i] → [i][half], i.e. HF's
 * "first half / second half" rotation pairs become adjacent pairs. `rows × cols` row-major
 * (cols = 1 for biases).
 */
export function permuteQK(w: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const src = h * hd + s * half + i;
        const dst = h * hd + i * 2 + s;
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** The inverse of permuteQK (adjacent pairs → HF layout), for building HF checkpoints. */
export function unpermuteQK(w: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const hf = h * hd + s * half + i;
        const gg = h * hd + i * 2 + s;
        out.set(w.subarray(gg * cols, (gg + 1) * cols), hf * cols);
      }
    }
  }
  return out;
}
