// Real-world Hugging Face checkpoint shapes, converted and run in llama.cpp (node-llama-cpp 3.21.1):
// a Llama-3 style model (GQA, rope_theta 500000, llama3 rope_scaling → rope_freqs, llama-bpe
// byte-level BPE, chat template, sharded BF16 safetensors with an index, untied lm_head) and a
// SmolLM2 style one (tied embeddings, smollm pre-tokenizer, one BF16 file). llama.cpp's log-probs
// are compared with a float64 forward pass of the HF layout (support/hf-forward.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader, type GgufFile } from '../../src/io/gguf/reader.js';
import { metaArray, metaFloat, metaInt, metaString, metaStrings } from '../../src/io/gguf/metadata.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { cpuLlama, llamaLogProbs, maxLogProbDiff } from '../support/llama-logprobs.js';
import { logSoftmax } from '../support/llama2c-forward.js';
import { writeRealisticFixture, type RealisticFixture } from './support/realistic-fixture.js';
import { forwardHf } from './support/hf-forward.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-real-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function header(path: string): Promise<GgufFile> {
  const src = await FileSource.open(path);
  try {
    return await readGgufHeader(src);
  } finally {
    await src.close();
  }
}

/** llama.cpp vs the reference, every position; returns the largest difference. */
async function logitsMatch(fx: RealisticFixture, gguf: string, tokens: number[], tol: number): Promise<number> {
  const got = await llamaLogProbs(gguf, tokens);
  const ref = forwardHf(fx.weights, tokens).map(logSoftmax);
  let worst = 0;
  for (let p = 0; p < tokens.length; p++) {
    const d = maxLogProbDiff(got[p]!, ref[p]!);
    worst = Math.max(worst, d);
    assert.ok(d < tol, `position ${p}: ${d}`);
  }
  return worst;
}

test('Llama-3 layout: sharded BF16, GQA, llama3 rope scaling, llama-bpe: metadata, and llama.cpp = reference', async () => {
  const ck = join(dir, 'llama3');
  const fx = await writeRealisticFixture(ck, 'llama3');
  const out = join(dir, 'llama3.gguf');
  const s = await convertHfDir(ck, out, 'F32');
  assert.equal(s.tokenizer, 'tokenizer.json (gpt2, pre llama-bpe)');
  const g = await header(out);
  const m = g.metadata;
  assert.equal(metaFloat(m, 'llama.rope.freq_base'), 500000);
  assert.equal(metaInt(m, 'llama.attention.head_count'), 4);
  assert.equal(metaInt(m, 'llama.attention.head_count_kv'), 2);
  assert.equal(metaInt(m, 'llama.context_length'), 131072);
  assert.equal(metaInt(m, 'llama.rope.dimension_count'), 64);
  assert.equal(metaString(m, 'tokenizer.ggml.pre'), 'llama-bpe');
  assert.equal(metaStrings(m, 'tokenizer.ggml.merges')!.length, 11);
  assert.deepEqual(
    [metaInt(m, 'tokenizer.ggml.bos_token_id'), metaInt(m, 'tokenizer.ggml.eos_token_id')],
    [fx.bos, fx.eos],
  );
  assert.match(metaString(m, 'tokenizer.chat_template')!, /start_header_id/);
  const types = metaArray(m, 'tokenizer.ggml.token_type')!.items as Int32Array;
  assert.deepEqual([types[0], types[fx.bos], types[fx.eos]], [1, 3, 3]);
  const freqs = g.tensors.find((t) => t.name === 'rope_freqs.weight')!;
  assert.deepEqual([freqs.dims, freqs.type.id], [[32], GGML_TYPE.F32]);
  assert.ok(g.tensors.some((t) => t.name === 'output.weight'));
  assert.equal(g.tensors.length, 22);

  const tokens = [fx.bos, 259, 264, 266, 72, 101, 300, 33, 10, 266];
  const worst = await logitsMatch(fx, out, tokens, 1e-3);
  // the scaled frequencies matter here: without them the reference is far off
  const plain = forwardHf(fx.weights, tokens, { scaledRope: false }).map(logSoftmax);
  const got = await llamaLogProbs(out, tokens);
  assert.ok(Math.max(...tokens.map((_, p) => maxLogProbDiff(got[p]!, plain[p]!))) > 100 * Math.max(worst, 1e-5));

  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    assert.deepEqual([...model.tokenize('hello world the')], [259, 264, 266]);
    assert.equal(model.detokenize(model.tokenize('Hello, world 2024!\n')), 'Hello, world 2024!\n');
    assert.equal(model.tokens.bos, fx.bos);
    assert.equal(model.tokens.eos, fx.eos);
  } finally {
    await model.dispose();
  }
});

test('Llama-3 layout --type Q8_0 / Q4_K_M (one pass) run in llama.cpp, error growing as bits shrink', async () => {
  const ck = join(dir, 'llama3-q');
  const fx = await writeRealisticFixture(ck, 'llama3');
  const tokens = [fx.bos, 259, 264, 266, 72];
  const worst: number[] = [];
  for (const type of ['Q8_0', 'Q4_K_M']) {
    const out = join(dir, `llama3-${type}.gguf`);
    await convertHfDir(ck, out, type);
    const g = await header(out);
    assert.equal(
      g.tensors.find((t) => t.name === 'blk.0.attn_k.weight')!.type.id,
      type === 'Q8_0' ? GGML_TYPE.Q8_0 : GGML_TYPE.Q4_K,
    );
    // log-probs here span ~27 nats; 8-bit weights and activations move them by a few tenths
    worst.push(await logitsMatch(fx, out, tokens, type === 'Q8_0' ? 0.5 : 6));
  }
  assert.ok(worst[0]! < worst[1]! / 2, String(worst));
});

test('SmolLM2 layout: tied embeddings, smollm pre-tokenizer, one BF16 file: llama.cpp = reference', async () => {
  const ck = join(dir, 'smol');
  const fx = await writeRealisticFixture(ck, 'smollm2');
  const out = join(dir, 'smol.gguf');
  const s = await convertHfDir(ck, out, 'F32');
  assert.equal(s.tokenizer, 'tokenizer.json (gpt2, pre smollm)');
  const g = await header(out);
  assert.equal(
    g.tensors.some((t) => t.name === 'output.weight'),
    false,
  ); // tied: llama.cpp reuses token_embd
  assert.equal(metaFloat(g.metadata, 'llama.rope.freq_base'), 100000);
  assert.equal(metaInt(g.metadata, 'llama.attention.head_count_kv'), 1);
  assert.match(metaString(g.metadata, 'tokenizer.chat_template')!, /im_start/);
  assert.deepEqual(
    [metaInt(g.metadata, 'tokenizer.ggml.bos_token_id'), metaInt(g.metadata, 'tokenizer.ggml.eos_token_id')],
    [fx.bos, fx.eos],
  );
  await logitsMatch(fx, out, [fx.bos, 259, 264, 266, 52, 50, 10], 1e-3);
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    assert.deepEqual([...model.tokenize('hello world')], [259, 264]);
    assert.equal(model.detokenize(model.tokenize('hello 42 the end')), 'hello 42 the end');
  } finally {
    await model.dispose();
  }
});
