import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf as hfGguf } from '@huggingface/gguf';
import { BufferSink, BufferSource } from '../../../src/io/source.js';
import type { GgufMetadata } from '../../../src/io/gguf/metadata.js';
import {
  GgufWriter,
  readGgufHeader,
  readTensorBytes,
  readTensorRows,
  gv,
  metaString,
  metaInt,
  metaStrings,
} from '../../../src/io/gguf/index.js';
import { FileFormatError, LowbitError } from '../../../src/errors.js';
import { GGML_TYPE } from '../../../src/formats/ggml-types.js';
import { sampleMetadata, SAMPLE_TENSORS, tensorBytes, writeSample } from './sample.js';
import { ggmlAccepts, ggmlDataOffset, ggmlRewriteHeader } from './ggml-gguf.js';

async function rewrite(bytes: Uint8Array): Promise<Uint8Array> {
  const src = new BufferSource(bytes, 'in.gguf');
  const f = await readGgufHeader(src);
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: f.metadata,
    version: f.version as 2 | 3,
    tensors: f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, byteSize: t.byteSize })),
  });
  for (const t of f.tensors) await w.writeTensorData(t.name, await readTensorBytes(src, f, t));
  await w.finish();
  return sink.bytes();
}

test('writes every metadata type and reads it back with the exact types and values', async () => {
  const bytes = await writeSample({ nested: true });
  const f = await readGgufHeader(new BufferSource(bytes, 'sample.gguf'));
  assert.equal(f.version, 3);
  assert.equal(f.alignment, 32);
  assert.deepEqual([...f.metadata.entries()], [...sampleMetadata({ nested: true }).entries()]);
  assert.equal(metaString(f.metadata, 'general.name'), 'tiny ünïcödé 🦙');
  assert.equal(metaInt(f.metadata, 't.u32'), 0xffffffff);
  assert.deepEqual(metaStrings(f.metadata, 'tokenizer.ggml.tokens'), ['<unk>', '<s>', '</s>', 'hello', 'wörld', '']);
  assert.throws(() => metaString(f.metadata, 't.u32'), LowbitError);
});

test('tensor infos: dims, types, sizes, aligned absolute offsets, data', async () => {
  const bytes = await writeSample();
  const src = new BufferSource(bytes, 'sample.gguf');
  const f = await readGgufHeader(src);
  assert.deepEqual(
    f.tensors.map((t) => t.name),
    SAMPLE_TENSORS.map((t) => t.name),
  );
  assert.equal(f.dataOffset % 32, 0);
  const sizes = [64 * 6 * 2, 64 * 4, 2 * 3 * 34, 2 * 144, 0, 4];
  for (const [i, t] of f.tensors.entries()) {
    assert.deepEqual(t.dims, SAMPLE_TENSORS[i]!.dims);
    assert.equal(t.type.id, SAMPLE_TENSORS[i]!.type);
    assert.equal(t.byteSize, sizes[i]);
    assert.equal(t.offset % 32, 0);
    assert.equal(t.offset, f.dataOffset + t.relOffset);
    assert.deepEqual(await readTensorBytes(src, f, t), tensorBytes(i + 1, t.byteSize));
  }
  // the last tensor is padded too, as ggml writes it
  const last = f.tensors[f.tensors.length - 1]!;
  assert.equal(bytes.length, last.offset + 32);
  const up = f.tensors[2]!;
  assert.equal(up.rowBytes, 68);
  assert.equal(up.nRows, 3);
  assert.deepEqual(await readTensorRows(src, f, up.name, 1, 2), tensorBytes(3, up.byteSize).subarray(68, 204));
  await assert.rejects(readTensorRows(src, f, up, 2, 2), FileFormatError);
});

test('read then write round-trips byte-identically (v3, v2, custom alignment, nested arrays)', async () => {
  for (const opts of [{}, { version: 2 as const }, { alignment: 64 }, { alignment: 1 }, { nested: true }]) {
    const bytes = await writeSample(opts);
    assert.deepEqual(await rewrite(bytes), bytes, JSON.stringify(opts));
  }
});

