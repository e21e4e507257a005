// One definition per block format, from which its BlockCodec is derived (as ggml's type_traits and
// gguf-py's quants.py): the geometry from the type id, the argument checks from codec-args.ts, the
// refusal without an importance matrix from `imatrix`, and the WebAssembly-or-TypeScript dispatch
// from `kernels`. A format file writes its layout line, its TypeScript reference and the names of
// its kernels; legacyCodec and kQuantCodec build these definitions from block functions.
import type { BlockCodec, FiniteScan } from './codec.js';
import { LowbitError } from '../errors.js';
import { ggmlTypeById } from './ggml-types.js';
import { checkDequantize, checkQuantize } from './ggml/codec-args.js';
import { wasmDequantize, wasmQuantize, type BlockKernelName, type QuantKernels } from './wasm/kernels.js';

export interface CodecDef {
  /** llama.cpp's upper-case name: 'Q4_0', 'IQ2_XS' */
  name: string;
  typeId: number;
  /** one line of plain words on the block layout (`lowbit explain --format`) */
  layout: string;
  /**
   * What ggml's quantizer does with an importance matrix: ignores it, honours it when given, or
   * refuses to run without one (ggml_quantize_requires_imatrix).
   */
  imatrix: 'ignored' | 'used' | 'required';
  /** WebAssembly kernels, each optional: quantize blocks (no imatrix), quantize rows (with one), dequantize */
  kernels?: QuantKernels & { readonly dequant?: BlockKernelName };
  /**
   * What a refusal of a lattice kernel (input ggml aborts on) does: throw the codec's error. When
   * absent the TypeScript reference reruns, and throws where ggml aborts.
   */
  refused?: () => never;
  /**
   * The TypeScript reference: ggml_quantize_chunk over nRows rows of nPerRow values. Arguments are
   * checked; imatrix is null when ggml ignores it, never null when it requires one.
   */
  quantize(src: Float32Array, dst: Uint8Array, nRows: number, nPerRow: number, imatrix: Float32Array | null): void;
  /** ggml's to_float over n values (a checked multiple of the block size) */
  dequantize(src: Uint8Array, dst: Float32Array, n: number): void;
}

export function defineCodec(def: CodecDef): BlockCodec {
  const { name, refused } = def;
  const type = ggmlTypeById(def.typeId)!;
  const kernels: QuantKernels = def.kernels ?? {};
  const dequantKernel = def.kernels?.dequant;
  const uses = def.imatrix !== 'ignored';
  const requires = def.imatrix === 'required';
  const quantizeRef = def.quantize;
  const dequantizeRef = def.dequantize;
  return {
    name,
    type,
    usesImatrix: uses,
    requiresImatrix: requires,
    layout: def.layout,
    quantize(src, dst, nRows, nPerRow, imatrix, scan?: FiniteScan) {
      checkQuantize(name, type, src, dst, nRows, nPerRow, imatrix);
      const im = uses ? imatrix : null;
      if (requires && !im)
        throw new LowbitError(`${name} needs an importance matrix (ggml refuses to quantize to it without one)`);
      const run = wasmQuantize(kernels, type, src, dst, nRows, nPerRow, im, scan);
      if (run === 'done') return;
      if (run === 'refused' && refused) refused();
      quantizeRef(src, dst, nRows, nPerRow, im);
    },
    dequantize(src, dst, n) {
      checkDequantize(name, type, src, dst, n);
      if (dequantKernel && wasmDequantize(dequantKernel, type, src, dst, n)) return;
      dequantizeRef(src, dst, n);
    },
  };
}
