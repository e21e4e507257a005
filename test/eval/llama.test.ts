// GGUF eval in the real llama.cpp (node-llama-cpp, CPU) on stories260K and its Q8_0 / Q4_0 versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evalGguf, generateEvalText } from '../../src/eval/llama.js';
import { LowbitError } from '../../src/errors.js';
import { storiesModels } from './models.js';

const CTX = 64,
  CHUNKS = 6;

test('GGUF eval: self vs self is KL 0, Q8_0 < Q4_0 in KL, same text for all, llama-perplexity layout', async () => {
  const m = storiesModels();
  const text = await generateEvalText({ model: m.f32, seed: 3, minTokens: CTX * CHUNKS, ctx: CTX });
  const again = await generateEvalText({ model: m.f32, seed: 3, minTokens: CTX * CHUNKS, ctx: CTX });
  assert.deepEqual(again.tokens, text.tokens, 'generated documents are reproducible');
  assert.ok(text.tokens.length >= CTX * CHUNKS);

  const self = await evalGguf({ model: m.f32, ref: m.f32, generated: text, ctx: CTX, chunks: CHUNKS });
  assert.equal(self.chunks, CHUNKS);
  assert.equal(self.scored, CHUNKS * (CTX - 1 - CTX / 2)); // second half of each chunk, minus the last position
  assert.ok(Math.abs(self.klMean!) < 1e-4, `self KL ${self.klMean}`); // only the uint16 storage of the reference
  assert.equal(self.sameTopPct, 100);
  assert.ok(Math.abs(self.perplexity / self.refPerplexity! - 1) < 1e-3);
  assert.ok(self.perplexity > 1 && self.perplexity < 100, `PPL ${self.perplexity}`);
  assert.equal(self.settings.kvCache, 'F32 keys and values');
  assert.equal(self.settings.flashAttention, false);
  assert.ok(self.ppTokPerSec > 0 && self.genTokPerSec > 0);

  const q8 = await evalGguf({ model: m.q8, ref: m.f32, generated: text, ctx: CTX, chunks: CHUNKS });
  const q4 = await evalGguf({ model: m.q4, ref: m.f32, generated: text, ctx: CTX, chunks: CHUNKS });
  assert.ok(q8.klMean! > 1e-4, `Q8_0 KL ${q8.klMean}`);
  assert.ok(q4.klMean! > q8.klMean!, `Q4_0 KL ${q4.klMean} vs Q8_0 ${q8.klMean}`);
  assert.ok(q4.klP99! >= q4.klMean!);
  assert.ok(q4.sameTopPct! < q8.sameTopPct! + 1e-9);
  assert.ok(q8.sizeBytes < self.sizeBytes && q4.sizeBytes < q8.sizeBytes);
  // the reference's perplexity over the same positions does not depend on the model under test
  assert.ok(Math.abs(q4.refPerplexity! / self.refPerplexity! - 1) < 1e-3);
});

test('GGUF eval: a given text, and a text too short for the context is a one-line error', async () => {
  const m = storiesModels();
  const long = 'Once upon a time there was a little dog. '.repeat(30);
  const r = await evalGguf({ model: m.q8, text: long, ctx: CTX, chunks: 2 });
  assert.equal(r.text.source, 'file');
  assert.equal(r.chunks, 2);
  assert.equal(r.klMean, undefined);
  await assert.rejects(
    evalGguf({ model: m.q8, text: 'Too short.', ctx: CTX }),
    (e: unknown) => e instanceof LowbitError && /need at least 128 tokens/.test((e as Error).message),
  );
});