test('custom general.alignment is honoured', async () => {
  const bytes = await writeSample({ alignment: 64 });
  const f = await readGgufHeader(new BufferSource(bytes));
  assert.equal(f.alignment, 64);
  for (const t of f.tensors) assert.equal(t.offset % 64, 0);
});

test('@huggingface/gguf parses what the writer writes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-gguf-'));
  try {
    const bytes = await writeSample();
    const p = join(dir, 'sample.gguf');
    writeFileSync(p, bytes);
    const r = await hfGguf(p, { allowLocalFile: true });
    const ours = await readGgufHeader(new BufferSource(bytes));
    assert.equal(r.metadata.version, 3);
    const meta = r.metadata as Record<string, unknown>;
    assert.equal(meta['general.name'], 'tiny ünïcödé 🦙');
    assert.equal(meta['t.u64'], 0xffffffffffffffffn);
    assert.deepEqual(meta['tokenizer.ggml.tokens'], ['<unk>', '<s>', '</s>', 'hello', 'wörld', '']);
    assert.equal(r.tensorInfos.length, SAMPLE_TENSORS.length);
    for (const [i, t] of r.tensorInfos.entries()) {
      assert.equal(t.name, SAMPLE_TENSORS[i]!.name);
      assert.deepEqual(t.shape.map(Number), SAMPLE_TENSORS[i]!.dims);
      assert.equal(t.dtype, SAMPLE_TENSORS[i]!.type);
      assert.equal(Number(t.offset), ours.tensors[i]!.relOffset);
    }
    assert.equal(r.tensorDataOffset, BigInt(ours.dataOffset));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer checks what the caller streams', async () => {
  const mk = () =>
    GgufWriter.begin(new BufferSink(), {
      metadata: [['general.architecture', gv.str('x')]],
      tensors: [
        { name: 'a', dims: [4], type: GGML_TYPE.F32 },
        { name: 'b', dims: [2], type: GGML_TYPE.F16 },
      ],
    });
  let w = await mk();
  await assert.rejects(w.writeTensorData('b', new Uint8Array(4)), /out of order/);
  w = await mk();
  await assert.rejects(w.writeTensorData('a', new Uint8Array(17)), /declared size is 16/);
  w = await mk();
  await w.writeTensorData('a', new Uint8Array(16));
  await assert.rejects(w.finish(), /'b' has 0 of 4 bytes/);
  await assert.rejects(
    GgufWriter.begin(new BufferSink(), { metadata: [], tensors: [{ name: 'q', dims: [33], type: GGML_TYPE.Q4_0 }] }),
    /block size 32/,
  );
  await assert.rejects(
    GgufWriter.begin(new BufferSink(), {
      metadata: [],
      tensors: [{ name: 'q', dims: [32], type: GGML_TYPE.Q4_0, byteSize: 20 }],
    }),
    /declared 20 bytes/,
  );
  await assert.rejects(
    GgufWriter.begin(new BufferSink(), { metadata: [['general.alignment', gv.u32(24)]], tensors: [] }),
    /power of 2/,
  );
  await assert.rejects(GgufWriter.begin(new BufferSink(), { metadata: [['k', gv.u8(256)]], tensors: [] }), /not a u8/);
  await assert.rejects(
    GgufWriter.begin(new BufferSink(), { metadata: [], tensors: [{ name: 'x'.repeat(64), dims: [1], type: 0 }] }),
    /longer than 63/,
  );
});

