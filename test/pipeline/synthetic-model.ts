// Small synthetic llama-architecture GGUFs with random weights and llama.cpp's tensor names, for
// comparing `lowbit quantize` with llama.cpp's llama_model_quantize.
import { writeFileSync } from 'node:fs';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import { gv, type GgufMetadata } from '../../src/io/gguf/metadata.js';
import { BufferSink } from '../../src/io/source.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { randomRows } from '../support/oracle.js';

export interface SyntheticSpec {
  nLayer?: number;
  nEmbd?: number;
  nHead?: number;
  nHeadKv?: number;
  nFf?: number;
  nVocab?: number;
  /** no output.weight: token_embd doubles as the output */
  tied?: boolean;
  /** mixture of experts: ffn_*_exps 3-D tensors instead of dense ffn */
  nExpert?: number;
  /** give every weight matrix only this many rows (llama.cpp's rules look at row lengths, not row counts): fast tests */
  compactRows?: number;
  /** storage type of 2-D weights (F32, F16 or BF16) */
  weightType?: number;
  seed?: number;
  /** extra tensors, e.g. with an odd row length */
  extra?: { name: string; shape: number[]; type?: number }[];
  extraMetadata?: [string, ReturnType<typeof gv.u32>][];
}

export interface SyntheticTensor {
  name: string;
  shape: number[];
  type: number;
  data: Uint8Array;
}

