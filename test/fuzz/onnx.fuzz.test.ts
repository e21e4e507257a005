// Fuzzing the ONNX reader (protobuf decode, tensor payloads, external data) with mutations of real
// models (a transformer block built with the project's builder, one with external data, and the
// MNIST CNN when the shared data folder has it) and with hand-assembled hostile protobuf: lying
// varint lengths, deep subgraph nesting, huge repeated fields and dimensions, external-data paths
// leaving the model folder. Every input must parse (then every tensor's payload reads) or fail with
// a one-line LowbitError, never read outside a file, never hang.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { BufferSink } from '../../src/io/source.js';
import { encodeModel, writeModel } from '../../src/io/onnx/model.js';
import { DT } from '../../src/io/onnx/tensor.js';
import { transformerModel } from '../onnx/support/build.js';
import { MNIST_MODEL } from '../onnx/support/mnist.js';
import { FuzzHarness, applyAll, byteMutations, INTERESTING_U64 } from './support/harness.js';
import { F, Pb, externalTensor, modelWith, nestedGraphs } from './support/protobuf-raw.js';

const h = new FuzzHarness();
after(() => h.close());

async function fuzzModel(
  name: string,
  base: Uint8Array,
  runs: number,
  seed: number,
  sidecars?: Record<string, Uint8Array>,
  window = base.length,
): Promise<void> {
  const good = await h.check({ parser: 'onnx', name, bytes: base, sidecars });
  assert.equal(good.kind, 'ok', `${name} itself parses: ${good.message}`);
  // protobuf has no end marker: a cut at a field boundary is a valid (smaller) model, so cuts only need to be safe
  for (let n = 0; n < Math.min(base.length, 400); n += 3)
    await h.check({ parser: 'onnx', name, bytes: base.slice(0, n), sidecars });
  await fc.assert(
    fc.asyncProperty(fc.array(byteMutations(0, window, base.length), { minLength: 1, maxLength: 4 }), async (ms) => {
      await h.check({ parser: 'onnx', name, bytes: applyAll(base, ms), sidecars });
    }),
    { numRuns: runs, seed },
  );
}

test('fuzz: mutations of a transformer block model', { timeout: 120_000 }, async () => {
  await fuzzModel('transformer.onnx', encodeModel(transformerModel(3, 16, 20, 32)), 700, 0x0a1);
});

test('fuzz: mutations of a model with external data, and of its side file', { timeout: 120_000 }, async () => {
  const m = transformerModel(4, 16, 20, 32);
  const sink = new BufferSink();
  const data = new BufferSink();
  await writeModel(m, sink, { externalData: { location: 'weights.bin', threshold: 256, align: 64 } }, data);
  const model = sink.bytes();
  const side = data.bytes();
  await fuzzModel('external.onnx', model, 400, 0x0a2, { 'weights.bin': side });
  // the side file shorter than the model says, or mutated (payload bytes are not checked, sizes are)
  for (const n of [0, 1, 63, 64, side.length - 1]) {
    const r = await h.check({
      parser: 'onnx',
      name: 'external.onnx',
      bytes: model,
      sidecars: { 'weights.bin': side.slice(0, n) },
    });
    assert.notEqual(r.kind, 'ok', `side file cut to ${n} bytes`);
  }
});

test(
  'fuzz: mutations of the MNIST CNN',
  { timeout: 120_000, skip: existsSync(MNIST_MODEL) ? false : 'mnist-cnn.onnx not in ../shared/data' },
  async () => {
    const b = new Uint8Array(readFileSync(MNIST_MODEL));
    // the graph structure is at both ends (initializers in the middle); mutate the first 8 KiB and the last 4 KiB
    await fuzzModel('mnist-cnn.onnx', b, 150, 0x0a3, undefined, 8192);
    await fc.assert(
      fc.asyncProperty(
        fc.array(byteMutations(b.length - 4096, b.length, b.length), { minLength: 1, maxLength: 3 }),
        async (ms) => {
          await h.check({ parser: 'onnx', name: 'mnist-cnn.onnx', bytes: applyAll(b, ms) });
        },
      ),
      { numRuns: 100, seed: 0x0a4 },
    );
  },
);

