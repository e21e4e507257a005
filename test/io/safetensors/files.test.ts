import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferSink } from '../../../src/io/source.js';
import { writeSafetensors } from '../../../src/io/safetensors/writer.js';
import { openSafetensorsDir } from '../../../src/node/safetensors-files.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-st-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function st(tensors: Record<string, number[]>): Promise<Uint8Array> {
  const sink = new BufferSink();
  await writeSafetensors(
    sink,
    Object.entries(tensors).map(([name, v]) => ({
      name,
      dtype: 'F32' as const,
      shape: [v.length],
      data: () => new Uint8Array(new Float32Array(v).buffer),
    })),
  );
  return sink.bytes();
}

test('a model directory: sharded with an index, single file, or a lone *.safetensors', async () => {
  const sharded = join(dir, 'sharded');
  mkdirSync(sharded);
  writeFileSync(join(sharded, 'model-00001-of-00002.safetensors'), await st({ a: [1, 2], b: [3] }));
  writeFileSync(join(sharded, 'model-00002-of-00002.safetensors'), await st({ c: [4, 5, 6] }));
  writeFileSync(
    join(sharded, 'model.safetensors.index.json'),
    JSON.stringify({
      metadata: { total_size: 24 },
      weight_map: {
        a: 'model-00001-of-00002.safetensors',
        b: 'model-00001-of-00002.safetensors',
        c: 'model-00002-of-00002.safetensors',
      },
    }),
  );
  const s = await openSafetensorsDir(sharded);
  try {
    assert.deepEqual(s.tensors.map((t) => t.name).sort(), ['a', 'b', 'c']);
    assert.deepEqual(await s.readF32('c'), new Float32Array([4, 5, 6]));
  } finally {
    await s.close();
  }

  const lone = join(dir, 'lone');
  mkdirSync(lone);
  writeFileSync(join(lone, 'weights.safetensors'), await st({ x: [7] }));
  const l = await openSafetensorsDir(lone);
  try {
    assert.deepEqual(await l.readF32('x'), new Float32Array([7]));
  } finally {
    await l.close();
  }

  const none = join(dir, 'none');
  mkdirSync(none);
  await assert.rejects(openSafetensorsDir(none), /no model\.safetensors or model\.safetensors\.index\.json/);
  writeFileSync(join(none, 'a.safetensors'), await st({ x: [1] }));
  writeFileSync(join(none, 'b.safetensors'), await st({ y: [1] }));
  await assert.rejects(openSafetensorsDir(none), /found 2 other/);
});
