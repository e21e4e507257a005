// Argument checks of every block codec (any block size, from its GgmlTypeInfo): shapes ggml
// would assert on (or silently misread) become a LowbitError before any byte is written.
import type { GgmlTypeInfo } from '../ggml-types.js';
import { LowbitError } from '../../errors.js';

export function checkQuantize(
  name: string,
  t: GgmlTypeInfo,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): void {
  if (!Number.isSafeInteger(nPerRow) || nPerRow <= 0 || nPerRow % t.blockSize !== 0) {
    throw new LowbitError(`${name}: row length ${nPerRow} is not a positive multiple of ${t.blockSize}`);
  }
  if (!Number.isSafeInteger(nRows) || nRows < 0) throw new LowbitError(`${name}: bad row count ${nRows}`);
  if (src.length < nRows * nPerRow) {
    throw new LowbitError(`${name}: ${nRows} rows of ${nPerRow} need ${nRows * nPerRow} floats, got ${src.length}`);
  }
  const need = nRows * (nPerRow / t.blockSize) * t.typeSize;
  if (dst.length < need) throw new LowbitError(`${name}: output needs ${need} bytes, got ${dst.length}`);
  if (imatrix && imatrix.length < nPerRow) {
    throw new LowbitError(`${name}: importance matrix has ${imatrix.length} entries, row length is ${nPerRow}`);
  }
}

export function checkDequantize(name: string, t: GgmlTypeInfo, src: Uint8Array, dst: Float32Array, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n % t.blockSize !== 0) {
    throw new LowbitError(`${name}: element count ${n} is not a multiple of ${t.blockSize}`);
  }
  const need = (n / t.blockSize) * t.typeSize;
  if (src.length < need) throw new LowbitError(`${name}: ${n} values need ${need} bytes, got ${src.length}`);
  if (dst.length < n) throw new LowbitError(`${name}: output holds ${dst.length} floats, need ${n}`);
}
