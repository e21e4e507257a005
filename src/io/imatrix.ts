// Importance-matrix files as llama.cpp's llama-imatrix writes them and llama-quantize reads them
// (common/imatrix-loader.cpp, tools/quantize/quantize.cpp load_imatrix): the GGUF format
// (`<tensor>.in_sum2` and `<tensor>.counts` tensors, `imatrix.*` keys) and the legacy `.dat` format.
// The importances returned are the ones llama-quantize hands to ggml_quantize_chunk, computed with
// the same float32 arithmetic.
import { FileFormatError } from '../errors.js';
import type { ByteSource } from './source.js';
import { Cursor, oneLine, readGgufHeader, readTensorBytes, show, type GgufTensorInfo } from './gguf/reader.js';
import { GGUF_MAGIC } from './gguf/constants.js';
import { gv, type GgufValue } from './gguf/metadata.js';
import { GGML_TYPE } from '../formats/ggml-types.js';

export interface ImatrixProvenance {
  /** the source name (file path) */
  readonly file: string;
  readonly format: 'gguf' | 'legacy';
  readonly datasets: readonly string[];
  /** chunks the matrix was computed on (0 when the file does not say) */
  readonly chunkCount: number;
  /** tokens per chunk (GGUF only; 0 for legacy) */
  readonly chunkSize: number;
  readonly entryCount: number;
}

export interface Imatrix {
  /** tensor name → importance per column (per expert row for MoE tensors: n_expert × n_per_row) */
  readonly data: Map<string, Float32Array>;
  readonly provenance: ImatrixProvenance;
}

export const IMATRIX_KEY = {
  datasets: 'imatrix.datasets',
  chunkCount: 'imatrix.chunk_count',
  chunkSize: 'imatrix.chunk_size',
} as const;

const fround = Math.fround;

/** Reads either format, told apart by the GGUF magic. */
export async function readImatrix(src: ByteSource): Promise<Imatrix> {
  if (src.size >= 4) {
    const head = await src.read(0, 4);
    const magic = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    if (magic === GGUF_MAGIC) return readGgufImatrix(src);
  }
  return readLegacyImatrix(src);
}

export async function readGgufImatrix(src: ByteSource): Promise<Imatrix> {
  const fail = (problem: string): never => {
    throw new FileFormatError(src.name, oneLine(problem));
  };
  const f = await readGgufHeader(src);
  if (f.tensors.length < 1) fail('imatrix has no data (no tensors)');
  const m = f.metadata;
  // llama-quantize refuses GGUF imatrix files without all three keys
  for (const k of Object.values(IMATRIX_KEY))
    if (!m.has(k)) fail(`missing imatrix metadata '${k}' (is this an imatrix file?)`);
  const ds = m.get(IMATRIX_KEY.datasets)!;
  // as in llama.cpp: a datasets key that is not an array of strings is ignored
  const datasets = ds.type === 'array' && ds.value.itemType === 'string' ? [...(ds.value.items as string[])] : [];
  const u32 = (k: string): number => {
    const v = m.get(k)!;
    if (v.type !== 'u32') fail(`'${k}' must be u32, is ${v.type}`);
    return v.value as number;
  };
  const chunkCount = u32(IMATRIX_KEY.chunkCount);
  const chunkSize = u32(IMATRIX_KEY.chunkSize);

  const pairs = imatrixTensorPairs(f.tensors);

  const data = new Map<string, Float32Array>();
  for (const name of [...pairs.keys()].sort(byteOrder)) {
    const { sums, counts } = pairs.get(name)!;
    if (!sums || !counts) fail(`mismatched sums and counts for ${show(name)}`);
    if (sums!.type.id !== GGML_TYPE.F32 || counts!.type.id !== GGML_TYPE.F32)
      fail(`sums and counts for ${show(name)} must be f32`);
    const nval = sums!.nElements;
    const ncounts = counts!.nElements;
    if (ncounts === 0 || nval % ncounts !== 0)
      fail(`${show(name)}: ${nval} sums do not split into ${ncounts} expert rows`);
    const s = f32s(await readTensorBytes(src, f, sums!));
    const c = f32s(await readTensorBytes(src, f, counts!));
    const ne0 = nval / ncounts;
    const e = new Float32Array(nval);
    for (let j = 0; j < ncounts; j++) {
      const cj = c[j]!;
      if (!Number.isFinite(cj)) fail(`${show(name)}: count ${j} is not finite`);
      // llama.cpp: counts[j] = lround(float); then (float) of that int64
      const count = fround(lround(cj));
      if (count > 0) for (let i = 0; i < ne0; i++) e[j * ne0 + i] = s[j * ne0 + i]! / count;
      else e.fill(1, j * ne0, (j + 1) * ne0);
    }
    data.set(name, e);
  }
  return {
    data,
    provenance: { file: src.name, format: 'gguf', datasets, chunkCount, chunkSize, entryCount: data.size },
  };
}

