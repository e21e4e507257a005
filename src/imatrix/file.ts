// Importance-matrix files as llama-imatrix writes them (save_imatrix / save_imatrix_legacy) and reads
// them for merging (common/imatrix-loader.cpp): raw sums and counts. Browser-safe.
import { FileFormatError, LowbitError } from '../errors.js';
import type { ByteSink, ByteSource } from '../io/source.js';
import { BufferSink } from '../io/source.js';
import { GGUF_MAGIC } from '../io/gguf/constants.js';
import { oneLine, readGgufHeader, readTensorBytes, show } from '../io/gguf/reader.js';
import { GgufWriter, ggmlNDims } from '../io/gguf/writer.js';
import { gv, type GgufValue } from '../io/gguf/metadata.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { byteOrder, type ImatrixCollector, type RawImatrix } from './collector.js';
import { f32s, imatrixTensorPairs, lround } from '../io/imatrix.js';

export interface ImatrixSaveInfo {
  /** this run's text (llama-imatrix's prompt_file); '' when only merging */
  dataset: string;
}

/** llama-imatrix's GGUF file: general.type, imatrix.datasets / chunk_count / chunk_size, then per entry (sorted) <name>.in_sum2 and <name>.counts. */
export async function writeImatrixGguf(sink: ByteSink, c: ImatrixCollector, info: ImatrixSaveInfo): Promise<void> {
  const datasets = [...c.datasets];
  if (info.dataset !== '') datasets.push(info.dataset);
  const metadata: [string, GgufValue][] = [
    ['general.type', gv.str('imatrix')],
    ['imatrix.datasets', { type: 'array', value: { itemType: 'string', items: datasets } } as GgufValue],
    ['imatrix.chunk_count', gv.u32(c.lastChunk)],
    ['imatrix.chunk_size', gv.u32(c.chunkSize)],
  ];
  const tensors: { name: string; dims: number[]; type: number; bytes: Uint8Array }[] = [];
  for (const name of c.sortedNames()) {
    const e = c.stats.get(name)!;
    const nval = e.values.length,
      nmat = e.counts.length;
    if (nval === 0 || nmat === 0) continue;
    const counts = new Float32Array(nmat);
    for (let j = 0; j < nmat; j++) counts[j] = e.counts[j]!;
    tensors.push({
      name: `${name}.in_sum2`,
      dims: ggmlNDims([nval / nmat, nmat]),
      type: GGML_TYPE.F32,
      bytes: le(e.values),
    });
    tensors.push({ name: `${name}.counts`, dims: ggmlNDims([1, nmat]), type: GGML_TYPE.F32, bytes: le(counts) });
  }
  const w = await GgufWriter.begin(sink, { metadata, tensors });
  for (const t of tensors) await w.writeTensorData(t.name, t.bytes);
  await w.finish();
}

export async function encodeImatrixGguf(c: ImatrixCollector, info: ImatrixSaveInfo): Promise<Uint8Array> {
  const sink = new BufferSink();
  await writeImatrixGguf(sink, c, info);
  return sink.bytes();
}

/**
 * The legacy .dat (save_imatrix_legacy): entries with data only, sorted; per entry the name, ncall =
 * ceil(max count / chunk size), nval and (sum / count) · ncall as float; then the chunk count and the
 * dataset (this run's text, else the last merged file's).
 */
export function encodeImatrixDat(c: ImatrixCollector, info: ImatrixSaveInfo): Uint8Array {
  const names = c.sortedNames().filter((n) => {
    const e = c.stats.get(n)!;
    return e.counts.length > 0 && e.counts.some((x) => x !== 0);
  });
  const parts: Uint8Array[] = [];
  const i32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    parts.push(b);
  };
  const enc = new TextEncoder();
  i32(names.length);
  const fround = Math.fround;
  for (const name of names) {
    const e = c.stats.get(name)!;
    const nb = enc.encode(name);
    i32(nb.length);
    parts.push(nb);
    const max = Math.max(...e.counts);
    const ncall = Math.trunc((max + (c.chunkSize - 1)) / c.chunkSize);
    i32(ncall);
    const nval = e.values.length,
      nmat = e.counts.length;
    i32(nval);
    const tmp = new Float32Array(nval);
    const per = nval / nmat;
    for (let i = 0; i < nval; i++) {
      let count = fround(e.counts[Math.floor(i / per)]!);
      let value = e.values[i]!;
      if (count === 0) {
        value = 1;
        count = 1;
      }
      tmp[i] = fround(fround(value / count) * fround(ncall));
    }
    parts.push(le(tmp));
  }
  i32(c.lastChunk);
  const ds = info.dataset !== '' ? info.dataset : (c.datasets[c.datasets.length - 1] ?? '');
  const db = enc.encode(ds);
  i32(db.length);
  parts.push(db);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads either format as stored (GGUF told apart by its magic), for merging and statistics. */
export async function readRawImatrix(src: ByteSource): Promise<RawImatrix> {
  if (src.size >= 4) {
    const head = await src.read(0, 4);
    if (new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === GGUF_MAGIC) return readRawGguf(src);
  }
  return readRawLegacy(src);
}

