import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir, convertLlama2cFiles } from '../../src/node/convert-files.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader, readTensorBytes, type GgufFile } from '../../src/io/gguf/reader.js';
import { metaInt, metaFloat, metaString, metaStrings, metaBool, metaArray } from '../../src/io/gguf/metadata.js';
import { LowbitError } from '../../src/errors.js';
import { openSafetensorsDir } from '../../src/node/safetensors-files.js';
import { loadLlama2c, forwardLlama2c, logSoftmax } from '../support/llama2c-forward.js';
import { llamaLogProbs, maxLogProbDiff, cpuLlama } from '../support/llama-logprobs.js';
import { buildHfFixture, writeHfFixture, fixtureBiases, HF_FIXTURE_DIR, STORIES } from '../support/hf-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-hf-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 403, 261, 378, 259, 300, 13, 450];

async function gguf(
  path: string,
): Promise<{ g: GgufFile; tensor: (n: string) => Promise<Uint8Array>; close: () => Promise<void> }> {
  const src = await FileSource.open(path);
  const g = await readGgufHeader(src);
  return { g, tensor: (n) => readTensorBytes(src, g, n), close: () => src.close() };
}

let l2cPath: string | undefined;
async function llama2cGguf(): Promise<string> {
  if (!l2cPath) {
    l2cPath = join(dir, 'l2c.gguf');
    await convertLlama2cFiles(STORIES, undefined, l2cPath, 'F32');
  }
  return l2cPath;
}

test('the committed fixture is what the generator makes', async () => {
  for (const [name, bytes] of await buildHfFixture({ arch: 'llama' })) {
    assert.ok(
      Buffer.from(bytes).equals(readFileSync(join(HF_FIXTURE_DIR, name))),
      `${name} differs: rerun test/support/hf-fixture.ts`,
    );
  }
});

