// Float64 building blocks for the reference forward passes of the Hugging Face architectures
// (forward-phi3.ts, forward-gemma3.ts, forward-gpt-oss.ts), written from transformers' modeling
// code: weights are read in the checkpoint's own (HF) layout, independent of lowbit's converter.
import { openSafetensorsDir } from '../../../src/node/safetensors-files.js';

export type Weights = Map<string, Float32Array>;

export async function loadHfWeights(dir: string): Promise<Weights> {
  const set = await openSafetensorsDir(dir);
  try {
    const w: Weights = new Map();
    for (const t of set.tensors)
      if (t.dtype === 'F32' || t.dtype === 'BF16' || t.dtype === 'F16') w.set(t.name, await set.readF32(t.name));
    return w;
  } finally {
    await set.close();
  }
}

export function get(w: Weights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
}

/** RMSNorm: x / sqrt(mean(x²) + eps) * g(i) */
export function rmsnorm(x: Float64Array, g: (i: number) => number, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from(x, (v, i) => v * r * g(i));
}

/** y = W x (+ b) for W [rows, x.length] row-major, optionally only rows [r0, r0 + rows) */
export function linear(w: Float32Array, x: Float64Array, rows: number, bias?: Float32Array, r0 = 0): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = bias ? bias[r0 + r]! : 0;
    const o = (r0 + r) * cols;
    for (let c = 0; c < cols; c++) s += w[o + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

/** inv_freq = 1 / base^(2i/dim), i < dim/2 (transformers' default RoPE init) */
export function invFreq(base: number, dim: number): Float64Array {
  return Float64Array.from({ length: dim / 2 }, (_, i) => 1 / Math.pow(base, (2 * i) / dim));
}

/**
 * apply_rotary_pos_emb with rotate_half on the first `rd` dims of each head (partial rotary): x[i]
 * pairs with x[i + rd/2]; cos/sin scaled by `attnScale` (transformers' attention_scaling).
 */
export function ropeHalf(
  v: Float64Array,
  heads: number,
  hd: number,
  pos: number,
  inv: Float64Array,
  attnScale = 1,
): void {
  const half = inv.length;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const a = v[h * hd + i]!,
        b = v[h * hd + i + half]!;
      const c = Math.cos(pos * inv[i]!) * attnScale,
        s = Math.sin(pos * inv[i]!) * attnScale;
      v[h * hd + i] = a * c - b * s;
      v[h * hd + i + half] = b * c + a * s;
    }
  }
}

export interface AttnOptions {
  scale: number;
  /** attend only to the last `window` positions (including this one) */
  window?: number;
  /** per-head sink logits joining the softmax (gpt-oss) */
  sinks?: Float32Array;
}

/** Causal GQA attention of query q (all heads) over the cached keys/values of positions 0..t. */
export function attend(
  q: Float64Array,
  keys: Float64Array[],
  vals: Float64Array[],
  nHead: number,
  nKv: number,
  hd: number,
  o: AttnOptions,
): Float64Array {
  const group = nHead / nKv;
  const out = new Float64Array(nHead * hd);
  const t = keys.length - 1;
  const first = o.window ? Math.max(0, t - o.window + 1) : 0;
  for (let h = 0; h < nHead; h++) {
    const kh = Math.floor(h / group) * hd;
    const sc: number[] = [];
    for (let p = first; p <= t; p++) {
      let s = 0;
      for (let i = 0; i < hd; i++) s += q[h * hd + i]! * keys[p]![kh + i]!;
      sc.push(s * o.scale);
    }
    const sink = o.sinks ? o.sinks[h]! : -Infinity;
    const mx = Math.max(sink, ...sc);
    const e = sc.map((s) => Math.exp(s - mx));
    const sum = e.reduce((a, b) => a + b, 0) + Math.exp(sink - mx);
    e.forEach((a, j) => {
      const vv = vals[first + j]!;
      for (let i = 0; i < hd; i++) out[h * hd + i]! += (a / sum) * vv[kh + i]!;
    });
  }
  return out;
}

export const silu = (x: number) => x / (1 + Math.exp(-x));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

export function logSoftmax(z: Float64Array): Float64Array {
  const mx = Math.max(...z);
  let s = 0;
  for (const v of z) s += Math.exp(v - mx);
  const l = mx + Math.log(s);
  return z.map((v) => v - l);
}

export const add = (a: Float64Array, b: Float64Array) => a.map((x, i) => x + b[i]!);
