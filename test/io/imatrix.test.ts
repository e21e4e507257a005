import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { GgufWriter, gv, type GgufValue } from '../../src/io/gguf/index.js';
import { imatrixQuantizeMetadata, readImatrix } from '../../src/io/imatrix.js';
import { FileFormatError } from '../../src/errors.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { Raw } from './gguf/raw.js';

const f32bytes = (a: number[]) => new Uint8Array(new Float32Array(a).buffer);

interface Entry {
  name: string;
  sums: number[];
  counts: number[];
}

/** A GGUF imatrix laid out as llama-imatrix writes it. */
async function ggufImatrix(entries: Entry[], meta?: [string, GgufValue][]): Promise<Uint8Array> {
  const metadata: [string, GgufValue][] = meta ?? [
    ['general.type', gv.str('imatrix')],
    ['imatrix.datasets', gv.strings(['wiki.train.raw', 'code.txt'])],
    ['imatrix.chunk_count', gv.u32(42)],
    ['imatrix.chunk_size', gv.u32(512)],
  ];
  const tensors = entries.flatMap((e) => [
    { name: `${e.name}.in_sum2`, dims: [e.sums.length / e.counts.length, e.counts.length], type: GGML_TYPE.F32 },
    { name: `${e.name}.counts`, dims: [1, e.counts.length], type: GGML_TYPE.F32 },
  ]);
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, { metadata, tensors });
  for (const e of entries) {
    await w.writeTensorData(`${e.name}.in_sum2`, f32bytes(e.sums));
    await w.writeTensorData(`${e.name}.counts`, f32bytes(e.counts));
  }
  await w.finish();
  return sink.bytes();
}

test('GGUF imatrix: importance = in_sum2 / counts per expert row, in float32, like llama-quantize', async () => {
  const bytes = await ggufImatrix([
    { name: 'blk.0.ffn_up.weight', sums: [1, 2, 3, 0.1], counts: [3] },
    // MoE: 2 experts of 2 columns; expert 1 never ran (count 0 → importance 1); 2.5 rounds to 3
    { name: 'blk.0.ffn_up_exps.weight', sums: [10, 20, 30, 40], counts: [2.5, 0] },
  ]);
  const im = await readImatrix(new BufferSource(bytes, 'im.gguf'));
  assert.deepEqual(im.provenance, {
    file: 'im.gguf',
    format: 'gguf',
    datasets: ['wiki.train.raw', 'code.txt'],
    chunkCount: 42,
    chunkSize: 512,
    entryCount: 2,
  });
  const f = Math.fround;
  assert.deepEqual(im.data.get('blk.0.ffn_up.weight'), new Float32Array([f(1 / 3), f(2 / 3), 1, f(f(0.1) / 3)]));
  assert.deepEqual(im.data.get('blk.0.ffn_up_exps.weight'), new Float32Array([f(10 / 3), f(20 / 3), 1, 1]));
  assert.deepEqual(imatrixQuantizeMetadata(im, 'imatrix.gguf'), [
    ['quantize.imatrix.file', gv.str('imatrix.gguf')],
    ['quantize.imatrix.dataset', gv.str('wiki.train.raw')],
    ['quantize.imatrix.entries_count', gv.u32(2)],
    ['quantize.imatrix.chunks_count', gv.u32(42)],
  ]);
});

test('GGUF imatrix: bad files are FileFormatErrors', async () => {
  const cases: [string, () => Promise<Uint8Array>, RegExp][] = [
    [
      'missing counts',
      async () => {
        const b = await ggufImatrix([{ name: 'a', sums: [1, 2], counts: [1] }]);
        // rename 'a.counts' to 'a.countz' in place (same length)
        const i = Buffer.from(b).indexOf('a.counts');
        b[i + 7] = 'z'.charCodeAt(0);
        return b;
      },
      /mismatched sums and counts for 'a'/,
    ],
    [
      'missing metadata',
      () => ggufImatrix([{ name: 'a', sums: [1], counts: [1] }], [['general.type', gv.str('imatrix')]]),
      /missing imatrix metadata/,
    ],
    [
      'chunk_count not u32',
      () =>
        ggufImatrix(
          [{ name: 'a', sums: [1], counts: [1] }],
          [
            ['imatrix.datasets', gv.strings([])],
            ['imatrix.chunk_count', gv.i32(3)],
            ['imatrix.chunk_size', gv.u32(1)],
          ],
        ),
      /must be u32/,
    ],
    [
      'no tensors',
      async () => {
        const sink = new BufferSink();
        const w = await GgufWriter.begin(sink, {
          metadata: [
            ['imatrix.datasets', gv.strings([])],
            ['imatrix.chunk_count', gv.u32(1)],
            ['imatrix.chunk_size', gv.u32(1)],
          ],
          tensors: [],
        });
        await w.finish();
        return sink.bytes();
      },
      /no data/,
    ],
    [
      'sums not divisible by counts',
      async () => {
        const sink = new BufferSink();
        const w = await GgufWriter.begin(sink, {
          metadata: [
            ['imatrix.datasets', gv.strings([])],
            ['imatrix.chunk_count', gv.u32(1)],
            ['imatrix.chunk_size', gv.u32(1)],
          ],
          tensors: [
            { name: 'a.in_sum2', dims: [3], type: 0 },
            { name: 'a.counts', dims: [1, 2], type: 0 },
          ],
        });
        await w.writeTensorData('a.in_sum2', f32bytes([1, 2, 3]));
        await w.writeTensorData('a.counts', f32bytes([1, 1]));
        await w.finish();
        return sink.bytes();
      },
      /do not split into 2 expert rows/,
    ],
    ['non-finite count', () => ggufImatrix([{ name: 'a', sums: [1], counts: [NaN] }]), /not finite/],
  ];
  for (const [name, make, problem] of cases) {
    await assert.rejects(
      readImatrix(new BufferSource(await make(), 'im.gguf')),
      (e: unknown) => e instanceof FileFormatError && problem.test(e.message),
      name,
    );
  }
});

