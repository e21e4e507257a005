// Fuzzing the importance-matrix readers: GGUF imatrices (in_sum2/counts pairs, MoE rows, imatrix.*
// keys) and legacy .dat files (entry count, names, ncall, values, chunk/dataset trailer) written
// here, truncated and mutated, plus hostile legacy entries built field by field. Every input parses
// (with one importance vector per entry) or fails with a one-line LowbitError; no read outside the
// file, no allocation from an unchecked count, no hang.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { GgufWriter, gv, readGgufHeader } from '../../src/io/gguf/index.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { Raw } from '../io/gguf/raw.js';
import { FuzzHarness, applyAll, byteMutations, cutPoints, INTERESTING_U64 } from './support/harness.js';

const h = new FuzzHarness();
after(() => h.close());

const f32bytes = (a: number[]) => new Uint8Array(new Float32Array(a).buffer);

async function ggufImatrix(): Promise<Uint8Array> {
  const entries = [
    { name: 'blk.0.attn_q.weight', sums: [1, 2, 3, 4, 5, 6, 7, 8], counts: [4] },
    // an MoE entry: 2 experts of 4 columns, counts per expert (one is 0: importances default to 1)
    { name: 'blk.0.ffn_up_exps.weight', sums: [1, 1, 2, 2, 3, 3, 4, 4], counts: [2, 0] },
    { name: 'output.weight', sums: [0.5, 0.25], counts: [1.4] },
  ];
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: [
      ['general.type', gv.str('imatrix')],
      ['imatrix.datasets', gv.strings(['wiki.train.raw', 'ünïcödé'])],
      ['imatrix.chunk_count', gv.u32(42)],
      ['imatrix.chunk_size', gv.u32(512)],
    ],
    tensors: entries.flatMap((e) => [
      { name: `${e.name}.in_sum2`, dims: [e.sums.length / e.counts.length, e.counts.length], type: GGML_TYPE.F32 },
      { name: `${e.name}.counts`, dims: [1, e.counts.length], type: GGML_TYPE.F32 },
    ]),
  });
  for (const e of entries) {
    await w.writeTensorData(`${e.name}.in_sum2`, f32bytes(e.sums));
    await w.writeTensorData(`${e.name}.counts`, f32bytes(e.counts));
  }
  await w.finish();
  return sink.bytes();
}

function legacyDat(): Uint8Array {
  const r = new Raw().i32(3);
  for (const [name, ncall, values] of [
    ['blk.0.attn_q.weight', 10, [1, 2, 3, 4]],
    ['blk.0.ffn_down.weight', 3, [5, 6]],
    ['output.weight', 0, [7]],
  ] as const) {
    const nb = new TextEncoder().encode(name);
    r.i32(nb.length)
      .bytes(nb)
      .i32(ncall)
      .i32(values.length)
      .bytes(f32bytes([...values]));
  }
  const d = new TextEncoder().encode('wiki.train.raw');
  return r.i32(17).i32(d.length).bytes(d).build();
}

test('fuzz: GGUF imatrix truncated and mutated', { timeout: 120_000 }, async () => {
  const base = await ggufImatrix();
  const good = await h.check({ parser: 'imatrix', name: 'imatrix.gguf', bytes: base });
  assert.equal(good.kind, 'ok', good.message);
  assert.deepEqual(good.summary!.entries, [
    ['blk.0.attn_q.weight', 8],
    ['blk.0.ffn_up_exps.weight', 8],
    ['output.weight', 2],
  ]);
  const f = await readGgufHeader(new BufferSource(base, 'imatrix.gguf'));
  const needed = Math.max(...f.tensors.map((t) => t.offset + t.byteSize));
  for (const n of cutPoints(
    base.length,
    f.dataOffset,
    f.tensors.map((t) => t.offset),
  )) {
    const r = await h.check({ parser: 'imatrix', name: 'imatrix.gguf', bytes: base.slice(0, n) });
    if (n < needed) assert.notEqual(r.kind, 'ok', `cut to ${n} bytes parsed`);
  }
  await fc.assert(
    fc.asyncProperty(
      fc.array(byteMutations(0, base.length, base.length), { minLength: 1, maxLength: 4 }),
      async (ms) => {
        await h.check({ parser: 'imatrix', name: 'imatrix.gguf', bytes: applyAll(base, ms) });
      },
    ),
    { numRuns: 500, seed: 0x1a1 },
  );
});

