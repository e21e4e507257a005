// Fuzzing the safetensors reader with mutations of real files (one written here with several
// dtypes and metadata, and the committed HF stories260K checkpoint) and with structured hostile
// headers: every input parses (then every tensor reads with the right size) or fails with a
// one-line LowbitError, without reading outside the file or hanging. Shard indexes must never make
// the reader open a file outside the model folder.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { writeSafetensors, readSafetensorsHeader, openShardedSafetensors } from '../../src/io/safetensors/index.js';
import { FileFormatError } from '../../src/errors.js';
import { FuzzHarness, applyAll, byteMutations, cutPoints, INTERESTING_U64 } from './support/harness.js';

const h = new FuzzHarness();
after(() => h.close());

async function written(): Promise<Uint8Array> {
  const sink = new BufferSink();
  const f32 = Float32Array.from({ length: 12 }, (_, i) => i - 5.5);
  await writeSafetensors(
    sink,
    [
      { name: 'model.w', dtype: 'F32', shape: [3, 4], data: () => new Uint8Array(f32.buffer) },
      { name: 'model.h', dtype: 'F16', shape: [2, 2], data: () => new Uint8Array(8).fill(0x3c) },
      { name: 'model.b', dtype: 'BF16', shape: [3], data: () => new Uint8Array(6).fill(0x40) },
      { name: 'ids', dtype: 'I64', shape: [2], data: () => new Uint8Array(16).fill(1) },
      { name: 'mask', dtype: 'BOOL', shape: [5], data: () => new Uint8Array(5).fill(1) },
      { name: 'scalar', dtype: 'F64', shape: [], data: () => new Uint8Array(8) },
      { name: 'empty', dtype: 'F32', shape: [0, 7], data: () => new Uint8Array(0) },
      { name: 'packed', dtype: 'F4', shape: [6], data: () => new Uint8Array(3) },
    ],
    { metadata: { format: 'pt', note: 'ünïcödé' } },
  );
  return sink.bytes();
}

const headerEnd = (b: Uint8Array) => 8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));

async function fuzzFile(name: string, base: Uint8Array, runs: number, seed: number): Promise<void> {
  const good = await h.check({ parser: 'safetensors', name, bytes: base });
  assert.equal(good.kind, 'ok', `${name} itself parses: ${good.message}`);
  const f = await readSafetensorsHeader(new BufferSource(base, name));
  const end = headerEnd(base);
  // truncated anywhere in the header, at tensor boundaries, or one byte short: never a valid file
  for (const n of cutPoints(base.length, Math.min(end, 600), [end, ...f.tensors.map((t) => end + t.begin)])) {
    const r = await h.check({ parser: 'safetensors', name, bytes: base.slice(0, n) });
    assert.notEqual(r.kind, 'ok', `${name} cut to ${n} bytes parsed`);
  }
  await fc.assert(
    fc.asyncProperty(fc.array(byteMutations(0, end, base.length), { minLength: 1, maxLength: 4 }), async (ms) => {
      await h.check({ parser: 'safetensors', name, bytes: applyAll(base, ms) });
    }),
    { numRuns: runs, seed },
  );
}

test('fuzz: mutations and truncations of a written safetensors file', { timeout: 120_000 }, async () => {
  await fuzzFile('written.safetensors', await written(), 600, 0x5afe1);
});

test('fuzz: mutations of the HF stories260K checkpoint header', { timeout: 120_000 }, async () => {
  const b = new Uint8Array(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'hf-stories260K', 'model.safetensors')),
  );
  await fuzzFile('stories260K.safetensors', b, 250, 0x5afe2);
});

