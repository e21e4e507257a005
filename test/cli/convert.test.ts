// `lowbit convert llama2c|hf` as a user runs it: outputs load in llama.cpp, quantized types go
// through the pipeline, errors are one line with exit code 1 and leave no output behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { metaInt } from '../../src/io/gguf/metadata.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import type { Token } from 'node-llama-cpp';
import { cpuLlama } from '../support/llama-logprobs.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-cli-conv-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function header(path: string) {
  const src = await FileSource.open(path);
  try {
    return await readGgufHeader(src);
  } finally {
    await src.close();
  }
}

test('convert llama2c --type Q8_0: quantized through the pipeline, and llama.cpp generates with it', async () => {
  const out = join(dir, 'stories-q8.gguf');
  const r = runCli(['convert', 'llama2c', 'fixtures/stories260K.bin', out, '--type', 'q8_0']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /47 tensors, 512 tokens/);
  const g = await header(out);
  assert.equal(metaInt(g.metadata, 'general.file_type'), 7);
  assert.equal(g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.type.id, GGML_TYPE.Q8_0);
  assert.equal(g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type.id, GGML_TYPE.F32);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('lowbit')),
    [],
    'no temp files left',
  );
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    const ctx = await model.createContext({ contextSize: 32 });
    const seq = ctx.getSequence();
    const got: number[] = [];
    for await (const t of seq.evaluate([1, 403] as Token[], { temperature: 0 })) {
      got.push(t);
      if (got.length === 5) break;
    }
    assert.equal(got.length, 5);
    await ctx.dispose();
  } finally {
    await model.dispose();
  }
});

test('convert hf --type F16 writes F16 matrices and F32 norms', async () => {
  const out = join(dir, 'hf-f16.gguf');
  const r = runCli(['convert', 'hf', 'test/fixtures/hf-stories260K', out, '--type', 'F16']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tokenizer\.json \(llama, pre default\)/);
  const g = await header(out);
  assert.equal(metaInt(g.metadata, 'general.file_type'), 1);
  assert.equal(g.tensors.find((t) => t.name === 'token_embd.weight')!.type.id, GGML_TYPE.F16);
  assert.equal(g.tensors.find((t) => t.name === 'output_norm.weight')!.type.id, GGML_TYPE.F32);
});

test('convert errors: one line, exit 1, nothing written', () => {
  const out = join(dir, 'bad.gguf');
  const truncated = join(dir, 'trunc.bin');
  writeFileSync(truncated, new Uint8Array(100));
  for (const [args, re] of [
    [['convert', 'llama2c', truncated, out], /^lowbit: .*trunc\.bin: /],
    [['convert', 'llama2c', 'fixtures/stories260K.bin', out, '--type', 'Q9'], /^lowbit: unknown file type 'Q9'/],
    [['convert', 'hf', 'fixtures', out], /^lowbit: the model directory needs config\.json/],
    [['convert', 'llama2c', join(dir, 'missing.bin'), out], /^lowbit: ENOENT|^lowbit: .*no such file/],
  ] as [string[], RegExp][]) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(out), false);
  }
});

test('convert hf --type Q4_K_M with quantize options: one pass, same bytes as convert F32 + lowbit quantize, no temp files', async () => {
  const { writeRealisticFixture } = await import('../convert/support/realistic-fixture.js');
  const ck = join(dir, 'llama3');
  await writeRealisticFixture(ck, 'llama3');
  const one = join(dir, 'one.gguf'),
    f32 = join(dir, 'l3-f32.gguf'),
    two = join(dir, 'two.gguf');
  const extra = ['--output-tensor-type', 'q8_0', '--tensor-type', 'ffn_down=q5_k'];
  let r = runCli(['convert', 'hf', ck, one, '--type', 'Q4_K_M', ...extra, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(runCli(['convert', 'hf', ck, f32]).code, 0);
  r = runCli(['quantize', f32, two, '--type', 'Q4_K_M', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const { readFileSync } = await import('node:fs');
  assert.ok(readFileSync(one).equals(readFileSync(two)));
  const g = await header(one);
  assert.equal(g.tensors.find((t) => t.name === 'output.weight')!.type.id, GGML_TYPE.Q8_0);
  assert.equal(g.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')!.type.id, GGML_TYPE.Q5_K);
  assert.equal(g.tensors.find((t) => t.name === 'blk.1.ffn_up.weight')!.type.id, GGML_TYPE.Q4_K);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('lowbit')),
    [],
    'no temp files left',
  );
  // quantize options with a float type would silently do nothing: refused
  const bad = runCli(['convert', 'hf', ck, join(dir, 'x.gguf'), '--type', 'F16', '--pure']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^lowbit: --pure applies to quantized output types, not F16\n$/);
});
