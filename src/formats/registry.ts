// The table of block formats lowbit can quantize to and from. Adding a format is adding one entry.
import type { BlockCodec } from './codec.js';
import { f32, f16, bf16 } from './ggml/float.js';

const CODECS: readonly BlockCodec[] = [f32, f16, bf16];

const byName = new Map(CODECS.map((c) => [c.name.toUpperCase(), c]));
const byId = new Map(CODECS.map((c) => [c.type.id, c]));

export function codecs(): readonly BlockCodec[] {
  return CODECS;
}

/** Case-insensitive lookup by llama.cpp name ('q4_k' → Q4_K). */
export function codecByName(name: string): BlockCodec | undefined {
  return byName.get(name.toUpperCase());
}

export function codecByTypeId(id: number): BlockCodec | undefined {
  return byId.get(id);
}
