// Readers for karpathy/llama2.c files: model checkpoints (.bin) and tokenizer.bin.
// Browser-safe: everything goes through a ByteSource, and every size the file implies is checked
// against the file's real size before anything is allocated.
import { FileFormatError, LowbitError } from '../errors.js';
import type { ByteSource } from './source.js';

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** true when the classifier reuses token_embedding (legacy: vocab_size > 0 in the header) */
  sharedClassifier: boolean;
}

/** One weight array of the checkpoint: `rows` × `cols` float32, row-major, at `offset`. */
export interface Llama2cTensor {
  /** llama2.c's own name: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls */
  name: string;
  /** layer index for per-layer weights */
  layer?: number;
  rows: number;
  cols: number;
  offset: number;
}

export interface Llama2cCheckpoint {
  /** 0 for the legacy header-less format (run.c), 1 for export.py's "ak42" v1 (fp32) */
  version: 0 | 1;
  config: Llama2cConfig;
  tensors: Llama2cTensor[];
}

const MAGIC_AK42 = 0x616b3432;
// Sanity caps: far above any real llama2.c model, low enough that products stay exact in doubles.
const MAX_DIM = 1 << 20;

/** Bytes of all weights the header implies (checked before the per-tensor list is built). */
function weightBytes(c: Llama2cConfig): number {
  const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
  const perLayer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kvDim * c.dim + 3 * c.hiddenDim * c.dim;
  return 4 * (c.vocabSize * c.dim * (c.sharedClassifier ? 1 : 2) + c.nLayers * perLayer + c.dim);
}

function checkSize(src: ByteSource, c: Llama2cConfig, headerBytes: number, extraBytes: number): void {
  const want = headerBytes + weightBytes(c) + extraBytes;
  if (want !== src.size) {
    throw new FileFormatError(
      src.name,
      `llama2.c header (dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, vocab ${c.vocabSize}, seq ${c.seqLen}) implies ${want} bytes, file has ${src.size}`,
    );
  }
}

function checkConfig(name: string, c: Llama2cConfig): void {
  const fields: [string, number][] = [
    ['dim', c.dim],
    ['hidden_dim', c.hiddenDim],
    ['n_layers', c.nLayers],
    ['n_heads', c.nHeads],
    ['n_kv_heads', c.nKvHeads],
    ['vocab_size', c.vocabSize],
    ['seq_len', c.seqLen],
  ];
  for (const [k, v] of fields) {
    if (!Number.isInteger(v) || v <= 0 || v > MAX_DIM)
      throw new FileFormatError(name, `not a llama2.c checkpoint: ${k} = ${v}`);
  }
  if (c.dim % c.nHeads !== 0) throw new FileFormatError(name, `dim ${c.dim} is not a multiple of n_heads ${c.nHeads}`);
  if (c.nKvHeads > c.nHeads || c.nHeads % c.nKvHeads !== 0) {
    throw new FileFormatError(name, `n_heads ${c.nHeads} is not a multiple of n_kv_heads ${c.nKvHeads}`);
  }
  if ((c.dim / c.nHeads) % 2 !== 0)
    throw new FileFormatError(name, `head size ${c.dim / c.nHeads} is odd (RoPE needs pairs)`);
}

/** Parse the header and lay out every tensor; checks the file holds exactly what the header implies. */
export async function readLlama2cCheckpoint(src: ByteSource): Promise<Llama2cCheckpoint> {
  if (src.size < 28) throw new FileFormatError(src.name, `too small for a llama2.c checkpoint (${src.size} bytes)`);
  const head = await src.read(0, Math.min(src.size, 64));
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (dv.getUint32(0, true) === MAGIC_AK42) return readV1(src, dv);

  const h = (i: number) => dv.getInt32(i * 4, true);
  const rawVocab = h(5);
  const config: Llama2cConfig = {
    dim: h(0),
    hiddenDim: h(1),
    nLayers: h(2),
    nHeads: h(3),
    nKvHeads: h(4),
    vocabSize: Math.abs(rawVocab),
    seqLen: h(6),
    sharedClassifier: rawVocab > 0,
  };
  checkConfig(src.name, config);
  const { dim, hiddenDim: hd, nLayers: L, vocabSize: V, seqLen } = config;
  const headSize = dim / config.nHeads;
  checkSize(src, config, 28, seqLen * headSize * 4); // + freq_cis_real and freq_cis_imag
  const kvDim = (dim * config.nKvHeads) / config.nHeads;

  // run.c's memory_map_weights order
  const tensors: Llama2cTensor[] = [];
  let off = 28;
  const add = (name: string, rows: number, cols: number, layer?: number) => {
    tensors.push(layer === undefined ? { name, rows, cols, offset: off } : { name, layer, rows, cols, offset: off });
    off += rows * cols * 4;
  };
  const perLayer = (name: string, rows: number, cols: number) => {
    for (let l = 0; l < L; l++) add(name, rows, cols, l);
  };
  add('token_embedding', V, dim);
  perLayer('rms_att', 1, dim);
  perLayer('wq', dim, dim);
  perLayer('wk', kvDim, dim);
  perLayer('wv', kvDim, dim);
  perLayer('wo', dim, dim);
  perLayer('rms_ffn', 1, dim);
  perLayer('w1', hd, dim);
  perLayer('w2', dim, hd);
  perLayer('w3', hd, dim);
  add('rms_final', 1, dim);
  off += seqLen * headSize * 4; // freq_cis_real and freq_cis_imag: unused, RoPE is recomputed
  if (!config.sharedClassifier) add('wcls', V, dim);
  if (off !== src.size) throw new LowbitError('llama2.c layout disagrees with weightBytes', 'EINTERNAL');
  return { version: 0, config, tensors };
}

