import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    assert.match(r.stdout, /token_embd\.weight\s+256 x 4\s+q4_K\s+576 B\s+4\.50/);
    assert.match(r.stdout, /output_norm\.weight\s+256\s+f32\s+1\.00 KiB\s+32\.00/);
    // (576 + 1024) bytes * 8 / 1280 weights = 10 bits per weight
    assert.match(r.stdout, /total: 2 tensors, 1280 parameters, 1\.56 KiB, 10\.00 bits per weight/);

    const j = runCli(['inspect', '--json', p]);
    assert.equal(j.code, 0, j.stderr);
    const o = JSON.parse(j.stdout);
    assert.equal(o.format, 'GGUF v3');
    assert.deepEqual(o.metadata['tokenizer.ggml.tokens'], { type: 'array', itemType: 'string', length: 32000 });
    assert.deepEqual(o.metadata.small, [1, 2, 3]);
    assert.equal(o.metadata['llama.context_length'], 2048);
    assert.deepEqual(o.tensors[0], { name: 'token_embd.weight', shape: [256, 4], type: 'q4_K', bytes: 576, elements: 1024, bitsPerWeight: 4.5 });
    assert.deepEqual(o.totals, { tensors: 2, parameters: 1280, bytes: 1600, bitsPerWeight: 10 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('lowbit inspect on hostile files: one line on stderr, exit 1, no stack, quickly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
  try {
    const cases: [string, Uint8Array, RegExp][] = [
      ['huge-string.gguf', new Raw().header(0, 1).u64(1n << 62n).zeros(16).build(), /too large/],
      ['huge-count.gguf', new Raw().header(0xffffffffn, 0).build(), /tensor count .* exceeds/],
      ['nested.gguf', (() => { const r = new Raw().header(0, 1).str('k').u32(9); for (let i = 0; i < 10000; i++) r.u32(9).u64(1); return r.build(); })(), /nested more than/],
      ['past-end.gguf', new Raw().header(1, 0).tensor('t', [1 << 20], 0, 0).pad().build(), /past the end of the file/],
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
    assert.match(missing.stderr, /^lowbit: .*ENOENT|no such file/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
