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
export function mapHfTensorName(name: string, extra?: Record<string, string>): string | null | undefined {
  if (SKIP.test(name)) return null;
  const n = name.startsWith('model.') || name.startsWith('lm_head.') ? name : `model.${name}`; // bare LlamaModel checkpoints
  const g = GLOBAL_MAP[n];
  if (g) return g;
  const m = LAYER.exec(n);
  if (m) {
    const t = LAYER_MAP[m[2]!] ?? extra?.[m[2]!];
    if (t) return `blk.${m[1]}.${t}`;
  }
  return undefined;
}

/**
 * Moves whole rows between HF's rotation layout (within each head, rows [half][i]) and llama.cpp's
 * (rows [i][half]: rotation pairs adjacent). `toGguf` picks the direction; `rows × cols` row-major.
 */
function moveQKRows(w: Float32Array, nHead: number, rows: number, cols: number, toGguf: boolean): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const hf = h * hd + s * half + i;
        const gg = h * hd + i * 2 + s;
        const [from, to] = toGguf ? [hf, gg] : [gg, hf];
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

/** LlamaModel.permute: HF's "first half / second half" rotation pairs become adjacent pairs (cols = 1 for biases). */
export function permuteQK(w: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  return moveQKRows(w, nHead, rows, cols, true);
}

/** The inverse of permuteQK (adjacent pairs → HF layout), for building HF checkpoints. */
export function unpermuteQK(w: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  return moveQKRows(w, nHead, rows, cols, false);
}