// export.py version 1: 256-byte header (magic, version, 7 params, shared flag), fp32 weights with
// the norms first.
function readV1(src: ByteSource, dv: DataView): Llama2cCheckpoint {
  const version = dv.getInt32(4, true);
  if (version !== 1) {
    throw new FileFormatError(
      src.name,
      `llama2.c export version ${version} is not supported (only the legacy format and version 1, fp32)`,
    );
  }
  if (src.size < 256) throw new FileFormatError(src.name, 'truncated llama2.c v1 header');
  const h = (i: number) => dv.getInt32(8 + i * 4, true);
  const config: Llama2cConfig = {
    dim: h(0),
    hiddenDim: h(1),
    nLayers: h(2),
    nHeads: h(3),
    nKvHeads: h(4),
    vocabSize: h(5),
    seqLen: h(6),
    sharedClassifier: dv.getUint8(36) !== 0,
  };
  checkConfig(src.name, config);
  const { dim, hiddenDim: hd, nLayers: L, vocabSize: V } = config;
  const kvDim = (dim * config.nKvHeads) / config.nHeads;
  checkSize(src, config, 256, 0);
  const tensors: Llama2cTensor[] = [];
  let off = 256;
  const add = (name: string, rows: number, cols: number, layer?: number) => {
    tensors.push(layer === undefined ? { name, rows, cols, offset: off } : { name, layer, rows, cols, offset: off });
    off += rows * cols * 4;
  };
  const perLayer = (name: string, rows: number, cols: number) => {
    for (let l = 0; l < L; l++) add(name, rows, cols, l);
  };
  perLayer('rms_att', 1, dim);
  perLayer('rms_ffn', 1, dim);
  add('rms_final', 1, dim);
  add('token_embedding', V, dim);
  perLayer('wq', dim, dim);
  perLayer('wk', kvDim, dim);
  perLayer('wv', kvDim, dim);
  perLayer('wo', dim, dim);
  perLayer('w1', hd, dim);
  perLayer('w2', dim, hd);
  perLayer('w3', hd, dim);
  if (!config.sharedClassifier) add('wcls', V, dim);
  if (off !== src.size) throw new LowbitError('llama2.c layout disagrees with weightBytes', 'EINTERNAL');
  return { version: 1, config, tensors };
}

/** Find a tensor by llama2.c name (and layer). */
export function llama2cTensor(ckpt: Llama2cCheckpoint, name: string, layer?: number): Llama2cTensor {
  const t = ckpt.tensors.find((x) => x.name === name && x.layer === layer);
  if (!t) throw new LowbitError(`llama2.c tensor ${name}${layer === undefined ? '' : `[${layer}]`} not in checkpoint`);
  return t;
}

/** The float32 values of one tensor (little-endian on disk). */
export async function readLlama2cTensor(src: ByteSource, t: Llama2cTensor): Promise<Float32Array> {
  const bytes = await src.read(t.offset, t.rows * t.cols * 4);
  return littleEndianF32(bytes);
}

function littleEndianF32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

export interface Llama2cToken {
  /** the raw bytes as stored (llama2.c stores SentencePiece's ▁ as a plain space) */
  bytes: Uint8Array;
  score: number;
}

export interface Llama2cTokenizer {
  maxTokenLength: number;
  tokens: Llama2cToken[];
}

/**
 * tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes. The
 * file does not store the count; it comes from the model (vocab_size). Extra trailing bytes are an
 * error so a tokenizer of another model is caught.
 */
export async function readLlama2cTokenizer(src: ByteSource, vocabSize: number): Promise<Llama2cTokenizer> {
  if (src.size < 4) throw new FileFormatError(src.name, 'too small for a llama2.c tokenizer');
  // Each token needs at least 8 bytes: a file smaller than that cannot hold vocabSize tokens.
  if (4 + vocabSize * 8 > src.size) {
    throw new FileFormatError(src.name, `holds fewer than the model's ${vocabSize} tokens (${src.size} bytes)`);
  }
  const all = await src.read(0, src.size);
  const dv = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const maxTokenLength = dv.getInt32(0, true);
  const tokens: Llama2cToken[] = [];
  let o = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > all.length) throw new FileFormatError(src.name, `truncated at token ${i} of ${vocabSize}`);
    const score = dv.getFloat32(o, true);
    const len = dv.getInt32(o + 4, true);
    o += 8;
    if (len < 0 || o + len > all.length)
      throw new FileFormatError(src.name, `token ${i} has length ${len}, past the end of the file`);
    tokens.push({ bytes: all.slice(o, o + len), score });
    o += len;
  }
  if (o !== all.length) {
    throw new FileFormatError(
      src.name,
      `${all.length - o} bytes left after ${vocabSize} tokens: the tokenizer does not match the model's vocab size`,
    );
  }
  return { maxTokenLength, tokens };
}