async function readRawGguf(src: ByteSource): Promise<RawImatrix> {
  const fail = (problem: string): never => {
    throw new FileFormatError(src.name, oneLine(problem));
  };
  const f = await readGgufHeader(src);
  if (f.tensors.length < 1) fail('no data in the imatrix file (no tensors)');
  const m = f.metadata;
  const ds = m.get('imatrix.datasets');
  const datasets = ds && ds.type === 'array' && ds.value.itemType === 'string' ? [...(ds.value.items as string[])] : [];
  const u32 = (k: string) => {
    const v = m.get(k);
    return v && v.type === 'u32' ? (v.value as number) : 0;
  };
  const pairs = imatrixTensorPairs(f.tensors);
  const entries = new Map<string, { sums: Float32Array; counts: number[] }>();
  for (const name of [...pairs.keys()].sort(byteOrder)) {
    const { sums, counts } = pairs.get(name)!;
    if (!sums || !counts) fail(`mismatched sums and counts for ${show(name)}`);
    if (sums!.type.id !== GGML_TYPE.F32 || counts!.type.id !== GGML_TYPE.F32)
      fail(`sums and counts for ${show(name)} must be f32`);
    const s = f32s(await readTensorBytes(src, f, sums!));
    const c = f32s(await readTensorBytes(src, f, counts!));
    if (c.length === 0 || s.length % c.length !== 0)
      fail(`${show(name)}: ${s.length} sums do not split into ${c.length} expert rows`);
    const cs: number[] = [];
    for (const x of c) {
      if (!Number.isFinite(x)) fail(`${show(name)}: a count is not finite`);
      cs.push(lround(x));
    }
    entries.set(name, { sums: s, counts: cs });
  }
  return {
    legacy: false,
    entries,
    datasets,
    chunkCount: u32('imatrix.chunk_count'),
    chunkSize: u32('imatrix.chunk_size'),
  };
}

async function readRawLegacy(src: ByteSource): Promise<RawImatrix> {
  const fail = (problem: string): never => {
    throw new FileFormatError(src.name, oneLine(problem));
  };
  const bytes = await src.read(0, src.size);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const i32 = (what: string): number => {
    if (o + 4 > bytes.length) fail(`not an imatrix file (ends inside ${what})`);
    const x = v.getInt32(o, true);
    o += 4;
    return x;
  };
  const n = i32('the entry count');
  if (n < 1 || n * 16 > bytes.length) fail(`not an imatrix file (entry count ${n})`);
  const entries = new Map<string, { sums: Float32Array; counts: number[] }>();
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < n; i++) {
    const len = i32(`entry ${i + 1}`);
    if (len < 0 || o + len > bytes.length) fail(`entry ${i + 1}: bad name length ${len}`);
    const nb = bytes.subarray(o, o + len);
    o += len;
    const z = nb.indexOf(0);
    let name: string;
    try {
      name = dec.decode(z < 0 ? nb : nb.subarray(0, z));
    } catch {
      return fail(`entry ${i + 1}: name is not UTF-8`);
    }
    const ncall = i32(`entry ${show(name)}`);
    const nval = i32(`entry ${show(name)}`);
    if (nval < 1 || o + nval * 4 > bytes.length) fail(`entry ${show(name)}: bad number of values ${nval}`);
    entries.set(name, { sums: f32s(bytes.subarray(o, o + nval * 4)), counts: [ncall] });
    o += nval * 4;
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (o + 4 <= bytes.length) {
    chunkCount = v.getInt32(o, true);
    o += 4;
    if (o + 4 <= bytes.length) {
      const len = v.getInt32(o, true);
      o += 4;
      if (len > 0 && o + len <= bytes.length) {
        const db = bytes.subarray(o, o + len);
        const z = db.indexOf(0);
        datasets.push(new TextDecoder().decode(z < 0 ? db : db.subarray(0, z)));
      }
    }
  }
  return { legacy: true, entries, datasets, chunkCount, chunkSize: 0 };
}

/**
 * Checks that two matrices describe the same model: the same tensors with the same sizes
 * (output.weight may be in one only: --process-output). Throws naming the first mismatch.
 */
export function checkSameModel(a: RawImatrix, aName: string, b: RawImatrix, bName: string): void {
  const names = [...new Set([...a.entries.keys(), ...b.entries.keys()])].sort(byteOrder);
  for (const n of names) {
    const x = a.entries.get(n),
      y = b.entries.get(n);
    if (n === 'output.weight' && (!x || !y)) continue;
    if (!x || !y)
      throw new LowbitError(
        `cannot merge ${aName} and ${bName}: ${n} is only in ${x ? aName : bName}: the matrices come from different models`,
      );
    if (x.sums.length !== y.sums.length)
      throw new LowbitError(
        `cannot merge ${aName} and ${bName}: ${n} has ${x.sums.length} values in one and ${y.sums.length} in the other: the matrices come from different models`,
      );
  }
}

function le(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) v.setFloat32(i * 4, a[i]!, true);
  return out;
}