export function syntheticLlama(spec: SyntheticSpec = {}): { metadata: GgufMetadata; tensors: SyntheticTensor[] } {
  const nLayer = spec.nLayer ?? 8,
    nEmbd = spec.nEmbd ?? 256,
    nHead = spec.nHead ?? 4,
    nHeadKv = spec.nHeadKv ?? nHead;
  const nFf = spec.nFf ?? 512,
    nVocab = spec.nVocab ?? 64,
    wt = spec.weightType ?? GGML_TYPE.F16;
  const headDim = nEmbd / nHead;
  const metadata: GgufMetadata = new Map([
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str('lowbit synthetic')],
    ['llama.context_length', gv.u32(256)],
    ['llama.embedding_length', gv.u32(nEmbd)],
    ['llama.block_count', gv.u32(nLayer)],
    ['llama.feed_forward_length', gv.u32(nFf)],
    ['llama.attention.head_count', gv.u32(nHead)],
    ['llama.attention.head_count_kv', gv.u32(nHeadKv)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['llama.rope.dimension_count', gv.u32(headDim)],
    ['llama.vocab_size', gv.u32(nVocab)],
    ['general.file_type', gv.u32(1)],
    // a tokenizer, so metadata comparisons cover arrays of strings, floats and ints, and bools
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.strings(Array.from({ length: nVocab }, (_, i) => (i === 3 ? 'é▁tok' : `tok${i}`)))],
    [
      'tokenizer.ggml.scores',
      gv.arr(
        'f32',
        Float32Array.from({ length: nVocab }, (_, i) => -i / 3),
      ),
    ],
    [
      'tokenizer.ggml.token_type',
      gv.arr(
        'i32',
        Int32Array.from({ length: nVocab }, (_, i) => (i < 3 ? 3 : 1)),
      ),
    ],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.add_bos_token', gv.bool(true)],
    ['general.some_i64', gv.i64(-5n)],
    ...(spec.nExpert
      ? ([
          ['llama.expert_count', gv.u32(spec.nExpert)],
          ['llama.expert_used_count', gv.u32(2)],
        ] as [string, ReturnType<typeof gv.u32>][])
      : []),
    ...(spec.extraMetadata ?? []),
  ]);
  const shapes: { name: string; shape: number[]; type?: number }[] = [];
  shapes.push({ name: 'token_embd.weight', shape: [nEmbd, nVocab] });
  shapes.push({ name: 'output_norm.weight', shape: [nEmbd], type: GGML_TYPE.F32 });
  if (!spec.tied) shapes.push({ name: 'output.weight', shape: [nEmbd, nVocab] });
  for (let l = 0; l < nLayer; l++) {
    const b = `blk.${l}.`;
    shapes.push({ name: b + 'attn_norm.weight', shape: [nEmbd], type: GGML_TYPE.F32 });
    shapes.push({ name: b + 'attn_q.weight', shape: [nEmbd, nEmbd] });
    shapes.push({ name: b + 'attn_k.weight', shape: [nEmbd, headDim * nHeadKv] });
    shapes.push({ name: b + 'attn_v.weight', shape: [nEmbd, headDim * nHeadKv] });
    shapes.push({ name: b + 'attn_output.weight', shape: [nEmbd, nEmbd] });
    shapes.push({ name: b + 'ffn_norm.weight', shape: [nEmbd], type: GGML_TYPE.F32 });
    if (spec.nExpert) {
      const e = spec.nExpert;
      shapes.push({ name: b + 'ffn_gate_inp.weight', shape: [nEmbd, e], type: GGML_TYPE.F32 });
      shapes.push({ name: b + 'ffn_gate_exps.weight', shape: [nEmbd, nFf, e] });
      shapes.push({ name: b + 'ffn_up_exps.weight', shape: [nEmbd, nFf, e] });
      shapes.push({ name: b + 'ffn_down_exps.weight', shape: [nFf, nEmbd, e] });
    } else {
      shapes.push({ name: b + 'ffn_gate.weight', shape: [nEmbd, nFf] });
      shapes.push({ name: b + 'ffn_up.weight', shape: [nEmbd, nFf] });
      shapes.push({ name: b + 'ffn_down.weight', shape: [nFf, nEmbd] });
    }
  }
  if (spec.compactRows) {
    for (const s of shapes) if (s.shape.length >= 2 && s.type === undefined) s.shape[1] = spec.compactRows;
  }
  shapes.push(...(spec.extra ?? []));
  let seed = spec.seed ?? 1;
  const tensors = shapes.map(({ name, shape, type }) => {
    const t = type ?? wt;
    const nPerRow = shape[0]!;
    const nRows = shape.slice(1).reduce((a, b) => a * b, 1);
    const f = randomRows(seed++, nRows, nPerRow);
    // keep weights in a sane range: randomRows spans many scales, which is what we want for codecs,
    // but F16 overflows at 65504
    for (let i = 0; i < f.length; i++) if (!(Math.abs(f[i]!) < 6e4)) f[i] = Math.sign(f[i]!) * 6e4;
    const codec = codecByTypeId(t)!;
    const data = new Uint8Array((f.length / codec.type.blockSize) * codec.type.typeSize);
    codec.quantize(f, data, nRows, nPerRow, null);
    return { name, shape, type: t, data };
  });
  return { metadata, tensors };
}

export async function encodeGguf(model: { metadata: GgufMetadata; tensors: SyntheticTensor[] }): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: model.metadata,
    tensors: model.tensors.map((t) => ({ name: t.name, dims: t.shape, type: t.type })),
  });
  for (const t of model.tensors) await w.writeTensorData(t.name, t.data);
  await w.finish();
  return sink.bytes();
}

export async function writeSyntheticLlama(path: string, spec: SyntheticSpec = {}): Promise<void> {
  writeFileSync(path, await encodeGguf(syntheticLlama(spec)));
}

/**
 * The model as gguf-split writes it in `n` shards: tensors in order, spread over the shards; the
 * first has all metadata, every shard split.no, split.count and split.tensors.count.
 */
export async function encodeGgufSplit(
  model: { metadata: GgufMetadata; tensors: SyntheticTensor[] },
  n: number,
): Promise<Uint8Array[]> {
  const per = Math.ceil(model.tensors.length / n);
  const shards: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const metadata: GgufMetadata = new Map(i === 0 ? model.metadata : []);
    metadata.set('split.no', gv.u16(i));
    metadata.set('split.count', gv.u16(n));
    metadata.set('split.tensors.count', gv.i32(model.tensors.length));
    shards.push(await encodeGguf({ metadata, tensors: model.tensors.slice(i * per, (i + 1) * per) }));
  }
  return shards;
}
