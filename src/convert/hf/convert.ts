// A Hugging Face llama/mistral/qwen2 checkpoint (config.json + safetensors + tokenizer) → GGUF
// tensors and metadata as convert_hf_to_gguf.py writes them. Browser-safe: the caller supplies
// parsed JSON, tokenizer bytes and an open SafetensorsSet.
import { LowbitError } from '../../errors.js';
import { gv, type GgufMetadata } from '../../io/gguf/metadata.js';
import type { SafetensorsSet } from '../../io/safetensors/sharded.js';
import { FLOAT_DECODABLE, SAFETENSORS_DTYPE_BITS, toFloat32 } from '../../io/safetensors/dtypes.js';
import { addVocab, FILE_TYPE, type ConvertedModel, type TensorSpec } from '../model.js';
import { llama3RopeFactors, type HfConfig } from './config.js';
import { mapHfTensorName, permuteQK } from './tensors.js';
import { archDef } from './arch/index.js';
import { ExpertStacker } from './arch/experts.js';
import type { HfVocab } from './tokenizer.js';
import { standaloneArchitecture } from './arch/standalone.js';

export interface HfConvertOptions {
  /** general.name (convert_hf_to_gguf.py falls back to the directory name) */
  name: string;
}

const GGML_QUANT_VERSION = 2;

