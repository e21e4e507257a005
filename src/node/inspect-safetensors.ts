// `lowbit inspect` for safetensors: one file (header, `__metadata__`, tensors), or a sharded
// checkpoint (a directory, or its model.safetensors.index.json) as one model with the index's
// metadata and each tensor's shard (one file: src/analysis/inspect.ts).
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { FileFormatError, LowbitError } from '../errors.js';
import { openShardedSafetensors } from '../io/safetensors/sharded.js';
import { FileSource } from './file-io.js';
import { textOf, type InspectReport } from '../analysis/inspect.js';

const oneLine = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, ' ');

/** The index of a sharded checkpoint named by `path` (a directory or the index itself), or undefined. */
export async function shardIndexFor(path: string): Promise<string | undefined> {
  if (path.endsWith('.index.json')) return path;
  const st = await stat(path).catch(() => null);
  if (!st?.isDirectory()) return undefined;
  const index = join(path, 'model.safetensors.index.json');
  if (existsSync(index)) return index;
  throw new LowbitError(
    `${path}: a directory; inspect needs a model file, or model.safetensors.index.json in the directory`,
  );
}

/** A sharded checkpoint as one report: tensors of every shard, the index's metadata. */
export async function inspectShardedSafetensors(indexPath: string): Promise<InspectReport> {
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (e) {
    throw new LowbitError(`${indexPath}: ${(e as Error).message}`);
  }
  const dir = dirname(indexPath);
  const set = await openShardedSafetensors(indexPath, text, (name) => FileSource.open(join(dir, name)));
  try {
    const idx = JSON.parse(text) as { metadata?: unknown; weight_map: Record<string, string> };
    const shards = new Map<string, number>();
    let size = 0;
    for (const s of [...new Set(Object.values(idx.weight_map))].sort()) {
      const st = await stat(join(dir, s));
      shards.set(s, st.size);
      size += st.size;
    }
    const meta =
      idx.metadata !== null && typeof idx.metadata === 'object' && !Array.isArray(idx.metadata)
        ? Object.entries(idx.metadata as Record<string, unknown>)
        : [];
    const onlyInShards = set.tensors.filter((t) => !(t.name in idx.weight_map)).map((t) => t.name);
    if (onlyInShards.length)
      throw new FileFormatError(
        indexPath,
        oneLine(`weight_map does not list '${onlyInShards[0]}', which a shard holds`),
      );
    return {
      format: `safetensors, ${shards.size} shards`,
      file: indexPath,
      fileSize: size,
      facts: [...shards].map(([s, n]) => [`shard ${basename(s)}`, `${n} bytes`] as [string, string]),
      metadataText: meta.map(([k, v]) => [k, typeof v === 'string' ? textOf(v) : JSON.stringify(v)]),
      metadataJson: Object.fromEntries(meta),
      tensors: set.tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        type: t.dtype,
        bytes: t.end - t.begin,
        elements: t.shape.reduce((a, b) => a * b, 1),
        file: idx.weight_map[t.name]!,
      })),
    };
  } finally {
    await set.close();
  }
}
