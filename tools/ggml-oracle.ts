// ggml's own quantizer, loaded from the libggml-base.so that node-llama-cpp ships, through koffi.
// This is the oracle for bit-exact tests and the baseline for benchmarks. Node-only, dev-only:
// it is never imported by the library.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export const GGML_LIB_DIR = (() => {
  // the package exports only its dist entry; its folder is two levels above that
  const entry = require.resolve('@node-llama-cpp/linux-x64');
  return join(dirname(entry), '..', 'bins', 'linux-x64');
})();

export interface GgmlOracle {
  /** ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, imatrix) */
  quantize(type: number, src: Float32Array, nRows: number, nPerRow: number, imatrix?: Float32Array | null): Uint8Array;
  /** the type's to_float, as ggml_get_type_traits(type)->to_float */
  dequantize(type: number, src: Uint8Array, n: number): Float32Array;
  /** quantize_row_<t>_ref (from_float_ref), the imatrix-free reference path */
  quantizeRef(type: number, src: Float32Array): Uint8Array;
  rowSize(type: number, n: number): number;
  blockSize(type: number): number;
  typeSize(type: number): number;
  typeName(type: number): string;
  requiresImatrix(type: number): boolean;
  /** raw koffi library handle, for callers that need other exports */
  lib: unknown;
  koffi: any;
}

let cached: GgmlOracle | null | undefined;

/** Returns the oracle, or null when the library is not available (non-x64-linux). */
export function loadGgmlOracle(): GgmlOracle | null {
  if (cached !== undefined) return cached;
  const path = join(GGML_LIB_DIR, 'libggml-base.so');
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync(path)) return (cached = null);
  const koffi = require('koffi');
  const lib = koffi.load(path);
  const TypeTraits = koffi.struct('ggml_type_traits_lb', {
    type_name: 'const char *',
    blck_size: 'int64_t',
    blck_size_interleave: 'int64_t',
    type_size: 'size_t',
    is_quantized: 'bool',
    to_float: 'void *',
    from_float_ref: 'void *',
  });
  const ToFloat = koffi.proto('void ggml_to_float_lb(const void *x, float *y, int64_t k)');
  const FromFloat = koffi.proto('void ggml_from_float_lb(const float *x, void *y, int64_t k)');
  const quantizeChunk = lib.func(
    'size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)',
  );
  const getTraits = lib.func('const ggml_type_traits_lb *ggml_get_type_traits(int type)');
  const rowSizeF = lib.func('size_t ggml_row_size(int type, int64_t ne)');
  const blckSizeF = lib.func('int64_t ggml_blck_size(int type)');
  const typeSizeF = lib.func('size_t ggml_type_size(int type)');
  const typeNameF = lib.func('const char *ggml_type_name(int type)');
  const reqImatrixF = lib.func('bool ggml_quantize_requires_imatrix(int type)');

  const traits = (type: number) => koffi.decode(getTraits(type), TypeTraits);
  const num = (v: number | bigint) => Number(v);

  cached = {
    lib,
    koffi,
    rowSize: (t, n) => num(rowSizeF(t, n)),
    blockSize: (t) => num(blckSizeF(t)),
    typeSize: (t) => num(typeSizeF(t)),
    typeName: (t) => typeNameF(t),
    requiresImatrix: (t) => reqImatrixF(t),
    quantize(type, src, nRows, nPerRow, imatrix) {
      const out = new Uint8Array(num(rowSizeF(type, nPerRow)) * nRows);
      const written = num(quantizeChunk(type, src, out, 0, nRows, nPerRow, imatrix ?? null));
      if (written !== out.length) throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${out.length}`);
      return out;
    },
    dequantize(type, src, n) {
      const t = traits(type);
      if (!t.to_float) throw new Error(`ggml type ${type} has no to_float`);
      const fn = koffi.decode(t.to_float, ToFloat);
      const out = new Float32Array(n);
      fn(src, out, n);
      return out;
    },
    quantizeRef(type, src) {
      const t = traits(type);
      if (!t.from_float_ref) throw new Error(`ggml type ${type} has no from_float_ref`);
      const fn = koffi.decode(t.from_float_ref, FromFloat);
      const out = new Uint8Array((src.length / num(t.blck_size)) * num(t.type_size));
      fn(src, out, src.length);
      return out;
    },
  };
  return cached;
}
