// Fuzzing the GGUF reader with mutations of real files. For every input the reader must either
// parse (and then every tensor must be readable) or throw FileFormatError — never another
// exception, never a hang — and it must never ask the source for bytes the file does not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BufferSink, BufferSource, type ByteSource } from '../../src/io/source.js';
import { readGgufHeader, readTensorBytes } from '../../src/io/gguf/index.js';
import { readImatrix } from '../../src/io/imatrix.js';
import { FileFormatError } from '../../src/errors.js';
import { writeSample } from '../io/gguf/sample.js';
import { Raw } from '../io/gguf/raw.js';

const CORPUS = join(import.meta.dirname, '..', 'fixtures', 'gguf-corpus');

/** A source that fails the test (not with FileFormatError) when asked for bytes past the end. */
class CountingSource implements ByteSource {
  reads = 0;
  bytesRead = 0;
  overreach: string | null = null;
  private inner: BufferSource;
  constructor(
    bytes: Uint8Array,
    readonly name = 'fuzz.gguf',
  ) {
    this.inner = new BufferSource(bytes, name);
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      this.overreach ??= `read(${offset}, ${length}) on a ${this.size}-byte file`;
    }
    this.bytesRead += length;
    return this.inner.read(offset, length);
  }
  async close(): Promise<void> {}
}

