// Minimal .npy reader (NumPy format 1.0-3.0, C order, little-endian numeric dtypes): enough to feed
// saved model inputs to `lowbit eval --inputs DIR`.
import { FileFormatError } from '../errors.js';

export interface NpyArray {
  shape: number[];
  dtype: 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
}

const DTYPES: Record<string, { dtype: NpyArray['dtype']; size: number }> = {
  '<f4': { dtype: 'float32', size: 4 },
  '<f8': { dtype: 'float64', size: 8 },
  '<i8': { dtype: 'int64', size: 8 },
  '<i4': { dtype: 'int32', size: 4 },
  '|u1': { dtype: 'uint8', size: 1 },
  '|i1': { dtype: 'int8', size: 1 },
  '|b1': { dtype: 'bool', size: 1 },
};

export function parseNpy(bytes: Uint8Array, file = '<npy>'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b))
    throw new FileFormatError(file, 'not a .npy file (bad magic)');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlenAt = 8,
    hlenSize = major >= 2 ? 4 : 2;
  if (bytes.length < hlenAt + hlenSize) throw new FileFormatError(file, 'truncated header');
  const hlen = hlenSize === 4 ? dv.getUint32(hlenAt, true) : dv.getUint16(hlenAt, true);
  const start = hlenAt + hlenSize + hlen;
  if (start > bytes.length) throw new FileFormatError(file, `header of ${hlen} bytes runs past the end of the file`);
  const header = new TextDecoder().decode(bytes.subarray(hlenAt + hlenSize, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new FileFormatError(file, 'unreadable .npy header');
  if (fortran === 'True') throw new FileFormatError(file, 'Fortran-order arrays are not supported (save with C order)');
  const dt = DTYPES[descr];
  if (!dt)
    throw new FileFormatError(
      file,
      `unsupported dtype ${descr} (float32/64, int64/32, uint8, int8, bool little-endian)`,
    );
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new FileFormatError(file, `bad shape (${shapeText})`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (start + n * dt.size !== bytes.length) {
    throw new FileFormatError(
      file,
      `shape (${shape.join(', ')}) of ${descr} needs ${n * dt.size} data bytes, file has ${bytes.length - start}`,
    );
  }
  const body = bytes.slice(start).buffer; // copy: aligned for the typed array views
  const data =
    dt.dtype === 'float32'
      ? new Float32Array(body)
      : dt.dtype === 'float64'
        ? new Float64Array(body)
        : dt.dtype === 'int64'
          ? new BigInt64Array(body)
          : dt.dtype === 'int32'
            ? new Int32Array(body)
            : dt.dtype === 'int8'
              ? new Int8Array(body)
              : new Uint8Array(body);
  return { shape, dtype: dt.dtype, data };
}
