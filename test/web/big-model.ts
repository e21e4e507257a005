// A llama-shaped F32 GGUF of any size written to disk in streaming (never whole in memory): the
// metadata of test/pipeline/synthetic-model.ts's models, weights from a cheap generator. For the
// web app's cancel test and its memory and speed bench.
import { open } from 'node:fs/promises';
import { FileSink } from '../../src/node/file-io.js';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { syntheticLlama } from '../pipeline/synthetic-model.js';

export interface BigSpec {
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nVocab: number;
}

/** Bytes of the F32 tensor data of such a model. */
export function bigModelBytes(s: BigSpec): number {
  const perLayer = 4 * s.nEmbd * s.nEmbd + 3 * s.nEmbd * s.nFf + 2 * s.nEmbd;
  return 4 * (s.nLayer * perLayer + 2 * s.nEmbd * s.nVocab + s.nEmbd);
}

export async function writeBigGguf(path: string, s: BigSpec): Promise<void> {
  // the metadata (and tensor order) of the synthetic models; their tiny data is not used
  const small = syntheticLlama({ ...s, compactRows: 1, weightType: GGML_TYPE.F32 });
  const shape = (name: string): number[] => {
    if (/norm/.test(name)) return [s.nEmbd];
    if (name === 'token_embd.weight' || name === 'output.weight') return [s.nEmbd, s.nVocab];
    if (/ffn_(gate|up)/.test(name)) return [s.nEmbd, s.nFf];
    if (/ffn_down/.test(name)) return [s.nFf, s.nEmbd];
    return [s.nEmbd, s.nEmbd];
  };
  const tensors = small.tensors.map((t) => ({ name: t.name, dims: shape(t.name), type: GGML_TYPE.F32 }));
  const fh = await open(path, 'w');
  try {
    const w = await GgufWriter.begin(new FileSink(fh), { metadata: small.metadata, tensors });
    const chunk = new Float32Array(1 << 22);
    let x = 0x9e3779b9 >>> 0;
    for (const t of tensors) {
      let left = t.dims.reduce((a, b) => a * b, 1);
      const norm = t.dims.length === 1;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        for (let i = 0; i < n; i++) {
          // xorshift32: weights roughly uniform in ±0.05 with a slow drift in scale
          x ^= x << 13;
          x >>>= 0;
          x ^= x >>> 17;
          x ^= x << 5;
          x >>>= 0;
          chunk[i] = norm ? 1 : (x / 4294967296 - 0.5) * 0.1 * (1 + ((i >> 12) & 7));
        }
        await w.writeTensorData(t.name, new Uint8Array(chunk.buffer, 0, n * 4));
        left -= n;
      }
    }
    await w.finish();
  } finally {
    await fh.close();
  }
}