/** A file from header text and a data area. */
function file(header: string, data: number, declared?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test(
  'fuzz: structured hostile headers (sizes, offsets, shapes, dtypes, nesting, duplicates)',
  { timeout: 120_000 },
  async () => {
    const big = fc.oneof(
      fc.constantFrom(...INTERESTING_U64).map(String),
      fc.integer({ min: -3, max: 64 }).map(String),
      fc.constantFrom('1e308', '-0', '1.5', '9007199254740993', '"8"', 'null', 'true', '[]', '{}'),
    );
    const dtype = fc.oneof(
      fc.constantFrom('"F32"', '"F16"', '"BF16"', '"I8"', '"U64"', '"F4"', '"F6_E2M3"', '"BOOL"', '"C64"', '"F8_E4M3"'),
      fc.constantFrom('"f32"', '"Q4_0"', '""', '1', 'null', '["F32"]'),
    );
    const nested = fc.integer({ min: 1, max: 20000 }).map((d) => '['.repeat(d) + ']'.repeat(d));
    const tensor = fc
      .record({
        name: fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.string({ maxLength: 4, unit: 'binary' }),
          fc.constant('__metadata__'),
          fc.constant('a'),
        ),
        dtype,
        shape: fc.oneof(
          fc.array(big, { maxLength: 5 }).map((a) => `[${a.join(',')}]`),
          nested,
          fc.constant('"3"'),
        ),
        offsets: fc.oneof(
          fc.tuple(big, big).map(([a, b]) => `[${a},${b}]`),
          fc.array(big, { maxLength: 3 }).map((a) => `[${a.join(',')}]`),
          nested,
        ),
      })
      .map((t) => `${JSON.stringify(t.name)}:{"dtype":${t.dtype},"shape":${t.shape},"data_offsets":${t.offsets}}`);
    const meta = fc.oneof(
      fc.constant('"__metadata__":{"a":"b"}'),
      fc.constant('"__metadata__":{"a":1}'),
      fc.constant('"__metadata__":null'),
      fc.constant('"__metadata__":[]'),
      nested.map((n) => `"__metadata__":${n}`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ arbitrary: tensor, weight: 4 }, { arbitrary: meta, weight: 1 }), { maxLength: 5 }),
        fc.integer({ min: 0, max: 96 }),
        fc.option(fc.constantFrom(...INTERESTING_U64), { freq: 5 }),
        fc.constantFrom('', ' ', '   \n', 'x', '}'),
        async (entries, data, declared, tail) => {
          const text = `{${entries.join(',')}}${tail}`;
          await h.check({
            parser: 'safetensors',
            name: 'hostile.safetensors',
            bytes: file(text, data, declared ?? undefined),
          });
        },
      ),
      { numRuns: 700, seed: 0x5afe3 },
    );
    // the extremes directly: a header claiming the whole 64-bit range, a 100 MB + 1 header, deep nesting
    for (const b of [
      file('{}', 0, 0xffffffffffffffffn),
      file('{}', 0, 100_000_001n),
      file(`{"a":${'['.repeat(200000)}}`, 0),
      file(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
        8,
      ),
    ]) {
      const r = await h.check({ parser: 'safetensors', name: 'extreme.safetensors', bytes: b });
      assert.notEqual(r.kind, 'ok', new TextDecoder().decode(b.subarray(8, 80)));
    }
  },
);

test('fuzz: shard indexes never open a file outside the model folder', { timeout: 60_000 }, async () => {
  const shard = await written();
  const hostile = fc.constantFrom(
    '../model.safetensors',
    '/etc/passwd',
    '..',
    '.',
    '',
    'a/../../b',
    '..\\x',
    'C:\\x',
    'sub/model.safetensors',
    'x\u0000y',
    'model.safetensors',
  );
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(
        fc.constantFrom('model.w', 'model.h', 'nope', 'ids'),
        fc.oneof(
          hostile,
          fc.string({ maxLength: 8 }),
          fc.integer().map((n) => n as unknown as string),
        ),
      ),
      async (map) => {
        const opened: string[] = [];
        try {
          await openShardedSafetensors('index.json', JSON.stringify({ weight_map: map }), async (n) => {
            opened.push(n);
            if (n !== 'model.safetensors') throw new FileFormatError(n, 'not found');
            return new BufferSource(shard, n);
          });
        } catch (e) {
          if (!(e instanceof FileFormatError)) throw e;
          assert.ok(!/[\r\n]/.test(e.message));
        }
        for (const n of opened)
          assert.ok(!/[\\/]/.test(n) && n !== '..' && n !== '.' && !n.includes('\0'), `opened ${JSON.stringify(n)}`);
      },
    ),
    { numRuns: 400, seed: 0x5afe4 },
  );
});
