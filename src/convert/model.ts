// What a converter produces: the GGUF metadata and the list of tensors, each with a reader for its
// float values. Writing (and quantizing) is separate, so converters stay browser-safe and testable
// without files.
import { gv, type GgufMetadata } from '../io/gguf/metadata.js';

export type StoreType = 'F32' | 'F16' | 'BF16';

export interface TensorSpec {
  /** llama.cpp's tensor name, e.g. blk.0.attn_q.weight */
  name: string;
  /** ggml order: shape[0] is the innermost (row length), as GGUF stores ne[] */
  shape: number[];
  /**
   * Type for float outputs: 1-D tensors (norms, biases) stay F32 as convert_hf_to_gguf.py keeps
   * them; matrices take the requested output type.
   */
  keepF32: boolean;
  /** the tensor's values in GGUF element order */
  read(): Promise<Float32Array>;
  /**
   * Rows [first, first + count) (a row is shape[0] values), reading only what they need from the
   * source, so a streamed convert holds a slab, not a whole tensor. Absent: read() is used.
   */
  readRows?(first: number, count: number): Promise<Float32Array>;
  /**
   * A tensor the converter keeps in a quantized ggml type (gpt-oss's MXFP4 experts): written as
   * these bytes in every output type, never as floats (read() is then not used). `readRows` gives
   * the bytes of rows [first, first + count), a row being shape[0] values in that type.
   */
  raw?: { type: number; readRows(first: number, count: number): Promise<Uint8Array> };
}

export interface ConvertedModel {
  /** in the order convert_hf_to_gguf.py writes keys */
  metadata: GgufMetadata;
  tensors: TensorSpec[];
  /**
   * general.file_type of the float outputs when not the output type's own (convert_hf_to_gguf.py
   * labels a checkpoint with MXFP4 experts MXFP4_MOE in its F32/F16/BF16 outputs)
   */
  floatFileType?: number;
}

// LLAMA_TOKEN_TYPE_* (llama.h) as stored in tokenizer.ggml.token_type
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A SentencePiece byte token's text, as llama.cpp looks it up: <0x0A> for byte 10. */
export function byteTokenText(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

// LLAMA_FTYPE values for general.file_type
export const FILE_TYPE: Record<string, number> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K_S: 11,
  Q3_K_M: 12,
  Q3_K_L: 13,
  Q4_K_S: 14,
  Q4_K_M: 15,
  Q5_K_S: 16,
  Q5_K_M: 17,
  Q6_K: 18,
  IQ2_XXS: 19,
  IQ2_XS: 20,
  Q2_K_S: 21,
  IQ3_XS: 22,
  IQ3_XXS: 23,
  IQ1_S: 24,
  IQ4_NL: 25,
  IQ3_S: 26,
  IQ3_M: 27,
  IQ2_S: 28,
  IQ2_M: 29,
  IQ4_XS: 30,
  IQ1_M: 31,
  BF16: 32,
  TQ1_0: 36,
  TQ2_0: 37,
  MXFP4_MOE: 38,
};

/** Tokenizer metadata (tokenizer.ggml.*) a vocab builder produces. */
export interface GgufVocab {
  model: 'llama' | 'gpt2';
  pre?: string;
  tokens: string[];
  scores?: Float32Array;
  tokenTypes: Int32Array;
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  chatTemplate?: string;
  /** the order gguf-py's SpecialVocab found the special ids / add_* flags in (default bos, eos, unk, pad) */
  specialOrder?: ('bos' | 'eos' | 'unk' | 'pad')[];
  addOrder?: ('bos' | 'eos')[];
}

/** Adds tokenizer.ggml.* (and tokenizer.chat_template) in convert_hf_to_gguf.py's order. */
export function addVocab(m: GgufMetadata, v: GgufVocab): void {
  m.set('tokenizer.ggml.model', gv.str(v.model));
  if (v.pre !== undefined) m.set('tokenizer.ggml.pre', gv.str(v.pre));
  m.set('tokenizer.ggml.tokens', gv.strings(v.tokens));
  if (v.scores) m.set('tokenizer.ggml.scores', gv.arr('f32', v.scores));
  m.set('tokenizer.ggml.token_type', gv.arr('i32', v.tokenTypes));
  if (v.merges) m.set('tokenizer.ggml.merges', gv.strings(v.merges));
  const ids = {
    bos: ['bos', v.bosId],
    eos: ['eos', v.eosId],
    unk: ['unknown', v.unkId],
    pad: ['padding', v.padId],
  } as const;
  for (const typ of v.specialOrder ?? (['bos', 'eos', 'unk', 'pad'] as const)) {
    const [key, x] = ids[typ];
    if (x !== undefined) m.set(`tokenizer.ggml.${key}_token_id`, gv.u32(x));
  }
  for (const typ of v.addOrder ?? (['bos', 'eos'] as const)) {
    const x = typ === 'bos' ? v.addBos : v.addEos;
    if (x !== undefined) m.set(`tokenizer.ggml.add_${typ}_token`, gv.bool(x));
  }
  if (v.chatTemplate !== undefined) m.set('tokenizer.chat_template', gv.str(v.chatTemplate));
}
