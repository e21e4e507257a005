// IDX files (the MNIST format): a 4-byte magic (0, 0, element type, rank), rank big-endian uint32
// dimensions, then the elements big-endian. Gzipped files (.gz) are inflated first.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { FileFormatError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  /** elements as numbers (uint8 for MNIST) */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { size: number; name: string }> = {
  0x08: { size: 1, name: 'ubyte' },
  0x09: { size: 1, name: 'byte' },
  0x0b: { size: 2, name: 'short' },
  0x0c: { size: 4, name: 'int' },
  0x0d: { size: 4, name: 'float' },
  0x0e: { size: 8, name: 'double' },
};

export function parseIdx(bytes: Uint8Array, file = '<idx>'): IdxArray {
  if (bytes.length < 4) throw new FileFormatError(file, 'not an IDX file (shorter than its 4-byte header)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = bytes[2]!,
    rank = bytes[3]!;
  const t = TYPES[type];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !t) throw new FileFormatError(file, 'not an IDX file (bad magic)');
  if (rank < 1) throw new FileFormatError(file, 'IDX array of rank 0');
  const head = 4 + 4 * rank;
  if (bytes.length < head)
    throw new FileFormatError(file, `truncated: header needs ${head} bytes, file has ${bytes.length}`);
  const dims: number[] = [];
  let n = 1;
  for (let i = 0; i < rank; i++) {
    const d = dv.getUint32(4 + 4 * i);
    dims.push(d);
    n *= d;
  }
  // the dimensions come from the file: check them against its size before allocating anything
  if (head + n * t.size !== bytes.length) {
    throw new FileFormatError(
      file,
      `dimensions ${dims.join('×')} of ${t.name} need ${head + n * t.size} bytes, file has ${bytes.length}`,
    );
  }
  const body = bytes.subarray(head);
  switch (type) {
    case 0x08:
      return { dims, data: body.slice() };
    case 0x09:
      return { dims, data: new Int8Array(body.slice().buffer) };
    default: {
      const out =
        type === 0x0b
          ? new Int16Array(n)
          : type === 0x0c
            ? new Int32Array(n)
            : type === 0x0d
              ? new Float32Array(n)
              : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const o = head + i * t.size;
        out[i] =
          type === 0x0b
            ? dv.getInt16(o)
            : type === 0x0c
              ? dv.getInt32(o)
              : type === 0x0d
                ? dv.getFloat32(o)
                : dv.getFloat64(o);
      }
      return { dims, data: out };
    }
  }
}

/** Read an IDX file, gunzipping when it starts with the gzip magic. */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    // capped so a small hostile .gz cannot inflate without bound
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: 1 << 30 });
    } catch (e) {
      throw new FileFormatError(path, `bad gzip data: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, path);
}
