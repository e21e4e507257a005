import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferSource, BufferSink } from '../../../src/io/source.js';
import { FileFormatError } from '../../../src/errors.js';
import {
  readSafetensorsHeader,
  readSafetensorsF32,
  readSafetensorsBytes,
  SAFETENSORS_MAX_HEADER,
} from '../../../src/io/safetensors/reader.js';
import { writeSafetensors, safetensorsHeader } from '../../../src/io/safetensors/writer.js';
import { openShardedSafetensors } from '../../../src/io/safetensors/sharded.js';
import { fp32ToFp16, fp32ToBf16 } from '../../../src/formats/half.js';

/** A file from a header object (or raw header text) and a data area. */
function file(header: unknown, data: Uint8Array | number, pad = ''): Uint8Array {
  const json = new TextEncoder().encode((typeof header === 'string' ? header : JSON.stringify(header)) + pad);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(d, 8 + json.length);
  return out;
}
const parse = (b: Uint8Array) => readSafetensorsHeader(new BufferSource(b, 'm.safetensors'));
const rejects = (b: Uint8Array, re: RegExp) =>
  assert.rejects(parse(b), (e: unknown) => e instanceof FileFormatError && re.test((e as Error).message));

test('the format example from the reference docs parses', async () => {
  // {"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}} followed by 16 zero bytes
  const b = file('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', 16);
  assert.equal(b[0], 0x3c);
  const f = await parse(b);
  assert.deepEqual(
    f.tensors.map((t) => [t.name, t.dtype, t.shape, t.begin, t.end]),
    [['test', 'I32', [2, 2], 0, 16]],
  );
  assert.equal(f.metadata, null);
  assert.deepEqual(await readSafetensorsF32(f, 'test'), new Float32Array(4));
});

test('writer output matches the reference serializer layout and round-trips', async () => {
  const a = new Float32Array([1.5, -2, 3.25, 0]);
  const h = Uint16Array.from([0.5, -1, 65504], fp32ToFp16);
  const bf = Uint16Array.from([1, -3.5], fp32ToBf16);
  const sink = new BufferSink();
  await writeSafetensors(
    sink,
    [
      { name: 'b.h', dtype: 'F16', shape: [3], data: () => new Uint8Array(h.buffer) },
      { name: 'a.w', dtype: 'F32', shape: [2, 2], data: () => new Uint8Array(a.buffer) },
      { name: 'c', dtype: 'BF16', shape: [2], data: async () => new Uint8Array(bf.buffer) },
      { name: 'd', dtype: 'I8', shape: [1, 3], data: () => Int8Array.from([-1, 2, -128]) as unknown as Uint8Array },
    ],
    {
      metadata: new Map([
        ['format', 'pt'],
        ['2', 'two'],
      ]),
    },
  );
  const bytes = sink.bytes();
  // largest dtype first, then name; __metadata__ first; compact JSON padded with spaces to 8
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(
    text.trimEnd(),
    '{"__metadata__":{"format":"pt","2":"two"},"a.w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},' +
      '"c":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},"b.h":{"dtype":"F16","shape":[3],"data_offsets":[20,26]},' +
      '"d":{"dtype":"I8","shape":[1,3],"data_offsets":[26,29]}}',
  );
  assert.match(text, /^\{.*\} *$/);
  const f = await parse(bytes);
  // (JSON.parse lists integer-like keys first; the values are what matters)
  assert.deepEqual(
    new Map([...f.metadata!].sort()),
    new Map([
      ['2', 'two'],
      ['format', 'pt'],
    ]),
  );
  assert.deepEqual(await readSafetensorsF32(f, 'a.w'), a);
  assert.deepEqual(await readSafetensorsF32(f, 'b.h'), new Float32Array([0.5, -1, 65504]));
  assert.deepEqual(await readSafetensorsF32(f, 'c'), new Float32Array([1, -3.5]));
  assert.deepEqual(await readSafetensorsF32(f, 'd'), new Float32Array([-1, 2, -128]));
  assert.deepEqual(await readSafetensorsBytes(f, 'a.w'), new Uint8Array(a.buffer));
});

test('writer refuses inconsistent input', async () => {
  assert.throws(
    () =>
      safetensorsHeader([
        { name: 'x', dtype: 'F32', shape: [1], data: () => new Uint8Array(4) },
        { name: 'x', dtype: 'F32', shape: [1], data: () => new Uint8Array(4) },
      ]),
    /duplicate/,
  );
  await assert.rejects(
    writeSafetensors(new BufferSink(), [{ name: 'x', dtype: 'F32', shape: [2], data: () => new Uint8Array(4) }]),
    /produced 4 bytes, its shape needs 8/,
  );
});

test('zero-size tensors and empty files are valid', async () => {
  const f = await parse(file({ e: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] } }, 0));
  assert.equal(f.tensors[0]!.end, 0);
  assert.equal((await parse(file({}, 0))).tensors.length, 0);
});

