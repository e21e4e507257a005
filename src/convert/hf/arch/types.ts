// What one Hugging Face architecture needs beyond the common llama-style conversion in convert.ts:
// one file per GGUF architecture (arch/<gguf-arch>.ts), registered in arch/index.ts.
import type { GgufMetadata } from '../../../io/gguf/metadata.js';
import type { HfConfig } from '../config.js';

export interface ArchDef {
  /** GGUF general.architecture */
  arch: string;
  /** config.json `architectures[0]` names convert_hf_to_gguf.py registers for this model class */
  classes: string[];
  /** config.json `model_type` values that select it */
  modelTypes: string[];
  /**
   * convert_hf_to_gguf.py's LlamaModel family: Q/K rows permuted to llama.cpp's RoPE layout,
   * {arch}.vocab_size and {arch}.rope.dimension_count written, LlamaModel.set_vocab's rules.
   */
  llamaModel?: boolean;
  /** refuse configs this architecture's llama.cpp graph would not run as Hugging Face does */
  checkConfig?(cfg: HfConfig, file: string): void;
  /** keys written after general.file_type (and the llama family's), as the converter's subclass adds them */
  extraMetadata?(m: GgufMetadata, cfg: HfConfig): void;
  /** HF layer tensor suffix → GGUF suffix, beyond the common llama ones (tensors.ts) */
  layerNames?: Record<string, string>;
  /** GGUF tensor suffixes every layer must have (blk.N.<suffix>) */
  layerTensors(cfg: HfConfig): string[];
  /** per-expert HF tensors stacked into one 3-D GGUF tensor per kind (Qwen2MoeModel.modify_tensors) */
  stackedExperts?: boolean;
}