/** Parses; returns 'ok' or the FileFormatError message; anything else fails the property. */
async function parseOrFormatError(bytes: Uint8Array): Promise<string> {
  const src = new CountingSource(bytes);
  let outcome = 'ok';
  try {
    const f = await readGgufHeader(src);
    for (const t of f.tensors) await readTensorBytes(src, f, t);
  } catch (e) {
    if (!(e instanceof FileFormatError))
      throw new Error(`non-FileFormatError on a ${bytes.length}-byte input: ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    outcome = e.message;
  }
  assert.equal(src.overreach, null, `read past the end: ${src.overreach}`);
  // the header is read in bounded windows: never more than the file (plus the tensors' own bytes)
  assert.ok(src.bytesRead <= 2 * bytes.length + 65536, `read ${src.bytesRead} bytes of a ${bytes.length}-byte file`);
  return outcome;
}

async function stories(): Promise<Uint8Array | null> {
  // the GGUF converted from fixtures/stories260K.bin by the llama2c converter, when it is there
  const bin = join(import.meta.dirname, '..', '..', 'fixtures', 'stories260K.bin');
  if (!existsSync(bin)) return null;
  try {
    const { readLlama2cCheckpoint } = await import('../../src/io/llama2c.js');
    const { byteVocab } = await import('../../src/convert/llama2c-vocab.js');
    const { convertLlama2c } = await import('../../src/convert/llama2c.js');
    const { writeConvertedGguf } = await import('../../src/convert/write-gguf.js');
    const src = new BufferSource(new Uint8Array(readFileSync(bin)), 'stories260K.bin');
    const ckpt = await readLlama2cCheckpoint(src);
    const model = convertLlama2c(src, ckpt, byteVocab(ckpt.config.vocabSize));
    const sink = new BufferSink();
    await writeConvertedGguf(sink, model, 'F32');
    return sink.bytes();
  } catch (e) {
    throw new Error(`could not build the stories260K GGUF: ${(e as Error).message}`);
  }
}

const INTERESTING_U64 = [
  0n,
  1n,
  2n,
  3n,
  4n,
  31n,
  32n,
  33n,
  63n,
  64n,
  0x7fn,
  0xffn,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  1n << 53n,
  (1n << 53n) + 1n,
  1n << 62n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
];

function mutations(base: Uint8Array, headerSize: number) {
  const pos = fc.integer({ min: 0, max: Math.max(0, headerSize - 1) });
  const flip = fc.tuple(pos, fc.integer({ min: 0, max: 7 })).map(([p, b]) => (x: Uint8Array) => {
    x[p]! ^= 1 << b;
    return x;
  });
  const setU64 = fc
    .tuple(
      pos,
      fc.oneof(
        fc.constantFrom(...INTERESTING_U64),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.constant(BigInt(base.length)),
      ),
    )
    .map(([p, v]) => (x: Uint8Array) => {
      const n = Math.min(8, x.length - p);
      for (let i = 0; i < n; i++) x[p + i] = Number((v >> BigInt(8 * i)) & 0xffn);
      return x;
    });
  const setU32 = fc
    .tuple(pos, fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 0xffffffff })))
    .map(([p, v]) => (x: Uint8Array) => {
      for (let i = 0; i < Math.min(4, x.length - p); i++) x[p + i] = (v >>> (8 * i)) & 0xff;
      return x;
    });
  const badUtf8 = fc.tuple(pos, fc.constantFrom(0xff, 0xc0, 0x80, 0xed, 0xf8)).map(([p, v]) => (x: Uint8Array) => {
    x[p] = v;
    return x;
  });
  return fc.array(fc.oneof(flip, setU64, setU32, badUtf8), { minLength: 1, maxLength: 4 });
}

async function fuzzBase(name: string, base: Uint8Array, runs: number): Promise<void> {
  const f = await readGgufHeader(new BufferSource(base, name));
  // truncation at every header byte (sampled past the first KiB of big headers) and at every tensor boundary
  const cuts = new Set<number>();
  const stride = Math.max(1, Math.ceil((f.dataOffset - 512) / 150));
  for (let i = 0; i <= f.dataOffset; i += i < 512 ? 1 : stride) cuts.add(i);
  cuts.add(f.dataOffset);
  for (const t of f.tensors)
    for (const d of [-1, 0, 1]) {
      cuts.add(t.offset + d);
      cuts.add(t.offset + t.byteSize + d);
    }
  // cutting only the padding after the last tensor leaves a valid file
  const needed = Math.max(f.dataOffset, ...f.tensors.map((t) => t.offset + t.byteSize));
  for (const n of cuts)
    if (n >= 0 && n < base.length) {
      const r = await parseOrFormatError(base.slice(0, n));
      if (n < needed) assert.notEqual(r, 'ok', `${name} truncated to ${n} bytes parsed`);
    }
  await fc.assert(
    fc.asyncProperty(mutations(base, f.dataOffset), async (ms) => {
      const x = base.slice();
      for (const m of ms) m(x);
      await parseOrFormatError(x);
    }),
    { numRuns: runs, seed: 0x6775 },
  );
}

test('fuzz: mutations and truncations of a GGUF with every metadata type', { timeout: 60_000 }, async () => {
  await fuzzBase('sample.gguf', await writeSample(), 400);
  await fuzzBase('sample-nested.gguf', await writeSample({ nested: true, alignment: 64 }), 200);
});

test('fuzz: mutations of the stories260K GGUF', { timeout: 60_000 }, async (t) => {
  const b = await stories();
  if (!b) {
    t.skip('fixtures/stories260K.bin missing');
    return;
  }
  await fuzzBase('stories260K.gguf', b, 60);
});

test(
  'fuzz: structured hostile headers (counts, lengths, dims, types, offsets, nesting)',
  { timeout: 60_000 },
  async () => {
    const u64 = fc.oneof(fc.constantFrom(...INTERESTING_U64), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    const small = fc.integer({ min: 0, max: 20 });
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.tuple(fc.integer({ min: 0, max: 14 }), fc.uint8Array({ maxLength: 12 })).map(
          ([t, b]) =>
            (r: Raw) =>
              r.u32(t).bytes(b),
        ),
        fc.tuple(u64, fc.uint8Array({ maxLength: 12 })).map(
          ([n, b]) =>
            (r: Raw) =>
              r.u32(8).u64(n).bytes(b),
        ),
        fc.tuple(fc.integer({ min: 0, max: 13 }), u64, fc.uint8Array({ maxLength: 24 })).map(
          ([t, n, b]) =>
            (r: Raw) =>
              r.u32(9).u32(t).u64(n).bytes(b),
        ),
        fc.tuple(small, tie('v')).map(([n, inner]) => (r: Raw) => {
          r.u32(9).u32(9).u64(n);
          (inner as (r: Raw) => Raw)(r);
          return r;
        }),
      ),
    })).v as fc.Arbitrary<(r: Raw) => Raw>;
    const kv = fc.tuple(fc.string({ maxLength: 8 }), value);
    const tensor = fc.record({
      name: fc.string({ maxLength: 8 }),
      dims: fc.array(u64, { maxLength: 5 }),
      type: fc.integer({ min: 0, max: 45 }),
      offset: u64,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(kv, { maxLength: 4 }),
        fc.array(tensor, { maxLength: 4 }),
        fc.option(u64),
        fc.option(u64),
        fc.integer({ min: 0, max: 256 }),
        async (kvs, tensors, nT, nK, tail) => {
          const r = new Raw().header(nT ?? tensors.length, nK ?? kvs.length);
          for (const [k, v] of kvs) v(r.str(k));
          for (const t of tensors) r.tensor(t.name, t.dims, t.type, t.offset);
          r.pad().zeros(tail);
          await parseOrFormatError(r.build());
        },
      ),
      { numRuns: 1500, seed: 0x6776 },
    );
  },
);

test('fuzz: imatrix readers on mutated inputs', { timeout: 60_000 }, async () => {
  const r = new Raw().i32(2);
  for (const [name, vals] of [
    ['a.weight', [1, 2, 3, 4]],
    ['b.weight', [5, 6]],
  ] as const) {
    r.i32(name.length)
      .bytes(new TextEncoder().encode(name))
      .i32(3)
      .i32(vals.length)
      .bytes(new Uint8Array(new Float32Array(vals).buffer));
  }
  const base = r.i32(10).i32(4).bytes(new TextEncoder().encode('data')).build();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(base.length),
      async (edits, cut) => {
        const x = base.slice(0, Math.max(cut, 1));
        for (const [p, v] of edits) if (p < x.length) x[p] = v;
        try {
          await readImatrix(new CountingSource(x, 'fuzz.dat'));
        } catch (e) {
          if (!(e instanceof FileFormatError)) throw e;
        }
      },
    ),
    { numRuns: 1000, seed: 0x6777 },
  );
});

test('corpus: every saved regression input parses or gives a FileFormatError', async () => {
  const files = readdirSync(CORPUS)
    .filter((f) => f.endsWith('.gguf'))
    .sort();
  assert.ok(files.length > 0, 'corpus is not empty');
  for (const f of files) {
    const r = await parseOrFormatError(new Uint8Array(readFileSync(join(CORPUS, f))));
    // the corpus holds only hostile inputs
    assert.notEqual(r, 'ok', f);
  }
});
