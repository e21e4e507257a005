// A model's safetensors as one set of tensors: a single model.safetensors, or shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}).
// Browser-safe: files are opened through a caller-supplied function.
import { FileFormatError, LowbitError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import {
  readSafetensorsHeader,
  readSafetensorsF32,
  readSafetensorsBytes,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './reader.js';

export interface SafetensorsSet {
  /** every tensor, in shard order then header order */
  tensors: SafetensorsTensor[];
  has(name: string): boolean;
  info(name: string): SafetensorsTensor;
  readF32(name: string): Promise<Float32Array>;
  /** the tensor's bytes, or `length` of them from byte `offset` within the tensor */
  readBytes(name: string, offset?: number, length?: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type OpenFile = (fileName: string) => Promise<ByteSource>;

/** Names and V8's JSON messages come from the file: control characters would break the one-line message. */
const oneLine = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, ' ');

/** A shard name must be a plain file name next to the index: no paths that could leave the model directory. */
function checkShardName(index: string, name: unknown): string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    /[\/\\]/.test(name) ||
    name.includes('\0')
  ) {
    throw new FileFormatError(
      index,
      `weight_map names ${JSON.stringify(name)}, which is not a file name in the model directory`,
    );
  }
  return name;
}

export async function openSafetensorsSet(files: SafetensorsFile[]): Promise<SafetensorsSet> {
  const owner = new Map<string, SafetensorsFile>();
  const tensors: SafetensorsTensor[] = [];
  for (const f of files) {
    for (const t of f.tensors) {
      const prev = owner.get(t.name);
      if (prev) throw new FileFormatError(f.source.name, oneLine(`tensor '${t.name}' is also in ${prev.source.name}`));
      owner.set(t.name, f);
      tensors.push(t);
    }
  }
  const get = (name: string) => {
    const f = owner.get(name);
    if (!f) throw new FileFormatError(files[0]?.source.name ?? 'safetensors', oneLine(`no tensor '${name}'`));
    return f;
  };
  return {
    tensors,
    has: (name) => owner.has(name),
    info: (name) => get(name).byName.get(name)!,
    readF32: (name) => readSafetensorsF32(get(name), name),
    readBytes: async (name, offset, length) => {
      const f = get(name);
      if (offset === undefined) return readSafetensorsBytes(f, name);
      const t = f.byName.get(name)!;
      const n = length ?? t.end - t.begin - offset;
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(n) ||
        offset < 0 ||
        n < 0 ||
        offset + n > t.end - t.begin
      ) {
        throw new LowbitError(
          `tensor '${oneLine(name)}': bytes [${offset}, ${offset + n}) outside its ${t.end - t.begin}`,
        );
      }
      return f.source.read(8 + f.headerSize + t.begin + offset, n);
    },
    close: async () => {
      for (const f of files) await f.source.close();
    },
  };
}

/**
 * Opens the shards an index lists and checks the index against them: every tensor the index maps
 * must be in the shard it names.
 */
export async function openShardedSafetensors(
  indexName: string,
  indexText: string,
  open: OpenFile,
): Promise<SafetensorsSet> {
  let idx: unknown;
  try {
    idx = JSON.parse(indexText);
  } catch (e) {
    throw new FileFormatError(indexName, oneLine(`not valid JSON (${(e as Error).message})`));
  }
  const wm = (idx as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm))
    throw new FileFormatError(indexName, 'has no weight_map object');
  const map = wm as Record<string, unknown>;
  const shardNames = [...new Set(Object.values(map).map((n) => checkShardName(indexName, n)))].sort();
  const files: SafetensorsFile[] = [];
  try {
    for (const s of shardNames) {
      const src = await open(s);
      try {
        files.push(await readSafetensorsHeader(src));
      } catch (e) {
        await src.close();
        throw e;
      }
    }
    const byShard = new Map(files.map((f, i) => [shardNames[i]!, f]));
    for (const [tensor, shard] of Object.entries(map)) {
      if (!byShard.get(shard as string)!.byName.has(tensor))
        throw new FileFormatError(indexName, oneLine(`maps '${tensor}' to ${shard as string}, which does not hold it`));
    }
    return await openSafetensorsSet(files);
  } catch (e) {
    for (const f of files) await f.source.close();
    throw e;
  }
}