test('convert hf: metadata as convert_hf_to_gguf.py writes it, tensors byte-identical to the llama2.c import', async () => {
  const out = join(dir, 'hf.gguf');
  await convertHfDir(HF_FIXTURE_DIR, out, 'F32');
  const a = await gguf(out);
  const b = await gguf(await llama2cGguf());
  try {
    const m = a.g.metadata;
    assert.deepEqual([...m.keys()].slice(0, 4), [
      'general.architecture',
      'general.type',
      'general.name',
      'llama.block_count',
    ]);
    assert.equal(metaString(m, 'general.name'), 'hf-stories260K');
    assert.equal(metaInt(m, 'llama.context_length'), 512);
    assert.equal(metaInt(m, 'llama.attention.head_count_kv'), 4);
    assert.equal(metaFloat(m, 'llama.rope.freq_base'), 10000);
    assert.equal(metaFloat(m, 'llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
    assert.equal(metaInt(m, 'llama.rope.dimension_count'), 8);
    assert.equal(metaInt(m, 'llama.vocab_size'), 512);
    assert.equal(metaInt(m, 'general.quantization_version'), 2);
    assert.equal(metaString(m, 'tokenizer.ggml.model'), 'llama');
    assert.equal(metaString(m, 'tokenizer.ggml.pre'), 'default');
    const toks = metaStrings(m, 'tokenizer.ggml.tokens')!;
    assert.equal(toks[265], '\u2581the');
    const types = metaArray(m, 'tokenizer.ggml.token_type')!.items as Int32Array;
    assert.deepEqual([types[0], types[1], types[3], types[265]], [3, 3, 6, 1]); // <unk> is special in tokenizer.json: control
    assert.deepEqual(
      [
        metaInt(m, 'tokenizer.ggml.bos_token_id'),
        metaInt(m, 'tokenizer.ggml.eos_token_id'),
        metaInt(m, 'tokenizer.ggml.unknown_token_id'),
      ],
      [1, 2, 0],
    );
    assert.equal(metaBool(m, 'tokenizer.ggml.add_bos_token'), true);
    assert.equal(metaBool(m, 'tokenizer.ggml.add_eos_token'), false);
    assert.match(metaString(m, 'tokenizer.chat_template')!, /messages/);
    // same tensors, same bytes: the Q/K permutation undoes the fixture's HF layout exactly
    const names = (g: GgufFile) => g.tensors.map((t) => t.name).sort();
    assert.deepEqual(names(a.g), names(b.g));
    for (const t of b.g.tensors) assert.ok(Buffer.from(await a.tensor(t.name)).equals(await b.tensor(t.name)), t.name);
  } finally {
    await a.close();
    await b.close();
  }
});

test('convert hf: llama.cpp gives the same log-probs as the llama2.c import and the reference', async () => {
  const out = join(dir, 'hf-run.gguf');
  await convertHfDir(HF_FIXTURE_DIR, out, 'F32');
  const got = await llamaLogProbs(out, TOKENS);
  const l2c = await llamaLogProbs(await llama2cGguf(), TOKENS);
  const ref = forwardLlama2c(loadLlama2c(STORIES), TOKENS).map(logSoftmax);
  for (let p = 0; p < TOKENS.length; p++) {
    assert.ok(
      maxLogProbDiff(
        got[p]!,
        l2c[p]!.map((x) => x),
      ) < 1e-6,
      `position ${p} vs llama2c import`,
    );
    assert.ok(maxLogProbDiff(got[p]!, ref[p]!) < 1e-3, `position ${p} vs reference`);
  }
});

test('convert hf: llama.cpp tokenizes with the byte-fallback BPE vocab (merges by rank, bytes, BOS)', async () => {
  const out = join(dir, 'hf-tok.gguf');
  await convertHfDir(HF_FIXTURE_DIR, out, 'F32');
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    assert.deepEqual([...model.tokenize('the')], [265]);
    assert.deepEqual([...model.tokenize('the x')], [265, 259, 3 + 0x78]);
    assert.equal(model.detokenize(model.tokenize('the x')), 'the x');
    assert.equal(model.tokens.bos, 1);
  } finally {
    await model.dispose();
  }
});

test('SentencePiece tokenizer.model: llama vocab with its scores, tokenized by llama.cpp', async () => {
  const d = join(dir, 'spm');
  await writeHfFixture(d, { arch: 'llama', sentencepiece: true });
  const out = join(dir, 'spm.gguf');
  const s = await convertHfDir(d, out, 'F32');
  assert.match(s.tokenizer, /SentencePiece/);
  const a = await gguf(out);
  try {
    assert.equal(metaString(a.g.metadata, 'tokenizer.ggml.model'), 'llama');
    const scores = metaArray(a.g.metadata, 'tokenizer.ggml.scores')!.items as Float32Array;
    assert.deepEqual([scores[263], scores[265], scores[300]], [-1, -3, -1000]);
  } finally {
    await a.close();
  }
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    assert.deepEqual([...model.tokenize('the the')], [265, 265]);
    assert.equal(model.detokenize(model.tokenize('the x\n')), 'the x\n');
  } finally {
    await model.dispose();
  }
});

test('untied variant: lm_head.weight becomes output.weight and logits still match', async () => {
  const d = join(dir, 'untied');
  await writeHfFixture(d, { arch: 'llama', untied: true });
  const out = join(dir, 'untied.gguf');
  await convertHfDir(d, out, 'F32');
  const a = await gguf(out);
  try {
    assert.ok(a.g.tensors.some((t) => t.name === 'output.weight'));
  } finally {
    await a.close();
  }
  const got = await llamaLogProbs(out, TOKENS.slice(0, 4));
  const ref = forwardLlama2c(loadLlama2c(STORIES), TOKENS.slice(0, 4)).map(logSoftmax);
  for (let p = 0; p < 4; p++) assert.ok(maxLogProbDiff(got[p]!, ref[p]!) < 1e-3, `position ${p}`);
});

test('BF16 checkpoint → --type BF16: every tensor keeps its exact bf16 bits (q/k permuted)', async () => {
  const d = join(dir, 'bf16');
  await writeHfFixture(d, { arch: 'llama', dtype: 'BF16' });
  const out = join(dir, 'bf16.gguf');
  await convertHfDir(d, out, 'BF16');
  const a = await gguf(out);
  const set = await openSafetensorsDir(d);
  try {
    assert.equal(metaInt(a.g.metadata, 'general.file_type'), 32);
    const gg = Buffer.from(await a.tensor('blk.2.ffn_down.weight'));
    assert.ok(gg.equals(await set.readBytes('model.layers.2.mlp.down_proj.weight')));
    // q: rows moved by the permutation, each row's bf16 bits unchanged
    const q = new Uint16Array((await a.tensor('blk.1.attn_q.weight')).slice().buffer);
    const hf = new Uint16Array((await set.readBytes('model.layers.1.self_attn.q_proj.weight')).slice().buffer);
    assert.deepEqual(q.subarray(64, 128), hf.subarray(4 * 64, 5 * 64)); // head 0: row 1 ← HF row 4 (head size 8)
    // norms stay F32: bf16 values widened exactly
    const norm = new Float32Array((await a.tensor('output_norm.weight')).slice().buffer);
    assert.deepEqual(norm, await set.readF32('model.norm.weight'));
  } finally {
    await a.close();
    await set.close();
  }
});