test('fuzz: legacy .dat imatrix truncated and mutated', { timeout: 120_000 }, async () => {
  const base = legacyDat();
  const good = await h.check({ parser: 'imatrix', name: 'imatrix.dat', bytes: base });
  assert.equal(good.kind, 'ok', good.message);
  assert.deepEqual(good.summary!.chunkCount, 17);
  for (const n of cutPoints(base.length, base.length))
    await h.check({ parser: 'imatrix', name: 'imatrix.dat', bytes: base.slice(0, n) });
  await fc.assert(
    fc.asyncProperty(
      fc.array(byteMutations(0, base.length, base.length), { minLength: 1, maxLength: 4 }),
      async (ms) => {
        await h.check({ parser: 'imatrix', name: 'imatrix.dat', bytes: applyAll(base, ms) });
      },
    ),
    { numRuns: 800, seed: 0x1a2 },
  );
});

test(
  'fuzz: hostile legacy entries (counts, name lengths, value counts, names that are not UTF-8)',
  { timeout: 120_000 },
  async () => {
    const i32 = fc.oneof(
      fc.integer({ min: -2, max: 40 }),
      fc.constantFrom(-0x80000000, 0x7fffffff, 0x40000000, 0x20000000),
      fc.integer(),
    );
    const entry = fc.record({
      nameLen: fc.option(i32, { freq: 3 }),
      name: fc.uint8Array({ maxLength: 10 }),
      ncall: i32,
      nval: fc.option(i32, { freq: 3 }),
      values: fc.array(fc.float(), { maxLength: 6 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.option(i32, { freq: 3 }),
        fc.array(entry, { maxLength: 4 }),
        fc.option(fc.tuple(i32, i32, fc.uint8Array({ maxLength: 8 }))),
        async (count, entries, trailer) => {
          const r = new Raw().i32(count ?? entries.length);
          for (const e of entries)
            r.i32(e.nameLen ?? e.name.length)
              .bytes(e.name)
              .i32(e.ncall)
              .i32(e.nval ?? e.values.length)
              .bytes(f32bytes(e.values));
          if (trailer) r.i32(trailer[0]).i32(trailer[1]).bytes(trailer[2]);
          await h.check({ parser: 'imatrix', name: 'hostile.dat', bytes: r.build() });
        },
      ),
      { numRuns: 800, seed: 0x1a3 },
    );
    // GGUF imatrices whose tensors lie about their element counts (sums not a multiple of counts, zero counts, 2^40 experts)
    const cases: [bigint[], bigint[]][] = [
      [
        [3n, 1n],
        [1n, 2n],
      ],
      [
        [4n, 0n],
        [1n, 0n],
      ],
      [
        [1n, 1n << 40n],
        [1n, 1n << 40n],
      ],
      [
        [1n << 32n, 1n << 32n],
        [1n, 1n],
      ],
      [INTERESTING_U64.slice(-2), [1n, 1n]],
    ];
    for (const [sums, counts] of cases) {
      const raw = new Raw()
        .header(2, 3)
        .str('imatrix.datasets')
        .u32(9)
        .u32(8)
        .u64(0)
        .str('imatrix.chunk_count')
        .u32(4)
        .u32(1)
        .str('imatrix.chunk_size')
        .u32(4)
        .u32(1);
      raw.tensor('a.in_sum2', sums, 0, 0).tensor('a.counts', counts, 0, 64).pad().zeros(128);
      const r = await h.check({ parser: 'imatrix', name: 'lying.gguf', bytes: raw.build() });
      assert.notEqual(r.kind, 'ok', `sums ${sums}, counts ${counts}`);
    }
  },
);
