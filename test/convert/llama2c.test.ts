import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertLlama2cFiles } from '../../src/node/convert-files.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { metaInt, metaFloat, metaString, metaStrings } from '../../src/io/gguf/metadata.js';
import { loadLlama2c, forwardLlama2c, logSoftmax } from '../support/llama2c-forward.js';
import { llamaLogProbs, maxLogProbDiff, cpuLlama } from '../support/llama-logprobs.js';

const STORIES = 'fixtures/stories260K.bin';
const SHARED = '../shared/data';
const dir = mkdtempSync(join(tmpdir(), 'lowbit-l2c-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// several positions, byte tokens and merged pieces of the 512-token vocab
const TOKENS = [1, 403, 261, 378, 259, 300, 13, 450, 280, 77];

test('stories260K → GGUF: tensor names, shapes and llama.* metadata', async () => {
  const out = join(dir, 'stories.gguf');
  await convertLlama2cFiles(STORIES, undefined, out, 'F32');
  const src = await FileSource.open(out);
  try {
    const g = await readGgufHeader(src);
    const m = g.metadata;
    assert.equal(metaString(m, 'general.architecture'), 'llama');
    assert.equal(metaInt(m, 'llama.context_length'), 512);
    assert.equal(metaInt(m, 'llama.embedding_length'), 64);
    assert.equal(metaInt(m, 'llama.block_count'), 5);
    assert.equal(metaInt(m, 'llama.feed_forward_length'), 172);
    assert.equal(metaInt(m, 'llama.attention.head_count'), 8);
    assert.equal(metaInt(m, 'llama.attention.head_count_kv'), 4);
    assert.equal(metaInt(m, 'llama.rope.dimension_count'), 8);
    assert.equal(metaFloat(m, 'llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
    assert.equal(metaInt(m, 'general.file_type'), 0);
    const toks = metaStrings(m, 'tokenizer.ggml.tokens')!;
    assert.equal(toks.length, 512);
    assert.deepEqual(toks.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
    const names = g.tensors.map((t) => t.name);
    assert.equal(names.length, 47);
    assert.ok(!names.includes('output.weight'), 'shared classifier: no output.weight');
    const k = g.tensors.find((t) => t.name === 'blk.3.attn_k.weight')!;
    assert.deepEqual(k.dims, [64, 32]);
    const norm = g.tensors.find((t) => t.name === 'blk.0.ffn_norm.weight')!;
    assert.deepEqual(norm.dims, [64]);
  } finally {
    await src.close();
  }
});

test('converted stories260K in llama.cpp gives the reference forward pass log-probs', async () => {
  const out = join(dir, 'stories-run.gguf');
  await convertLlama2cFiles(STORIES, undefined, out, 'F32');
  const got = await llamaLogProbs(out, TOKENS);
  const ref = forwardLlama2c(loadLlama2c(STORIES), TOKENS).map(logSoftmax);
  for (let p = 0; p < TOKENS.length; p++) {
    const d = maxLogProbDiff(got[p]!, ref[p]!);
    assert.ok(d < 1e-3, `position ${p}: max |log p diff| ${d}`);
  }
  // and the most likely next token agrees
  const argmax = (a: ArrayLike<number>) => {
    let b = 0;
    for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
    return b;
  };
  assert.deepEqual(got.map(argmax), ref.map(argmax));
});

test('F16 output runs in llama.cpp and stays close to the F32 reference', async () => {
  const out = join(dir, 'stories-f16.gguf');
  await convertLlama2cFiles(STORIES, undefined, out, 'F16');
  const got = await llamaLogProbs(out, TOKENS.slice(0, 4));
  const ref = forwardLlama2c(loadLlama2c(STORIES), TOKENS.slice(0, 4)).map(logSoftmax);
  for (let p = 0; p < 4; p++) assert.ok(maxLogProbDiff(got[p]!, ref[p]!) < 0.05, `position ${p}`);
});

test(
  'with the aidreams tokenizer (shared data): text round-trips through llama.cpp and logits match',
  { skip: !existsSync(`${SHARED}/aidreams-tok512.bin`) },
  async () => {
    const out = join(dir, 'aidreams.gguf');
    await convertLlama2cFiles(`${SHARED}/aidreams260K.bin`, `${SHARED}/aidreams-tok512.bin`, out, 'F32');
    const llama = await cpuLlama();
    const model = await llama.loadModel({ modelPath: out });
    try {
      const text = 'Once upon a time, there was a little girl named Lily.';
      const toks = model.tokenize(text);
      assert.ok(toks.length > 5 && toks.length < text.length, `merges used: ${toks.length} tokens`);
      assert.equal(model.detokenize(toks), text);
      assert.equal(model.tokens.bos, 1);
      assert.equal(model.tokens.eos, 2);
      const seq = [1, ...toks.slice(0, 8)] as number[];
      const got = await llamaLogProbs(out, seq);
      const ref = forwardLlama2c(loadLlama2c(`${SHARED}/aidreams260K.bin`), seq).map(logSoftmax);
      for (let p = 0; p < seq.length; p++) assert.ok(maxLogProbDiff(got[p]!, ref[p]!) < 1e-3, `position ${p}`);
    } finally {
      await model.dispose();
    }
    void readFileSync;
  },
);
