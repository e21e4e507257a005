// Reference forward pass of Phi3ForCausalLM as transformers' modeling_phi3 computes it (float64),
// from the HF checkpoint: fused qkv_proj split [q | k | v], partial rotary (rotate_half on the first
// head_dim × partial_rotary_factor dims), longrope (short factors below
// original_max_position_embeddings, long above; cos/sin × sqrt(1 + ln(s)/ln(orig))), GQA with
// scale head_dim^-0.5, fused gate_up_proj split [gate | up] with up * silu(gate), RMSNorm.
import { add, attend, get, invFreq, linear, loadHfWeights, rmsnorm, ropeHalf, silu } from './forward-math.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export async function forwardPhi3(dir: string, tokens: number[]): Promise<Float64Array[]> {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const w = await loadHfWeights(dir);
  const D = c.hidden_size,
    nH = c.num_attention_heads,
    nKv = c.num_key_value_heads,
    hd = D / nH,
    ff = c.intermediate_size;
  const rd = Math.trunc(hd * (c.partial_rotary_factor ?? 1));
  let inv = invFreq(c.rope_theta, rd);
  let attnScale = 1;
  const rs = c.rope_scaling;
  if (rs && (rs.type ?? rs.rope_type) === 'longrope') {
    const orig = c.original_max_position_embeddings;
    const factors: number[] = tokens.length > orig ? rs.long_factor : rs.short_factor;
    inv = inv.map((f, i) => f / factors[i]!);
    const s = c.max_position_embeddings / orig;
    attnScale = s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(orig));
  }
  const eps = c.rms_norm_eps;
  const emb = get(w, 'model.embed_tokens.weight');
  const head = c.tie_word_embeddings ? emb : get(w, 'lm_head.weight');
  const keys: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: c.num_hidden_layers }, () => []);
  return tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * D, (tok + 1) * D));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      const g1 = get(w, `${p}.input_layernorm.weight`);
      const h = rmsnorm(x, (i) => g1[i]!, eps);
      const qkv = linear(get(w, `${p}.self_attn.qkv_proj.weight`), h, (nH + 2 * nKv) * hd);
      const q = qkv.slice(0, nH * hd),
        k = qkv.slice(nH * hd, (nH + nKv) * hd),
        v = qkv.slice((nH + nKv) * hd);
      ropeHalf(q, nH, hd, pos, inv, attnScale);
      ropeHalf(k, nKv, hd, pos, inv, attnScale);
      keys[l]!.push(k);
      vals[l]!.push(v);
      const att = attend(q, keys[l]!, vals[l]!, nH, nKv, hd, { scale: 1 / Math.sqrt(hd) });
      x = add(x, linear(get(w, `${p}.self_attn.o_proj.weight`), att, D));
      const g2 = get(w, `${p}.post_attention_layernorm.weight`);
      const h2 = rmsnorm(x, (i) => g2[i]!, eps);
      const gu = linear(get(w, `${p}.mlp.gate_up_proj.weight`), h2, 2 * ff);
      const m = Float64Array.from({ length: ff }, (_, i) => gu[ff + i]! * silu(gu[i]!));
      x = add(x, linear(get(w, `${p}.mlp.down_proj.weight`), m, D));
    }
    const gn = get(w, 'model.norm.weight');
    return linear(
      head,
      rmsnorm(x, (i) => gn[i]!, eps),
      c.vocab_size,
    );
  });
}
