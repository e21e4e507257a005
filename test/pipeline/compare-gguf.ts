// Compares two GGUF files the way the quantize proof needs: metadata (keys, order, types, values),
// tensor infos (order, type, dims, offsets) and each tensor's bytes, naming the first difference.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BufferSource } from '../../src/io/source.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';

export async function assertSameGguf(actualPath: string, expectedPath: string, what: string): Promise<void> {
  const a = new Uint8Array(readFileSync(actualPath));
  const e = new Uint8Array(readFileSync(expectedPath));
  const fa = await readGgufHeader(new BufferSource(a, actualPath));
  const fe = await readGgufHeader(new BufferSource(e, expectedPath));
  assert.deepEqual([...fa.metadata.keys()], [...fe.metadata.keys()], `${what}: metadata keys`);
  for (const [k, v] of fe.metadata) assert.deepEqual(fa.metadata.get(k), v, `${what}: metadata ${k}`);
  const sig = (f: typeof fa) =>
    f.tensors.map((t) => `${t.name} ${t.type.ggmlName} [${t.dims.join(',')}] @${t.relOffset}`);
  assert.deepEqual(sig(fa), sig(fe), `${what}: tensor infos`);
  for (let i = 0; i < fe.tensors.length; i++) {
    const ta = fa.tensors[i]!,
      te = fe.tensors[i]!;
    const ba = a.subarray(ta.offset, ta.offset + ta.byteSize),
      be = e.subarray(te.offset, te.offset + te.byteSize);
    if (Buffer.compare(ba, be) !== 0) {
      let j = 0;
      while (ba[j] === be[j]) j++;
      assert.fail(`${what}: tensor ${te.name} (${te.type.ggmlName}) differs first at byte ${j} of ${te.byteSize}`);
    }
  }
  assert.equal(a.length, e.length, `${what}: file size`);
  assert.ok(Buffer.compare(a, e) === 0, `${what}: files differ outside tensor data (padding?)`);
}
