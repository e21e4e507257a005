// Compares a GGUF lowbit wrote with a golden one llama.cpp's convert_hf_to_gguf.py wrote: metadata
// keys in the same order with the same types and values, tensors in the same order with the same
// names, shapes, ggml types and bytes. Provenance keys (the converter derives them from the
// directory name) are left out.
import assert from 'node:assert/strict';
import { FileSource } from '../../../src/node/file-io.js';
import { readGgufHeader, readTensorBytes } from '../../../src/io/gguf/reader.js';
import type { GgufValue } from '../../../src/io/gguf/metadata.js';

/** keys convert_hf_to_gguf.py fills from the directory name / model card, not from the model */
export const PROVENANCE_KEYS = [
  'general.name',
  'general.basename',
  'general.size_label',
  'general.finetune',
  'general.version',
];

const show = (v: GgufValue) =>
  JSON.stringify(v, (_k, x) =>
    ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<number>) : typeof x === 'bigint' ? String(x) : x,
  );

export async function assertSameGguf(gotPath: string, goldenPath: string): Promise<void> {
  const a = await FileSource.open(gotPath),
    b = await FileSource.open(goldenPath);
  try {
    const ga = await readGgufHeader(a),
      gb = await readGgufHeader(b);
    const keys = (m: Map<string, GgufValue>) => [...m.keys()].filter((k) => !PROVENANCE_KEYS.includes(k));
    assert.deepEqual(keys(ga.metadata), keys(gb.metadata), 'metadata keys (in order)');
    for (const k of keys(gb.metadata)) {
      const x = show(ga.metadata.get(k)!),
        y = show(gb.metadata.get(k)!);
      if (x !== y) assert.fail(`metadata ${k}: ${x.slice(0, 300)} != golden ${y.slice(0, 300)}`);
    }
    const desc = (g: typeof ga) => g.tensors.map((t) => `${t.name} [${t.dims.join(',')}] ${t.type.ggmlName}`);
    assert.deepEqual(desc(ga), desc(gb), 'tensors (names, shapes, types, order)');
    for (const t of gb.tensors) {
      const x = Buffer.from(await readTensorBytes(a, ga, t.name)),
        y = Buffer.from(await readTensorBytes(b, gb, t.name));
      assert.ok(x.equals(y), `tensor ${t.name}: bytes differ`);
    }
  } finally {
    await a.close();
    await b.close();
  }
}