/** A legacy .dat as llama-imatrix's save_imatrix_legacy writes it: values already (sum/count)*ncall. */
function legacy(
  entries: { name: string; ncall: number; values: number[] }[],
  trailer?: { chunks: number; dataset?: string },
): Uint8Array {
  const r = new Raw().i32(entries.length);
  for (const e of entries) {
    const nb = new TextEncoder().encode(e.name);
    r.i32(nb.length).bytes(nb).i32(e.ncall).i32(e.values.length).bytes(f32bytes(e.values));
  }
  if (trailer) {
    r.i32(trailer.chunks);
    if (trailer.dataset !== undefined) {
      const d = new TextEncoder().encode(trailer.dataset);
      r.i32(d.length).bytes(d);
    }
  }
  return r.build();
}

test('legacy imatrix: values divided by ncall; trailer gives chunk count and dataset', async () => {
  const bytes = legacy(
    [
      { name: 'output.weight', ncall: 3, values: [3, 1, 0.5] },
      { name: 'blk.0.attn_q.weight', ncall: 0, values: [7, 8] },
    ],
    { chunks: 100, dataset: 'calib.txt' },
  );
  const im = await readImatrix(new BufferSource(bytes, 'im.dat'));
  assert.deepEqual(im.provenance, {
    file: 'im.dat',
    format: 'legacy',
    datasets: ['calib.txt'],
    chunkCount: 100,
    chunkSize: 0,
    entryCount: 2,
  });
  const f = Math.fround;
  assert.deepEqual(im.data.get('output.weight'), new Float32Array([1, f(1 / 3), f(0.5 / 3)]));
  assert.deepEqual(im.data.get('blk.0.attn_q.weight'), new Float32Array([7, 8]));
  assert.deepEqual([...im.data.keys()], ['blk.0.attn_q.weight', 'output.weight']);
  // without a trailer there is no chunk count, and quantize writes no chunks_count key
  const bare = await readImatrix(new BufferSource(legacy([{ name: 'a', ncall: 1, values: [1] }])));
  assert.equal(bare.provenance.chunkCount, 0);
  assert.deepEqual(
    imatrixQuantizeMetadata(bare, 'x'.repeat(200)).map(([k, v]) => [k, v.type === 'string' ? v.value.length : v.value]),
    [
      ['quantize.imatrix.file', 127],
      ['quantize.imatrix.entries_count', 1],
    ],
  );
});

test('legacy imatrix: bad files are FileFormatErrors', async () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /not an imatrix file/],
    ['zero entries', new Raw().i32(0).build(), /entry count 0/],
    ['huge entry count', new Raw().i32(0x7fffffff).zeros(16).build(), /cannot fit/],
    ['negative name length', new Raw().i32(1).i32(-5).zeros(16).build(), /bad name length -5/],
    ['name past end', new Raw().i32(1).i32(1000).zeros(16).build(), /bad name length 1000/],
    ['zero values', new Raw().i32(1).i32(1).bytes([0x61]).i32(1).i32(0).zeros(8).build(), /bad number of values 0/],
    ['values past end', new Raw().i32(1).i32(1).bytes([0x61]).i32(1).i32(1e6).zeros(8).build(), /cannot fit/],
    [
      'truncated in values',
      legacy([{ name: 'a', ncall: 1, values: [1, 2] }]).subarray(0, 21),
      /2 values cannot fit in the 4 bytes left/,
    ],
    [
      'truncated in second entry',
      legacy([
        { name: 'a', ncall: 1, values: [1, 2, 3] },
        { name: 'b', ncall: 1, values: [1] },
      ]).subarray(0, 40),
      /truncated/,
    ],
  ];
  for (const [name, bytes, problem] of cases) {
    await assert.rejects(
      readImatrix(new BufferSource(bytes, 'im.dat')),
      (e: unknown) => e instanceof FileFormatError && problem.test(e.message),
      name,
    );
  }
});