export async function readLegacyImatrix(src: ByteSource): Promise<Imatrix> {
  const c: Cursor = new Cursor(src, src.size);
  const fail = (problem: string): never => {
    throw new FileFormatError(src.name, oneLine(problem));
  };
  c.where = 'entry count';
  if (src.size < 4) fail(`not an imatrix file (${src.size} bytes)`);
  const nEntries = await c.i32();
  if (nEntries < 1) fail(`not an imatrix file (entry count ${nEntries})`);
  // an entry takes at least 16 bytes (name length, ncall, nval, one value)
  if (nEntries * 16 > c.remaining) fail(`not an imatrix file (${nEntries} entries cannot fit in ${src.size} bytes)`);
  const raw = new Map<string, { sums: Float32Array; ncall: number }>();
  for (let i = 0; i < nEntries; i++) {
    c.where = `entry ${i + 1} name`;
    const len = await c.i32();
    if (len < 0 || len > c.remaining) fail(`entry ${i + 1}: bad name length ${len}`);
    const nameBytes = await c.bytes(len);
    const name = cString(nameBytes, () => fail(`entry ${i + 1}: name is not valid UTF-8`));
    c.where = `entry ${show(name)}`;
    const ncall = await c.i32();
    const nval = await c.i32();
    if (nval < 1) fail(`entry ${show(name)}: bad number of values ${nval}`);
    if (nval * 4 > c.remaining) fail(`entry ${show(name)}: ${nval} values cannot fit in the ${c.remaining} bytes left`);
    const sums = f32s(await c.bytes(nval * 4));
    raw.set(name, { sums, ncall });
  }
  // optional trailer: chunk count, then the dataset name
  let chunkCount = 0;
  const datasets: string[] = [];
  if (c.remaining >= 4) {
    chunkCount = await c.i32();
    if (c.remaining >= 4) {
      const len = await c.i32();
      if (len > 0 && len <= c.remaining) {
        const d = cString(await c.bytes(len), () => fail('dataset name is not valid UTF-8'));
        datasets.push(d);
      }
    }
  }
  const data = new Map<string, Float32Array>();
  for (const name of [...raw.keys()].sort(byteOrder)) {
    const { sums, ncall } = raw.get(name)!;
    // the file stores (sum/count)*ncall; llama-quantize divides by ncall again (float / (float)int)
    const fcall = fround(ncall);
    data.set(name, ncall > 0 ? sums.map((x) => x / fcall) : sums);
  }
  return {
    data,
    provenance: { file: src.name, format: 'legacy', datasets, chunkCount, chunkSize: 0, entryCount: data.size },
  };
}

/**
 * The `quantize.imatrix.*` keys llama-quantize adds to the quantized model for this imatrix
 * (file name and first dataset cut to 127 bytes as its fixed buffers do; counts as u32).
 */
export function imatrixQuantizeMetadata(im: Imatrix, fileLabel: string = im.provenance.file): [string, GgufValue][] {
  const out: [string, GgufValue][] = [['quantize.imatrix.file', gv.str(cut127(fileLabel))]];
  const d = im.provenance.datasets[0];
  if (d !== undefined) out.push(['quantize.imatrix.dataset', gv.str(cut127(d))]);
  out.push(['quantize.imatrix.entries_count', gv.u32(im.data.size)]);
  if (im.provenance.chunkCount > 0) out.push(['quantize.imatrix.chunks_count', gv.u32(im.provenance.chunkCount)]);
  return out;
}

/** At most 127 UTF-8 bytes (strncpy into char[128]); cut at a character boundary so it stays valid UTF-8. */
function cut127(s: string): string {
  const b = new TextEncoder().encode(s);
  if (b.length <= 127) return s;
  let n = 127;
  while (n > 0 && (b[n]! & 0xc0) === 0x80) n--;
  return new TextDecoder().decode(b.subarray(0, n));
}

/**
 * llama-imatrix's GGUF tensors by entry: `<name>.in_sum2` (sums) and `<name>.counts` (counts); either
 * may be missing (the readers refuse such an entry). Tensors with other names are ignored.
 */
export function imatrixTensorPairs(
  tensors: readonly GgufTensorInfo[],
): Map<string, { sums?: GgufTensorInfo; counts?: GgufTensorInfo }> {
  const pairs = new Map<string, { sums?: GgufTensorInfo; counts?: GgufTensorInfo }>();
  for (const t of tensors) {
    if (t.name === '') continue;
    for (const [suffix, field] of [
      ['.in_sum2', 'sums'],
      ['.counts', 'counts'],
    ] as const) {
      if (t.name.endsWith(suffix)) {
        const name = t.name.slice(0, -suffix.length);
        const p = pairs.get(name) ?? {};
        p[field] = t;
        pairs.set(name, p);
        break;
      }
    }
  }
  return pairs;
}

/** std::lround */
export function lround(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** little-endian float32 values of file bytes */
export function f32s(b: Uint8Array): Float32Array {
  // copy: file bytes need not be 4-aligned in memory
  const out = new Float32Array(b.length >> 2);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = v.getFloat32(i * 4, true);
  return out;
}

/** llama.cpp reads names into a NUL-terminated buffer, so a name ends at its first NUL. */
function cString(b: Uint8Array, bad: () => never): string {
  const z = b.indexOf(0);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(z < 0 ? b : b.subarray(0, z));
  } catch {
    return bad();
  }
}

/** std::map<std::string> order (std::string operator<): bytewise, UTF-8. */
export function byteOrder(a: string, b: string): number {
  const x = utf8.encode(a),
    y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
const utf8 = new TextEncoder();
