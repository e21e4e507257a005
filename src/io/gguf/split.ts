// Split GGUF models, as llama.cpp's gguf-split writes and its loader reads them: shards named
// <prefix>-00001-of-0000N.gguf …; the first holds all metadata, each holds split.no (its index),
// split.count and split.tensors.count (the first's is the model's tensor count) and its own
// tensors. A split model is read as one: the shards side by side in one byte space, the first
// shard's metadata, every shard's tensors (their offsets moved into that space).
import { FileFormatError } from '../../errors.js';
import { checkRange, type ByteSource } from '../source.js';
import { metaInt } from './metadata.js';
import type { GgufFile } from './reader.js';

export const SPLIT_NO = 'split.no';
export const SPLIT_COUNT = 'split.count';
export const SPLIT_TENSORS_COUNT = 'split.tensors.count';

/** The number of shards a GGUF says its model has (0 or 1: not split). */
export function splitCount(file: GgufFile): number {
  return metaInt(file.metadata, SPLIT_COUNT) ?? 0;
}

const pad5 = (n: number) => String(n).padStart(5, '0');

/** llama_split_path: the path of shard `index` (0-based) of `count`. */
export function splitPath(prefix: string, index: number, count: number): string {
  return `${prefix}-${pad5(index + 1)}-of-${pad5(count)}.gguf`;
}

/**
 * Every shard's path, from the first shard's (llama_split_prefix): the model must be opened
 * through its first shard, whose name ends in -00001-of-NNNNN.gguf.
 */
export function splitPaths(first: GgufFile, path: string): string[] {
  const count = splitCount(first);
  const no = metaInt(first.metadata, SPLIT_NO) ?? 0;
  if (no !== 0)
    throw new FileFormatError(
      path,
      `is shard ${no + 1} of a split model; open its first shard (…-00001-of-${pad5(count)}.gguf)`,
    );
  const postfix = `-${pad5(1)}-of-${pad5(count)}.gguf`;
  if (path.length <= postfix.length || !path.endsWith(postfix))
    throw new FileFormatError(
      path,
      `is the first of ${count} shards but is not named <prefix>${postfix}, so the others cannot be found`,
    );
  const prefix = path.slice(0, path.length - postfix.length);
  return Array.from({ length: count }, (_, i) => splitPath(prefix, i, count));
}

/** One byte space over several sources, each at its base; a read never spans two of them. */
export class ConcatSource implements ByteSource {
  readonly size: number;
  private readonly bases: number[] = [];

  constructor(
    readonly name: string,
    readonly parts: readonly ByteSource[],
  ) {
    let base = 0;
    for (const p of parts) {
      this.bases.push(base);
      base += p.size;
    }
    this.size = base;
  }

  /** Where part i starts in the joint byte space. */
  base(i: number): number {
    return this.bases[i]!;
  }

  private locate(
    offset: number,
    length: number,
  ): { part: ByteSource & { readInto?(o: number, d: Uint8Array): Promise<void> }; at: number } {
    checkRange(this, offset, length);
    let i = this.parts.length - 1;
    while (i > 0 && this.bases[i]! > offset) i--;
    const part = this.parts[i]!;
    const at = offset - this.bases[i]!;
    if (at + length > part.size)
      throw new FileFormatError(this.name, `read of ${length} bytes at ${offset} crosses the end of ${part.name}`);
    return { part, at };
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const { part, at } = this.locate(offset, length);
    return part.read(at, length);
  }

  async readInto(offset: number, dst: Uint8Array): Promise<void> {
    const { part, at } = this.locate(offset, dst.length);
    if (part.readInto) return part.readInto(at, dst);
    dst.set(await part.read(at, dst.length));
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}

/**
 * The shards' headers as one model, for a ConcatSource over the shards in order (the loader's
 * checks: each shard's split.no, no tensor twice, the first shard's split.tensors.count).
 */
export function mergeSplitHeaders(shards: readonly GgufFile[], joint: ConcatSource): GgufFile {
  const first = shards[0]!;
  const seen = new Set<string>();
  const tensors = shards.flatMap((s, i) => {
    const no = metaInt(s.metadata, SPLIT_NO);
    if (no === undefined) throw new FileFormatError(s.name, `has no ${SPLIT_NO}: not a shard of ${first.name}`);
    if (no !== i)
      throw new FileFormatError(s.name, `says it is shard ${no + 1}, expected shard ${i + 1} of ${shards.length}`);
    return s.tensors.map((t) => {
      if (seen.has(t.name)) throw new FileFormatError(s.name, `tensor ${t.name} is also in another shard`);
      seen.add(t.name);
      return { ...t, offset: t.offset + joint.base(i), shard: i };
    });
  });
  const expected = metaInt(first.metadata, SPLIT_TENSORS_COUNT);
  if (expected !== undefined && expected !== tensors.length) {
    throw new FileFormatError(
      first.name,
      `split model of ${expected} tensors, but its ${shards.length} shards hold ${tensors.length}`,
    );
  }
  return { ...first, fileSize: joint.size, tensors };
}
