// A reference forward pass of a llama2.c checkpoint, written from karpathy/llama2.c's run.c and
// independent of lowbit's reader (it parses the file itself), so a conversion bug cannot hide by
// being shared with the reference.
import { readFileSync } from 'node:fs';

export interface Weights {
  dim: number;
  hidden: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocab: number;
  seqLen: number;
  emb: Float32Array;
  rmsAtt: Float32Array[];
  wq: Float32Array[];
  wk: Float32Array[];
  wv: Float32Array[];
  wo: Float32Array[];
  rmsFfn: Float32Array[];
  w1: Float32Array[];
  w2: Float32Array[];
  w3: Float32Array[];
  rmsFinal: Float32Array;
  wcls: Float32Array;
}

export function loadLlama2c(path: string): Weights {
  const buf = readFileSync(path);
  const hdr = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from(hdr) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const vocab = Math.abs(rawVocab);
  const f = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  let p = 0;
  const take = (n: number) => {
    const a = f.subarray(p, p + n);
    p += n;
    return a;
  };
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const layers = (n: number) => Array.from({ length: nLayers }, () => take(n));
  const emb = take(vocab * dim);
  const rmsAtt = layers(dim),
    wq = layers(dim * dim),
    wk = layers(dim * kvDim),
    wv = layers(dim * kvDim),
    wo = layers(dim * dim);
  const rmsFfn = layers(dim),
    w1 = layers(dim * hidden),
    w2 = layers(hidden * dim),
    w3 = layers(dim * hidden);
  const rmsFinal = take(dim);
  take(seqLen * headSize); // freq_cis_real + freq_cis_imag (each seq_len * head_size / 2)
  const wcls = rawVocab > 0 ? emb : take(vocab * dim);
  if (p !== f.length) throw new Error(`reference loader: ${f.length - p} floats left over`);
  return {
    dim,
    hidden,
    nLayers,
    nHeads,
    nKvHeads,
    vocab,
    seqLen,
    emb,
    rmsAtt,
    wq,
    wk,
    wv,
    wo,
    rmsFfn,
    w1,
    w2,
    w3,
    rmsFinal,
    wcls,
  };
}

function rmsnorm(out: Float64Array, x: Float64Array, w: Float32Array): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  ss = 1 / Math.sqrt(ss / x.length + 1e-5);
  for (let i = 0; i < x.length; i++) out[i] = w[i]! * (ss * x[i]!);
}

/** out[d] = sum_n W[d][n] x[n], W row-major d × n */
function matmul(out: Float64Array, x: Float64Array, w: Float32Array, n: number, d: number): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += w[i * n + j]! * x[j]!;
    out[i] = s;
  }
}

/** Optional q/k/v biases per layer (llama2.c has none; qwen2-style fixtures add them), in llama2.c row order. */
export interface Biases {
  q: Float32Array[];
  k: Float32Array[];
  v: Float32Array[];
}

/** Runs tokens one position at a time (like run.c) and returns the logits after each. */
export function forwardLlama2c(w: Weights, tokens: number[], biases?: Biases): Float64Array[] {
  const { dim, hidden, nHeads, nKvHeads } = w;
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const kvMul = nHeads / nKvHeads;
  const keys: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const vals: Float64Array[][] = Array.from({ length: w.nLayers }, () => []);
  const out: Float64Array[] = [];
  tokens.forEach((token, pos) => {
    const x = Float64Array.from(w.emb.subarray(token * dim, (token + 1) * dim));
    const xb = new Float64Array(dim),
      xb2 = new Float64Array(dim);
    const hb = new Float64Array(hidden),
      hb2 = new Float64Array(hidden);
    for (let l = 0; l < w.nLayers; l++) {
      rmsnorm(xb, x, w.rmsAtt[l]!);
      const q = new Float64Array(dim),
        k = new Float64Array(kvDim),
        v = new Float64Array(kvDim);
      matmul(q, xb, w.wq[l]!, dim, dim);
      matmul(k, xb, w.wk[l]!, dim, kvDim);
      matmul(v, xb, w.wv[l]!, dim, kvDim);
      if (biases) {
        for (let i = 0; i < dim; i++) q[i]! += biases.q[l]![i]!;
        for (let i = 0; i < kvDim; i++) {
          k[i]! += biases.k[l]![i]!;
          v[i]! += biases.v[l]![i]!;
        }
      }
      // RoPE on adjacent pairs, frequency from the index within the head
      for (let i = 0; i < dim; i += 2) {
        const headDim = i % headSize;
        const freq = 1 / Math.pow(10000, headDim / headSize);
        const fcr = Math.cos(pos * freq),
          fci = Math.sin(pos * freq);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const v0 = vec[i]!,
            v1 = vec[i + 1]!;
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      keys[l]!.push(k);
      vals[l]!.push(v);
      xb.fill(0);
      for (let h = 0; h < nHeads; h++) {
        const kvOff = Math.floor(h / kvMul) * headSize;
        const att = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < headSize; i++) s += q[h * headSize + i]! * keys[l]![t]![kvOff + i]!;
          att[t] = s / Math.sqrt(headSize);
        }
        const mx = Math.max(...att);
        let sum = 0;
        for (let t = 0; t <= pos; t++) {
          att[t] = Math.exp(att[t]! - mx);
          sum += att[t]!;
        }
        for (let t = 0; t <= pos; t++) {
          const a = att[t]! / sum;
          for (let i = 0; i < headSize; i++) xb[h * headSize + i]! += a * vals[l]![t]![kvOff + i]!;
        }
      }
      matmul(xb2, xb, w.wo[l]!, dim, dim);
      for (let i = 0; i < dim; i++) x[i]! += xb2[i]!;
      rmsnorm(xb, x, w.rmsFfn[l]!);
      matmul(hb, xb, w.w1[l]!, dim, hidden);
      matmul(hb2, xb, w.w3[l]!, dim, hidden);
      for (let i = 0; i < hidden; i++) {
        const g = hb[i]!;
        hb[i] = (g / (1 + Math.exp(-g))) * hb2[i]!;
      }
      matmul(xb, hb, w.w2[l]!, hidden, dim);
      for (let i = 0; i < dim; i++) x[i]! += xb[i]!;
    }
    rmsnorm(x, x, w.rmsFinal);
    const logits = new Float64Array(w.vocab);
    matmul(logits, x, w.wcls, dim, w.vocab);
    out.push(logits);
  });
  return out;
}

export function logSoftmax(x: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < x.length; i++) mx = Math.max(mx, x[i]!);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}
