// A tiny synthetic mixture-of-experts model llama.cpp runs: brown-3m (a real trained Llama,
// converted to F32 GGUF) with each layer's feed-forward turned into 4 experts (2 used per token),
// llama.cpp's Mixtral layout on the llama architecture (ffn_gate_inp, ffn_{gate,up,down}_exps).
// Expert e is the dense weight times (1 + 0.25·u), u uniform in [-1, 1) from a fixed-seed generator,
// and the router is random, so tokens spread over the experts and the text stays Brown-like.
// Deterministic: the same F32 input gives the same bytes (the golden files depend on it).
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader, readTensorBytes } from '../../src/io/gguf/reader.js';
import { gv, type GgufValue } from '../../src/io/gguf/metadata.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { writeGgufFile } from './gguf-file.js';

export const MOE_EXPERTS = 4;
export const MOE_USED = 2;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function makeMoeModel(f32Gguf: string, out: string): Promise<void> {
  const src = await FileSource.open(f32Gguf);
  try {
    const f = await readGgufHeader(src);
    const meta: [string, GgufValue][] = [];
    for (const [k, v] of f.metadata) {
      meta.push([k, k === 'general.name' ? gv.str('brown-3m-moe4 (synthetic)') : v]);
      if (k === 'llama.feed_forward_length') {
        meta.push(['llama.expert_count', gv.u32(MOE_EXPERTS)]);
        meta.push(['llama.expert_used_count', gv.u32(MOE_USED)]);
      }
    }
    const r = rng(20261207);
    const tensors: { name: string; dims: number[]; bytes: Uint8Array }[] = [];
    const f32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    for (const t of f.tensors) {
      if (t.type.id !== GGML_TYPE.F32) throw new Error(`${t.name}: expected an F32 model`);
      const m = /^blk\.(\d+)\.ffn_(gate|up|down)\.weight$/.exec(t.name);
      if (!m) {
        tensors.push({ name: t.name, dims: [...t.dims], bytes: await readTensorBytes(src, f, t) });
        continue;
      }
      const w = f32(await readTensorBytes(src, f, t));
      const e = new Float32Array(w.length * MOE_EXPERTS);
      for (let x = 0; x < MOE_EXPERTS; x++)
        for (let i = 0; i < w.length; i++) e[x * w.length + i] = w[i]! * (1 + 0.25 * (2 * r() - 1));
      if (m[2] === 'gate') {
        const nEmbd = t.dims[0]!;
        const g = new Float32Array(nEmbd * MOE_EXPERTS);
        for (let i = 0; i < g.length; i++) g[i] = (2 * r() - 1) * 0.5;
        tensors.push({
          name: `blk.${m[1]}.ffn_gate_inp.weight`,
          dims: [nEmbd, MOE_EXPERTS],
          bytes: new Uint8Array(g.buffer),
        });
      }
      tensors.push({
        name: `blk.${m[1]}.ffn_${m[2]}_exps.weight`,
        dims: [...t.dims, MOE_EXPERTS],
        bytes: new Uint8Array(e.buffer),
      });
    }
    await writeGgufFile(
      out,
      meta,
      tensors.map((t) => ({ ...t, type: GGML_TYPE.F32 })),
    );
  } finally {
    await src.close();
  }
}