test("ggml's own gguf parser accepts our files and writes the identical header back", async () => {
  for (const opts of [{}, { alignment: 1 }, { alignment: 64 }, { version: 2 as const }]) {
    const bytes = await writeSample(opts);
    const f = await readGgufHeader(new BufferSource(bytes));
    assert.equal(ggmlAccepts(bytes), true, JSON.stringify(opts));
    assert.equal(ggmlDataOffset(bytes), f.dataOffset);
    const header = ggmlRewriteHeader(bytes);
    assert.equal(header.length, f.dataOffset);
    assert.deepEqual(header, bytes.subarray(0, f.dataOffset), JSON.stringify(opts));
  }
  // ggml has no nested arrays; GGUF allows them and so do we
  assert.equal(ggmlAccepts(await writeSample({ nested: true })), false);
});

test('string arrays round-trip through the buffered fast path: ASCII, multi-byte, empty, long; bad UTF-8 named by index', async () => {
  const head = ['a', 'héllo', '日本語', '', 'x'.repeat(40), '😀'];
  // 200 KB of strings: some straddle the reader's 64 KiB windows and take the awaited path
  const strs = [...head, ...Array.from({ length: 20000 }, (_, i) => `${head[i % head.length]}${i}`)];
  const sink = new BufferSink();
  await GgufWriter.begin(sink, {
    metadata: new Map([['k', { type: 'array', value: { itemType: 'string', items: strs } }]]) as GgufMetadata,
    tensors: [],
  });
  const bytes = sink.bytes();
  const f = await readGgufHeader(new BufferSource(bytes, 'm'));
  assert.deepEqual((f.metadata.get('k')!.value as { items: string[] }).items, strs);
  const i = Buffer.from(bytes).indexOf(Buffer.from('héllo'));
  bytes[i + 1] = 0xff;
  await assert.rejects(readGgufHeader(new BufferSource(bytes, 'm')), /'k'\[1\] is not valid UTF-8/);
});

test('writeTensors lays out several tensors (slabs, empty ones, padding) exactly as writeTensorData calls do, in one writev', async () => {
  class VecSink extends BufferSink {
    calls = 0;
    async writev(parts: readonly Uint8Array[]): Promise<void> {
      this.calls++;
      for (const p of parts) await this.write(p);
    }
  }
  const tensors = [
    { name: 'a', dims: [5], type: GGML_TYPE.F32 },
    { name: 'e', dims: [0], type: GGML_TYPE.F32 },
    { name: 'b', dims: [32, 3], type: GGML_TYPE.Q4_0 },
    { name: 'c', dims: [3], type: GGML_TYPE.F16 },
  ];
  const data = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
  const a = data(20, 1),
    b = data(54, 2),
    c = data(6, 3);
  const one = new BufferSink();
  let w = await GgufWriter.begin(one, { metadata: [['general.alignment', gv.u32(64)]], tensors });
  for (const [n, bytes] of [
    ['a', a],
    ['b', b.subarray(0, 18)],
    ['b', b.subarray(18)],
    ['c', c],
  ] as const)
    await w.writeTensorData(n, bytes);
  await w.finish();
  const vec = new VecSink();
  w = await GgufWriter.begin(vec, { metadata: [['general.alignment', gv.u32(64)]], tensors });
  await w.writeTensors([
    { name: 'a', bytes: a },
    { name: 'e', bytes: new Uint8Array(0) },
    { name: 'b', bytes: b.subarray(0, 18) },
  ]);
  await w.writeTensors([
    { name: 'b', bytes: b.subarray(18) },
    { name: 'c', bytes: c },
  ]);
  await w.finish();
  assert.deepEqual(vec.bytes(), one.bytes());
  assert.equal(vec.calls, 2);
  // checked before anything is written: a bad list leaves the writer where it was
  w = await GgufWriter.begin(new VecSink(), { metadata: [], tensors });
  await assert.rejects(
    w.writeTensors([
      { name: 'a', bytes: a },
      { name: 'c', bytes: c },
    ]),
    /'c' written out of order: 'b' has 0 of 54 bytes/,
  );
  await assert.rejects(w.writeTensors([{ name: 'a', bytes: data(24, 0) }]), /declared size is 20/);
  await w.writeTensors([{ name: 'a', bytes: a }]);
});
