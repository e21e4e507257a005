import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { BufferSink } from '../../src/io/source.js';
import { GgufWriter, gv } from '../../src/io/gguf/index.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { Raw } from '../io/gguf/raw.js';

async function model(): Promise<Uint8Array> {
  const tokens = Array.from({ length: 32000 }, (_, i) => `tok${i}`);
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: [
      ['general.architecture', gv.str('llama')],
      ['general.name', gv.str('tiny')],
      ['llama.context_length', gv.u32(2048)],
      ['tokenizer.ggml.tokens', gv.strings(tokens)],
      ['tokenizer.ggml.scores', gv.arr('f32', new Float32Array(32000))],
      ['small', gv.arr('i32', new Int32Array([1, 2, 3]))],
    ],
    tensors: [
      { name: 'token_embd.weight', dims: [256, 4], type: GGML_TYPE.Q4_K },
      { name: 'output_norm.weight', dims: [256], type: GGML_TYPE.F32 },
    ],
  });
  await w.writeTensorData('token_embd.weight', new Uint8Array(4 * 144));
  await w.writeTensorData('output_norm.weight', new Uint8Array(1024));
  await w.finish();
  return sink.bytes();
}

test('lowbit inspect: metadata with long arrays summarised, tensor table, totals; and --json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const p = join(dir, 'm.gguf');
    writeFileSync(p, await model());
    const r = runCli(['inspect', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GGUF v3/);
    assert.match(r.stdout, /tokenizer\.ggml\.tokens\s+\[32000 strings\]/);
    assert.match(r.stdout, /tokenizer\.ggml\.scores\s+\[32000 f32\]/);
    assert.match(r.stdout, /small\s+\[1, 2, 3\]/);
    assert.match(r.stdout, /general\.name\s+"tiny"/);
    // shapes and types as compare shows them
    assert.match(r.stdout, /token_embd\.weight\s+\[256, 4\]\s+Q4_K\s+576 B\s+4\.50/);
    assert.match(r.stdout, /output_norm\.weight\s+\[256\]\s+F32\s+1\.00 KiB\s+32\.00/);
    // (576 + 1024) bytes * 8 / 1280 weights = 10 bits per weight
    assert.match(r.stdout, /total: 2 tensors, 1280 parameters, 1\.56 KiB, 10\.00 bits per weight/);

    const j = runCli(['inspect', '--json', p]);
    assert.equal(j.code, 0, j.stderr);
    const o = JSON.parse(j.stdout);
    assert.equal(o.format, 'GGUF v3');
    assert.deepEqual(o.metadata['tokenizer.ggml.tokens'], { type: 'array', itemType: 'string', length: 32000 });
    assert.deepEqual(o.metadata.small, [1, 2, 3]);
    assert.equal(o.metadata['llama.context_length'], 2048);
    assert.deepEqual(o.tensors[0], {
      name: 'token_embd.weight',
      shape: [256, 4],
      type: 'Q4_K',
      bytes: 576,
      elements: 1024,
      bitsPerWeight: 4.5,
    });
    assert.deepEqual(o.totals, { tensors: 2, parameters: 1280, bytes: 1600, bitsPerWeight: 10 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit inspect on hostile files: one line on stderr, exit 1, no stack, quickly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'huge-string.gguf',
        new Raw()
          .header(0, 1)
          .u64(1n << 62n)
          .zeros(16)
          .build(),
        /too large/,
      ],
      ['huge-count.gguf', new Raw().header(0xffffffffn, 0).build(), /tensor count .* exceeds/],
      [
        'nested.gguf',
        (() => {
          const r = new Raw().header(0, 1).str('k').u32(9);
          for (let i = 0; i < 10000; i++) r.u32(9).u64(1);
          return r.build();
        })(),
        /nested more than/,
      ],
      [
        'past-end.gguf',
        new Raw()
          .header(1, 0)
          .tensor('t', [1 << 20], 0, 0)
          .pad()
          .build(),
        /past the end of the file/,
      ],
      ['not-a-model.bin', new TextEncoder().encode('hello world, not a model'), /unknown file format/],
    ];
    for (const [name, bytes, problem] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      const r = runCli(['inspect', p], { timeoutMs: 20_000 });
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.startsWith(`lowbit: ${p}: `), r.stderr);
      assert.match(lines[0]!, problem);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const missing = runCli(['inspect', join(dir, 'missing.gguf')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `lowbit: ${join(dir, 'missing.gguf')}: no such file\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit inspect safetensors: one file (header, __metadata__, tensors in data order) and --json', () => {
  const p = 'test/fixtures/hf-stories260K/model.safetensors';
  const r = runCli(['inspect', p]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model\.safetensors: safetensors, 1021 KiB/);
  assert.match(r.stdout, /header bytes: 4856/);
  assert.match(r.stdout, /format\s+"pt"/);
  assert.match(r.stdout, /model\.layers\.0\.self_attn\.q_proj\.weight\s+\[64, 64\]\s+F32\s+16\.0 KiB\s+32\.00/);
  assert.match(r.stdout, /total: 47 tensors, 260032 parameters/); // exact (was shown rounded to 260030)
  const o = JSON.parse(runCli(['inspect', '--json', p]).stdout);
  assert.equal(o.format, 'safetensors');
  assert.equal(o.dataOffset, 4864);
  assert.deepEqual(o.metadata, { format: 'pt' });
  assert.deepEqual(
    o.tensors.find((t: { name: string }) => t.name === 'model.embed_tokens.weight'),
    {
      name: 'model.embed_tokens.weight',
      shape: [512, 64],
      type: 'F32',
      bytes: 131072,
      elements: 32768,
      bitsPerWeight: 32,
    },
  );
});

test("lowbit inspect sharded safetensors: by directory or index, every shard's tensors with their file", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const { writeRealisticFixture } = await import('../convert/support/realistic-fixture.js');
    await writeRealisticFixture(dir, 'llama3');
    const r = runCli(['inspect', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /safetensors, 2 shards/);
    assert.match(
      r.stdout,
      /lm_head\.weight\s+\[320, 256\]\s+BF16\s+160 KiB\s+16\.00\s+model-00002-of-00002\.safetensors/,
    );
    const o = JSON.parse(runCli(['inspect', '--json', join(dir, 'model.safetensors.index.json')]).stdout);
    assert.equal(o.tensors.length, 21);
    assert.equal(o.metadata.total_size, 2689536);
    assert.equal(o.totals.bytes, 2689536);
    assert.equal(
      o.tensors.find((t: { name: string }) => t.name === 'model.layers.0.self_attn.k_proj.weight').file,
      'model-00001-of-00002.safetensors',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit inspect ONNX: IR version, producer, opsets, op counts and initializers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const { transformerModel } = await import('../onnx/support/build.js');
    const { encodeModel } = await import('../../src/io/onnx/model.js');
    const p = join(dir, 'enc.onnx');
    writeFileSync(p, encodeModel(transformerModel(1, 64, 100, 128)));
    const r = runCli(['inspect', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ONNX/);
    assert.match(r.stdout, /producer: lowbit-test/);
    assert.match(r.stdout, /opsets: ai\.onnx 17/);
    assert.match(r.stdout, /fc1\.w\s+\[128, 64\]\s+FLOAT\s+32\.0 KiB\s+32\.00/);
    const o = JSON.parse(runCli(['inspect', '--json', p]).stdout);
    assert.equal(o.iRVersion ?? o.IRVersion, 8);
    assert.deepEqual(o.opsets, { 'ai.onnx': 17 });
    assert.ok(o.opCounts.MatMul >= 4, JSON.stringify(o.opCounts));
    assert.deepEqual(
      o.tensors.find((t: { name: string }) => t.name === 'embed'),
      { name: 'embed', shape: [100, 64], type: 'FLOAT', bytes: 25600, elements: 6400, bitsPerWeight: 32 },
    );
    assert.equal(o.tensors.find((t: { name: string }) => t.name === 'flat').type, 'INT64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit inspect on bad safetensors / shards / ONNX: one line, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const st = (json: string, data = 0) => {
      const j = new TextEncoder().encode(json);
      const b = new Uint8Array(8 + j.length + data);
      new DataView(b.buffer).setBigUint64(0, BigInt(j.length), true);
      b.set(j, 8);
      return b;
    };
    writeFileSync(join(dir, 'bad-json.safetensors'), st('{"a": {"dtype": "F32", '));
    writeFileSync(
      join(dir, 'past-end.safetensors'),
      st('{"a":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}', 16),
    );
    writeFileSync(
      join(dir, 'garbage.onnx'),
      new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    );
    const shards = join(dir, 'sharded');
    mkdirSync(shards);
    writeFileSync(
      join(shards, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'missing.safetensors' } }),
    );
    const escape = join(dir, 'escape.index.json');
    writeFileSync(escape, JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    for (const [p, re] of [
      [join(dir, 'bad-json.safetensors'), /bad-json\.safetensors: header is not valid JSON/],
      [join(dir, 'past-end.safetensors'), /past-end\.safetensors: tensor data runs past the end of the file/],
      [join(dir, 'garbage.onnx'), /garbage\.onnx: not an ONNX model/],
      [shards, /missing\.safetensors/],
      [escape, /not a file name in the model directory/],
      [dir, /a directory; inspect needs a model file/],
    ] as [string, RegExp][]) {
      const r = runCli(['inspect', p]);
      assert.equal(r.code, 1, `${p}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^lowbit: /);
      assert.match(r.stderr, re);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit inspect: the parameter total is exact (230976, not 230980)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const sink = new BufferSink();
    const w = await GgufWriter.begin(sink, {
      metadata: [['general.architecture', gv.str('llama')]],
      tensors: [
        { name: 'a.weight', dims: [256, 900], type: GGML_TYPE.F32 },
        { name: 'b.weight', dims: [576], type: GGML_TYPE.F32 },
      ],
    });
    await w.writeTensorData('a.weight', new Uint8Array(256 * 900 * 4));
    await w.writeTensorData('b.weight', new Uint8Array(576 * 4));
    await w.finish();
    const p = join(dir, 'm.gguf');
    writeFileSync(p, sink.bytes());
    const r = runCli(['inspect', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /total: 2 tensors, 230976 parameters,/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