test('truncated files and header sizes are rejected', async () => {
  await rejects(new Uint8Array(5), /too small/);
  const b = file({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
  await rejects(b.subarray(0, 20), /runs past the end/);
  await rejects(b.subarray(0, b.length - 1), /runs past the end of the file|data runs past/);
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, BigInt(SAFETENSORS_MAX_HEADER + 1), true);
  await rejects(big, /100 MB/);
  new DataView(big.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  await rejects(big, /100 MB/);
});

test('offsets must tile the data area exactly', async () => {
  const t = (s: number, e: number, shape = [1]) => ({ dtype: 'F32', shape, data_offsets: [s, e] });
  await rejects(file({ a: t(0, 4), b: t(2, 6) }, 8), /overlaps/);
  await rejects(file({ a: t(0, 4), b: t(8, 12) }, 12), /gap/);
  await rejects(file({ a: t(4, 8) }, 8), /gap/);
  await rejects(file({ a: t(0, 4), b: t(4, 8) }, 4), /past the end/);
  await rejects(file({ a: t(0, 4) }, 8), /must reach the end/);
  await rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4), /gap|ends before/);
  await rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /invalid data_offsets/);
  await rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] } }, 4), /invalid data_offsets/);
  // tensors listed out of offset order are fine, as in the reference
  const f = await parse(file({ b: t(4, 8), a: t(0, 4) }, 8));
  assert.deepEqual(
    f.tensors.map((x) => x.name),
    ['b', 'a'],
  );
});

test('shape × dtype must equal the byte length, without overflow', async () => {
  await rejects(file({ a: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, 4), /needs 6 bytes, offsets give 4/);
  await rejects(file({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, 4), /overflows/);
  await rejects(file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /invalid shape/);
  await rejects(file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /invalid shape/);
  await rejects(file({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, 2), /whole bytes/);
});

test('bad dtypes, bad JSON, non-UTF-8 and bad metadata are FileFormatErrors', async () => {
  await rejects(file({ a: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype "F33"/);
  await rejects(file({ a: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype/);
  await rejects(file('{"a":', 0), /not valid JSON/);
  await rejects(file('[1,2]', 0), /not a JSON object/);
  await rejects(file('null', 0), /not a JSON object/);
  const bad = file('{"\xff":1}', 0);
  bad.set([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d], 8);
  await rejects(bad.subarray(0, 16), /not valid UTF-8/);
  await rejects(file({ __metadata__: { a: 1 } }, 0), /not a string/);
  await rejects(file({ __metadata__: [] }, 0), /__metadata__ is not an object/);
  await rejects(file({ a: 5 }, 0), /is not an object/);
  // trailing spaces (the writer's padding) are fine
  assert.equal((await parse(file({}, 0, '      '))).tensors.length, 0);
});

test('shards: an index maps tensors to files, checked against the shards', async () => {
  const shard = (names: string[]) =>
    file(
      Object.fromEntries(names.map((n, i) => [n, { dtype: 'F32', shape: [1], data_offsets: [i * 4, i * 4 + 4] }])),
      new Uint8Array(new Float32Array(names.map((_, i) => i + 1)).buffer),
    );
  const files: Record<string, Uint8Array> = { 'm-1.safetensors': shard(['a', 'b']), 'm-2.safetensors': shard(['c']) };
  const open = async (n: string) => {
    const b = files[n];
    if (!b) throw new Error(`no ${n}`);
    return new BufferSource(b, n);
  };
  const idx = (wm: Record<string, string>) => JSON.stringify({ metadata: { total_size: 12 }, weight_map: wm });
  const set = await openShardedSafetensors(
    'index.json',
    idx({ a: 'm-1.safetensors', b: 'm-1.safetensors', c: 'm-2.safetensors' }),
    open,
  );
  assert.deepEqual(
    set.tensors.map((t) => t.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(await set.readF32('c'), new Float32Array([1]));
  assert.deepEqual(await set.readF32('b'), new Float32Array([2]));
  await assert.rejects(openShardedSafetensors('index.json', idx({ a: 'm-2.safetensors' }), open), /does not hold it/);
  await assert.rejects(openShardedSafetensors('index.json', idx({ a: '../m-1.safetensors' }), open), /not a file name/);
  await assert.rejects(openShardedSafetensors('index.json', idx({ a: '/etc/passwd' }), open), /not a file name/);
  await assert.rejects(openShardedSafetensors('index.json', '{', open), /not valid JSON/);
  await assert.rejects(openShardedSafetensors('index.json', '{"metadata":{}}', open), /no weight_map/);
  files['m-2.safetensors'] = shard(['c', 'a']);
  await assert.rejects(
    openShardedSafetensors('index.json', idx({ a: 'm-1.safetensors', c: 'm-2.safetensors' }), open),
    /also in/,
  );
});
