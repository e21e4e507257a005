// llama2.c checkpoint → llama GGUF tensors and metadata, as llama.cpp's convert-llama2c-to-ggml
// example does. llama2.c rotates adjacent pairs (x[2i], x[2i+1]) in RoPE, which is llama.cpp's
// "normal" RoPE for arch llama, so Q and K are copied as they are (no permutation). llama2.c's
// row-major [out][in] matrices are GGUF's ne = [in, out] byte for byte.
import type { ByteSource } from '../io/source.js';
import { llama2cTensor, readLlama2cTensor, type Llama2cCheckpoint } from '../io/llama2c.js';
import { gv, type GgufMetadata } from '../io/gguf/metadata.js';
import { addVocab, FILE_TYPE, type ConvertedModel, type GgufVocab, type TensorSpec } from './model.js';

export interface Llama2cConvertOptions {
  name?: string;
  /** the output float type (general.file_type); matrices only, norms stay F32 */
  fileType?: string;
}

/** llama2.c's RMSNorm epsilon (run.c: 1e-5f). */
export const LLAMA2C_RMS_EPS = 1e-5;

export function convertLlama2c(
  src: ByteSource,
  ckpt: Llama2cCheckpoint,
  vocab: GgufVocab,
  opts: Llama2cConvertOptions = {},
): ConvertedModel {
  const c = ckpt.config;
  const headSize = c.dim / c.nHeads;
  const m: GgufMetadata = new Map();
  m.set('general.architecture', gv.str('llama'));
  m.set('general.name', gv.str(opts.name ?? 'llama2.c'));
  m.set('llama.context_length', gv.u32(c.seqLen));
  m.set('llama.embedding_length', gv.u32(c.dim));
  m.set('llama.block_count', gv.u32(c.nLayers));
  m.set('llama.feed_forward_length', gv.u32(c.hiddenDim));
  m.set('llama.attention.head_count', gv.u32(c.nHeads));
  m.set('llama.attention.head_count_kv', gv.u32(c.nKvHeads));
  m.set('llama.rope.dimension_count', gv.u32(headSize));
  m.set('llama.attention.layer_norm_rms_epsilon', gv.f32(LLAMA2C_RMS_EPS));
  m.set('llama.vocab_size', gv.u32(c.vocabSize));
  m.set('general.file_type', gv.u32(FILE_TYPE[opts.fileType ?? 'F32'] ?? 0));
  addVocab(m, vocab);

  const tensor = (name: string, l2cName: string, layer?: number): TensorSpec => {
    const t = llama2cTensor(ckpt, l2cName, layer);
    const oneD = t.rows === 1;
    return {
      name,
      shape: oneD ? [t.cols] : [t.cols, t.rows],
      keepF32: oneD,
      read: () => readLlama2cTensor(src, t),
      readRows: async (first, count) => {
        const b = await src.read(t.offset + first * t.cols * 4, count * t.cols * 4);
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const out = new Float32Array(count * t.cols);
        for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
        return out;
      },
    };
  };
  const tensors: TensorSpec[] = [tensor('token_embd.weight', 'token_embedding')];
  for (let l = 0; l < c.nLayers; l++) {
    tensors.push(
      tensor(`blk.${l}.attn_norm.weight`, 'rms_att', l),
      tensor(`blk.${l}.attn_q.weight`, 'wq', l),
      tensor(`blk.${l}.attn_k.weight`, 'wk', l),
      tensor(`blk.${l}.attn_v.weight`, 'wv', l),
      tensor(`blk.${l}.attn_output.weight`, 'wo', l),
      tensor(`blk.${l}.ffn_norm.weight`, 'rms_ffn', l),
      tensor(`blk.${l}.ffn_gate.weight`, 'w1', l),
      tensor(`blk.${l}.ffn_down.weight`, 'w2', l),
      tensor(`blk.${l}.ffn_up.weight`, 'w3', l),
    );
  }
  tensors.push(tensor('output_norm.weight', 'rms_final'));
  // shared classifier: no output.weight, llama.cpp then uses token_embd for the output
  if (!c.sharedClassifier) tensors.push(tensor('output.weight', 'wcls'));
  return { metadata: m, tensors };
}