test('qwen2 variant: biases, no permutation, gpt2 byte-level BPE tokenizer', async () => {
  const d = join(dir, 'qwen2');
  await writeHfFixture(d, { arch: 'qwen2' });
  const out = join(dir, 'qwen2.gguf');
  await convertHfDir(d, out, 'F32');
  const a = await gguf(out);
  try {
    const m = a.g.metadata;
    assert.equal(metaString(m, 'general.architecture'), 'qwen2');
    assert.equal(metaInt(m, 'qwen2.block_count'), 5);
    assert.equal(metaString(m, 'tokenizer.ggml.model'), 'gpt2');
    assert.equal(metaString(m, 'tokenizer.ggml.pre'), 'qwen2');
    assert.deepEqual(metaStrings(m, 'tokenizer.ggml.merges'), ['t h', 'th e', '\u0120 the']);
    assert.equal(metaInt(m, 'tokenizer.ggml.eos_token_id'), 300);
    assert.equal(metaInt(m, 'tokenizer.ggml.padding_token_id'), 300);
    assert.ok(a.g.tensors.some((t) => t.name === 'blk.0.attn_q.bias'));
    assert.equal(m.has('qwen2.rope.dimension_count'), false);
  } finally {
    await a.close();
  }
  const w = loadLlama2c(STORIES);
  const got = await llamaLogProbs(out, TOKENS);
  const ref = forwardLlama2c(w, TOKENS, fixtureBiases(w)).map(logSoftmax);
  for (let p = 0; p < TOKENS.length; p++) assert.ok(maxLogProbDiff(got[p]!, ref[p]!) < 1e-3, `position ${p}`);
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    assert.deepEqual([...model.tokenize(' the the')], [258, 258]);
    assert.equal(model.detokenize(model.tokenize('hello the world')), 'hello the world');
  } finally {
    await model.dispose();
  }
});

test('convert hf: clear errors for missing files, unsupported models and bad checkpoints', async () => {
  const d = join(dir, 'bad');
  mkdirSync(d);
  await assert.rejects(
    convertHfDir(d, join(dir, 'x.gguf'), 'F32'),
    (e: unknown) => e instanceof LowbitError && /needs config\.json/.test((e as Error).message),
  );
  await assert.rejects(convertHfDir(join(dir, 'nope'), join(dir, 'x.gguf'), 'F32'), /not a model directory/);
  writeFileSync(
    join(d, 'config.json'),
    JSON.stringify({ model_type: 'gpt_neox', architectures: ['GPTNeoXForCausalLM'] }),
  );
  await assert.rejects(
    convertHfDir(d, join(dir, 'x.gguf'), 'F32'),
    /model_type 'gpt_neox' \(GPTNeoXForCausalLM\) is not supported/,
  );
  for (const [n, b] of await buildHfFixture({ arch: 'llama' })) writeFileSync(join(d, n), b);
  rmSync(join(d, 'tokenizer.json'));
  await assert.rejects(convertHfDir(d, join(dir, 'x.gguf'), 'F32'), /needs tokenizer\.model or tokenizer\.json/);
  writeFileSync(join(d, 'tokenizer.json'), readFileSync(join(HF_FIXTURE_DIR, 'tokenizer.json')));
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 6 }));
  await assert.rejects(convertHfDir(d, join(dir, 'x.gguf'), 'F32'), /missing \d+ tensor\(s\).*blk\.5\./);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'longrope', factor: 2 } }));
  await assert.rejects(convertHfDir(d, join(dir, 'x.gguf'), 'F32'), /rope scaling 'longrope' is not supported/);
  writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
  rmSync(join(d, 'model.safetensors'));
  await assert.rejects(convertHfDir(d, join(dir, 'x.gguf'), 'F32'), /no model\.safetensors/);
  assert.equal(existsSync(join(dir, 'x.gguf')), false);
});
