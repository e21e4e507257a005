// The contract every ggml block format implements. One reference implementation per format;
// everything else (pipeline, plans, analysis, CLI) is generic over the registry of these.
import type { GgmlTypeInfo } from './ggml-types.js';

export interface BlockCodec {
  /** llama.cpp's upper-case name as llama-quantize prints it: 'Q4_0', 'Q4_K', 'F16' */
  readonly name: string;
  /** ggml type info: id, ggml name, elements per block, bytes per block */
  readonly type: GgmlTypeInfo;
  /** true when quantize() follows ggml's importance-weighted path when given an imatrix */
  readonly usesImatrix: boolean;
  /** true when quantize() refuses to run without an imatrix (ggml_quantize_requires_imatrix) */
  readonly requiresImatrix?: boolean;
  /** One line of plain words on the block layout, for `lowbit explain --format`. */
  readonly layout: string;
  /**
   * Quantize nRows rows of nPerRow floats (nPerRow a multiple of the block size) exactly as
   * ggml_quantize_chunk(type, src, dst, 0, nRows, nPerRow, imatrix) does. imatrix, when given,
   * holds nPerRow per-column importances. Writes nRows * rowBytes bytes at dst[0..]. With a scan,
   * the WebAssembly kernels also check the input they read for NaN/Inf (see scanFinite).
   */
  quantize(
    src: Float32Array,
    dst: Uint8Array,
    nRows: number,
    nPerRow: number,
    imatrix: Float32Array | null,
    scan?: FiniteScan,
  ): void;
  /** Dequantize n values (a multiple of the block size) exactly as ggml's to_float does. */
  dequantize(src: Uint8Array, dst: Float32Array, n: number): void;
}

/** What a quantize call's kernels found in the float32 input they read: bytes checked, any NaN or infinity. */
export interface FiniteScan {
  checked: number;
  nonfinite: boolean;
}

export function rowBytes(codec: BlockCodec, nPerRow: number): number {
  return (nPerRow / codec.type.blockSize) * codec.type.typeSize;
}

/** Bits per weight of a format: bytes per block × 8 / elements per block. */
export function bitsPerWeight(codec: BlockCodec): number {
  return (codec.type.typeSize * 8) / codec.type.blockSize;
}
