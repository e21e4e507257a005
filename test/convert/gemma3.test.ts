import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { assertSameGguf } from './support/golden-gguf.js';
import { FIXTURE_ROOT } from './support/fixture-phi3.js';
import {
  buildGemma3,
  GEMMA3_DIR,
  GEMMA3_MM_DIR,
  GEMMA_START_OF_TURN,
  GEMMA_END_OF_TURN,
} from './support/fixture-gemma3.js';
import { forwardGemma3 } from './support/forward-gemma3.js';
import { logSoftmax } from './support/forward-math.js';
import { writeFiles } from './support/synthetic-hf.js';
import { assertPlansLikeLlama, assertConvertTypeLikeLlama } from './support/arch-oracle.js';
import { llamaLogProbs, maxLogProbDiff, cpuLlama } from '../support/llama-logprobs.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-gemma3-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('gemma3 fixtures are what the generator makes', async () => {
  for (const [d, mm] of [
    [GEMMA3_DIR, false],
    [GEMMA3_MM_DIR, true],
  ] as const) {
    for (const [name, bytes] of await buildGemma3({}, mm)) {
      assert.ok(
        Buffer.from(bytes).equals(readFileSync(join(d, name))),
        `${d}/${name} differs: rerun test/convert/support/fixture-gemma3.ts`,
      );
    }
  }
});

for (const type of ['F32', 'F16'] as const) {
  test(`convert hf gemma3 --type ${type}: the GGUF convert_hf_to_gguf.py writes (norms + 1, q/k norms, sliding window, tied)`, async () => {
    const out = join(dir, `gemma3.${type}.gguf`);
    await convertHfDir(GEMMA3_DIR, out, type);
    await assertSameGguf(out, join(FIXTURE_ROOT, `gemma3.${type}.gguf`));
  });
  test(`convert hf Gemma3ForConditionalGeneration --type ${type}: the text model as convert_hf_to_gguf.py writes it (language_model.*, vision skipped, text_config defaults, linear RoPE ×8)`, async () => {
    const out = join(dir, `gemma3-mm.${type}.gguf`);
    await convertHfDir(GEMMA3_MM_DIR, out, type);
    await assertSameGguf(out, join(FIXTURE_ROOT, `gemma3-mm.${type}.gguf`));
  });
}

const PROMPT = [2, GEMMA_START_OF_TURN, 300, 411, 290, 17, 350, 480, GEMMA_END_OF_TURN, 270, 333, 401];

test("convert hf gemma3: llama.cpp runs it and its log-probs match transformers' Gemma3 forward pass (sliding window 4 over 12 tokens)", async (t) => {
  const out = join(dir, 'gemma3.run.gguf');
  await convertHfDir(GEMMA3_DIR, out, 'F32');
  const got = await llamaLogProbs(out, PROMPT);
  const ref = (await forwardGemma3(GEMMA3_DIR, PROMPT)).map(logSoftmax);
  let worst = 0;
  for (let p = 0; p < PROMPT.length; p++) worst = Math.max(worst, maxLogProbDiff(got[p]!, ref[p]!));
  t.diagnostic(`max |Δ log p| ${worst.toExponential(2)}`);
  assert.ok(worst < 2e-3, `max |Δ log p| ${worst}`);
  // the window matters here: without it the reference moves well beyond the tolerance
  const noWindow = join(dir, 'gemma3-nowindow');
  writeFiles(noWindow, await buildGemma3({ window: 1000 }));
  const far = (await forwardGemma3(noWindow, PROMPT)).map(logSoftmax);
  let moved = 0;
  for (let p = 0; p < PROMPT.length; p++) moved = Math.max(moved, maxLogProbDiff(got[p]!, far[p]!));
  assert.ok(moved > 20 * worst, `sliding window changes the output (${moved})`);
});

test("gemma3 vocab: llama.cpp tokenizes multilingual, code and whitespace text as Gemma's SentencePiece model does (no dummy prefix), turn markers by id", async () => {
  const out = join(dir, 'gemma3-tok.gguf');
  await convertHfDir(GEMMA3_DIR, out, 'F32');
  const refs = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'gemma3.tokens.json'), 'utf8')) as {
    text: string;
    ids: number[];
  }[];
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    for (const r of refs) assert.deepEqual([...model.tokenize(r.text)], r.ids, JSON.stringify(r.text));
    const turn = [...model.tokenize('<start_of_turn>user\nhi<end_of_turn>', true)];
    assert.deepEqual([turn[0], turn.at(-1)], [GEMMA_START_OF_TURN, GEMMA_END_OF_TURN]);
    assert.equal(model.tokens.bos, 2);
    assert.equal(model.tokens.eos, 1);
  } finally {
    await model.dispose();
  }
});

test("convert hf Gemma3ForConditionalGeneration: llama.cpp's log-probs match the Gemma3 text forward pass (8 heads / 4 KV by default, RoPE ×8 on global layers)", async (t) => {
  const out = join(dir, 'gemma3-mm.run.gguf');
  await convertHfDir(GEMMA3_MM_DIR, out, 'F32');
  const got = await llamaLogProbs(out, PROMPT);
  const ref = (await forwardGemma3(GEMMA3_MM_DIR, PROMPT)).map(logSoftmax);
  let worst = 0;
  for (let p = 0; p < PROMPT.length; p++) worst = Math.max(worst, maxLogProbDiff(got[p]!, ref[p]!));
  t.diagnostic(`max |Δ log p| ${worst.toExponential(2)}`);
  assert.ok(worst < 2e-3, `max |Δ log p| ${worst}`);
});

const WIDE = { hidden: 256, ff: 512, layers: 8, heads: 4, kvHeads: 1, headDim: 64 };

test('gemma3: lowbit quantize plans every file type like llama_model_quantize (tied output, q/k norms)', async (t) => {
  const hf = join(dir, 'gemma3-wide');
  writeFiles(hf, await buildGemma3(WIDE));
  const path = join(dir, 'gemma3-wide.gguf');
  await convertHfDir(hf, path, 'BF16');
  t.diagnostic(`${await assertPlansLikeLlama(path, 'gemma3')} file-type plans equal`);
});

test('gemma3: convert hf --type in one pass equals convert then llama.cpp quantize', async () => {
  const hf = join(dir, 'gemma3-wide-q');
  writeFiles(hf, await buildGemma3(WIDE));
  await assertConvertTypeLikeLlama(hf, dir, ['Q8_0', 'Q4_K_M', 'Q6_K', 'Q4_0'], 'gemma3');
});