export function convertHf(
  cfg: HfConfig,
  tensors: SafetensorsSet,
  vocab: HfVocab,
  opts: HfConvertOptions,
): ConvertedModel {
  const own = standaloneArchitecture(cfg.arch);
  if (own) return own.convert(cfg, tensors, vocab, opts);
  const a = cfg.arch;
  const def = archDef(a);
  const m: GgufMetadata = new Map();
  m.set('general.architecture', gv.str(a));
  m.set('general.type', gv.str('model'));
  m.set('general.name', gv.str(opts.name));
  m.set(`${a}.block_count`, gv.u32(cfg.nLayers));
  if (cfg.nCtx !== undefined) m.set(`${a}.context_length`, gv.u32(cfg.nCtx));
  m.set(`${a}.embedding_length`, gv.u32(cfg.nEmbd));
  m.set(`${a}.feed_forward_length`, gv.u32(cfg.nFf));
  m.set(`${a}.attention.head_count`, gv.u32(cfg.nHead));
  m.set(`${a}.attention.head_count_kv`, gv.u32(cfg.nHeadKv));
  if (cfg.rope?.type === 'linear' || cfg.rope?.type === 'yarn') {
    m.set(`${a}.rope.scaling.type`, gv.str(cfg.rope.type));
    m.set(`${a}.rope.scaling.factor`, gv.f32(cfg.rope.factor!));
    if (cfg.rope.type === 'yarn') {
      if (cfg.rope.originalContext === undefined)
        throw new LowbitError('config.json: yarn rope scaling needs original_max_position_embeddings');
      m.set(`${a}.rope.scaling.original_context_length`, gv.u32(cfg.rope.originalContext));
    }
  }
  if (cfg.ropeTheta !== undefined) m.set(`${a}.rope.freq_base`, gv.f32(cfg.ropeTheta));
  if (cfg.rmsEps !== undefined) m.set(`${a}.attention.layer_norm_rms_epsilon`, gv.f32(cfg.rmsEps));
  if (cfg.nExpert !== undefined) m.set(`${a}.expert_count`, gv.u32(cfg.nExpert));
  if (cfg.nExpertUsed !== undefined) m.set(`${a}.expert_used_count`, gv.u32(cfg.nExpertUsed));
  if (cfg.headDim !== undefined) {
    m.set(`${a}.attention.key_length`, gv.u32(cfg.headDim));
    m.set(`${a}.attention.value_length`, gv.u32(cfg.headDim));
  }
  m.set('general.file_type', gv.u32(FILE_TYPE.F32!));
  if (def.llamaModel) {
    m.set(`${a}.vocab_size`, gv.u32(cfg.vocabSize));
    m.set(`${a}.rope.dimension_count`, gv.u32(cfg.headDim ?? cfg.nEmbd / cfg.nHead));
  }
  def.extraMetadata?.(m, cfg);
  m.set('general.quantization_version', gv.u32(GGML_QUANT_VERSION));
  if (vocab.addSpacePrefix !== undefined) m.set('tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix));
  addVocab(m, vocab);
  // LlamaModel.set_vocab's add_add_bos_token(False) after SpecialVocab: a new key goes last
  if (vocab.addBos !== undefined && !m.has('tokenizer.ggml.add_bos_token'))
    m.set('tokenizer.ggml.add_bos_token', gv.bool(vocab.addBos));

  const out: TensorSpec[] = [];
  if (def.llamaModel && cfg.rope?.type === 'llama3') {
    // LlamaModel.generate_extra_tensors
    const f = llama3RopeFactors(cfg);
    out.push({ name: 'rope_freqs.weight', shape: [f.length], keepF32: true, read: async () => f });
  }
  const headDim = cfg.headDim ?? cfg.nEmbd / cfg.nHead;
  const experts = def.stackedExperts ? new ExpertStacker(cfg, tensors) : undefined;
  for (const t of tensors.tensors) {
    if (experts?.take(t, out)) continue;
    const name = mapHfTensorName(t.name, def.layerNames);
    if (name === null) continue;
    if (name === undefined) throw new LowbitError(`cannot map tensor '${t.name}' to a ${a} GGUF tensor`);
    if (!FLOAT_DECODABLE.has(t.dtype))
      throw new LowbitError(`tensor '${t.name}' is ${t.dtype}; lowbit converts float checkpoints (F32, F16, BF16)`);
    if (t.shape.length < 1 || t.shape.length > 2)
      throw new LowbitError(`tensor '${t.name}' has shape [${t.shape.join(', ')}]`);
    const rows = t.shape[0]!;
    const cols = t.shape.length === 2 ? t.shape[1]! : 1;
    // llama: undo HF's rotate-half layout of q/k (weights and biases), LlamaModel.modify_tensors
    let heads = 0;
    if (def.llamaModel && /\.attn_q\.(weight|bias)$/.test(name)) heads = cfg.nHead;
    if (def.llamaModel && /\.attn_k\.(weight|bias)$/.test(name)) heads = cfg.nHeadKv;
    if (heads && rows !== heads * headDim)
      throw new LowbitError(`tensor '${t.name}' has ${rows} rows, expected ${heads} heads × ${headDim}`);
    if (heads && headDim % 2 !== 0) throw new LowbitError(`head size ${headDim} is odd`);
    const src = t.name;
    const dtype = t.dtype;
    const shape = [...t.shape].reverse();
    // GGUF rows (shape[0] values each): HF rows of a matrix, the whole vector of a 1-D tensor
    const rowLen = shape[0]!;
    const elBytes = SAFETENSORS_DTYPE_BITS[dtype] / 8;
    const readElems = async (first: number, n: number) =>
      toFloat32(await tensors.readBytes(src, first * elBytes, n * elBytes), dtype);
    out.push({
      name,
      shape,
      keepF32: t.shape.length === 1 || name.endsWith('_norm.weight') || name.endsWith('.ffn_gate_inp.weight'),
      read: heads ? async () => permuteQK(await tensors.readF32(src), heads, rows, cols) : () => tensors.readF32(src),
      readRows: async (first, count) => {
        if (!heads) return readElems(first * rowLen, count * rowLen);
        // the permutation stays within a head: read the whole heads the rows fall in, permute them
        const vec = t.shape.length === 1; // a bias is one GGUF row made of `rows` HF rows of 1
        const perRow = vec ? 1 : cols;
        const hfFirst = vec ? 0 : first,
          hfCount = vec ? rows : count;
        const h0 = Math.floor(hfFirst / headDim),
          h1 = Math.floor((hfFirst + hfCount - 1) / headDim) + 1;
        const block = permuteQK(
          await readElems(h0 * headDim * perRow, (h1 - h0) * headDim * perRow),
          h1 - h0,
          (h1 - h0) * headDim,
          perRow,
        );
        const at = (hfFirst - h0 * headDim) * perRow;
        return block.subarray(at, at + hfCount * perRow);
      },
    });
  }
  experts?.finish();
  const have = new Set(out.map((t) => t.name));
  const need = ['token_embd.weight', 'output_norm.weight'];
  for (let l = 0; l < cfg.nLayers; l++) {
    for (const s of def.layerTensors(cfg)) need.push(`blk.${l}.${s}`);
  }
  const missing = need.filter((n) => !have.has(n));
  if (missing.length)
    throw new LowbitError(
      `checkpoint is missing ${missing.length} tensor(s) a ${a} model needs, e.g. ${missing.slice(0, 3).join(', ')}`,
    );
  // without lm_head (tied embeddings) there is no output.weight: llama.cpp then reuses token_embd
  if (vocab.tokens.length < cfg.vocabSize)
    throw new LowbitError(`tokenizer has ${vocab.tokens.length} tokens, config.json vocab_size is ${cfg.vocabSize}`);
  return { metadata: m, tensors: out };
}