const u64 = fc.oneof(fc.constantFrom(...INTERESTING_U64), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));

test(
  'fuzz: hostile protobuf (lying lengths, deep nesting, huge repeated fields and dims)',
  { timeout: 120_000 },
  async () => {
    const dataType = fc.oneof(
      fc.constantFrom(DT.FLOAT, DT.FLOAT16, DT.INT64, DT.INT4, DT.STRING, DT.BOOL, DT.DOUBLE, DT.UINT32),
      fc.integer({ min: -2, max: 40 }),
    );
    const tensor = fc
      .record({
        dims: fc.array(fc.oneof(u64, fc.integer({ min: 0, max: 4 }).map(BigInt)), { maxLength: 6 }),
        type: dataType,
        // payload field: raw_data, packed float/int32/int64 data, or lone string entries
        field: fc.constantFrom(
          F.tensor.rawData,
          F.tensor.floatData,
          F.tensor.int32Data,
          F.tensor.int64Data,
          F.tensor.stringData,
        ),
        payload: fc.uint8Array({ maxLength: 24 }),
        declared: fc.option(u64, { freq: 3 }),
      })
      .map((t) => {
        const p = new Pb();
        for (const d of t.dims) p.int(F.tensor.dims, d);
        return p
          .int(F.tensor.dataType, t.type)
          .len(F.tensor.name, 'w')
          .len(t.field, t.payload, t.declared ?? undefined);
      });
    await fc.assert(
      fc.asyncProperty(
        fc.array(tensor, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.option(u64, { freq: 4 }),
        async (ts, depth, graphLen) => {
          const leaf = new Pb();
          for (const t of ts) leaf.len(F.graph.initializer, t);
          const g = nestedGraphs(depth, leaf);
          const bytes = modelWith(new Uint8Array(0), (m) => {
            m.len(F.model.graph, g, graphLen ?? undefined);
          });
          await h.check({ parser: 'onnx', name: 'hostile.onnx', bytes });
        },
      ),
      { numRuns: 500, seed: 0x0a5 },
    );

    // deep nesting: subgraphs inside subgraphs, far past any real model
    for (const depth of [100, 1000, 5000, 20000]) {
      const leaf = new Pb().len(
        F.graph.initializer,
        new Pb().int(F.tensor.dims, 2).int(F.tensor.dataType, DT.FLOAT).len(F.tensor.rawData, new Uint8Array(8)),
      );
      await h.check({ parser: 'onnx', name: `nested-${depth}.onnx`, bytes: modelWith(nestedGraphs(depth, leaf)) });
    }
    // huge repeated fields: a million dims, a packed float_data claiming 2^62 bytes, dims promising a terabyte with no data
    const manyDims = (d: number) => {
      const p = new Pb();
      for (let i = 0; i < 1_000_000; i++) p.int(F.tensor.dims, d);
      return p;
    };
    // a million dims of 1 is one element: valid, and must not be slow
    const ones = await h.check({
      parser: 'onnx',
      name: 'million-ones.onnx',
      bytes: modelWith(
        new Pb().len(
          F.graph.initializer,
          manyDims(1).int(F.tensor.dataType, DT.FLOAT).len(F.tensor.rawData, new Uint8Array(4)),
        ),
      ),
    });
    assert.equal(ones.kind, 'ok', ones.message);
    const cases: [string, Pb][] = [
      ['million-dims-of-2', manyDims(2).int(F.tensor.dataType, DT.FLOAT).len(F.tensor.rawData, new Uint8Array(4))],
      [
        'float-data-length-2^62',
        new Pb()
          .int(F.tensor.dims, 4)
          .int(F.tensor.dataType, DT.FLOAT)
          .len(F.tensor.floatData, new Uint8Array(16), 1n << 62n),
      ],
      [
        'terabyte-dims-no-data',
        new Pb()
          .int(F.tensor.dims, 1n << 20n)
          .int(F.tensor.dims, 1n << 20n)
          .int(F.tensor.dataType, DT.FLOAT),
      ],
      [
        'gigabyte-dims-short-float-data',
        new Pb()
          .int(F.tensor.dims, 1n << 28n)
          .int(F.tensor.dataType, DT.FLOAT)
          .len(F.tensor.floatData, new Uint8Array(8)),
      ],
      [
        'int4-dims-no-data',
        new Pb()
          .int(F.tensor.dims, 1n << 40n)
          .int(F.tensor.dataType, DT.INT4)
          .len(F.tensor.int32Data, new Uint8Array([1])),
      ],
    ];
    for (const [name, t] of cases) {
      const r = await h.check({
        parser: 'onnx',
        name: `${name}.onnx`,
        bytes: modelWith(new Pb().len(F.graph.initializer, t)),
      });
      assert.notEqual(r.kind, 'ok', name);
    }
  },
);

test(
  'external data locations outside the model folder are refused before anything is opened',
  { timeout: 60_000 },
  async () => {
    const escaping = [
      '../../etc/passwd',
      '/etc/passwd',
      '..',
      '../weights.bin',
      'sub/../../x',
      '..\\..\\x',
      '\\\\server\\share\\w',
      'C:\\w.bin',
      'c:w.bin',
      'a/../../../b',
    ];
    for (const location of escaping) {
      const t = externalTensor('w', [2], DT.FLOAT, [
        ['location', location],
        ['offset', '0'],
        ['length', '8'],
      ]);
      const r = await h.check({
        parser: 'onnx',
        name: 'escape.onnx',
        bytes: modelWith(new Pb().len(F.graph.initializer, t)),
        sidecars: { [location]: new Uint8Array(8) },
      });
      assert.equal(r.kind, 'format', location);
      assert.match(r.message!, /outside the model's folder/, location);
      assert.deepEqual(r.opened, [], location);
    }
    // fuzzed key/values: whatever is opened stays inside the folder
    const seg = fc.constantFrom('..', '.', 'a', 'weights.bin', '', 'C:', '\\', '%2e%2e');
    const location = fc.oneof(
      fc.array(seg, { minLength: 1, maxLength: 4 }).chain((s) => fc.constantFrom('/', '\\').map((sep) => s.join(sep))),
      fc.string({ maxLength: 12 }),
    );
    const num = fc.oneof(
      u64.map(String),
      fc.constantFrom('-1', '1e3', '0x10', '', ' 8', '8 ', '99999999999999999999999'),
    );
    await fc.assert(
      fc.asyncProperty(
        location,
        num,
        fc.option(num),
        fc.array(fc.oneof(u64, fc.integer({ min: 0, max: 4 }).map(BigInt)), { maxLength: 3 }),
        async (loc, off, len, dims) => {
          const kv: [string, string][] = [
            ['location', loc],
            ['offset', off],
          ];
          if (len !== null) kv.push(['length', len]);
          const t = externalTensor('w', dims, DT.FLOAT, kv);
          const r = await h.check({
            parser: 'onnx',
            name: 'ext.onnx',
            bytes: modelWith(new Pb().len(F.graph.initializer, t)),
            sidecars: { [loc]: new Uint8Array(64) },
          });
          const opened = r.opened ?? [];
          for (const o of opened)
            assert.ok(!o.startsWith('/') && !o.split(/[\\/]/).includes('..') && !/^[a-zA-Z]:/.test(o), `opened ${o}`);
        },
      ),
      { numRuns: 400, seed: 0x0a6 },
    );
  },
);
