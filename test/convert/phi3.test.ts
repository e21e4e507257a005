import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Token } from 'node-llama-cpp';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { assertSameGguf } from './support/golden-gguf.js';
import { buildPhi3, PHI3_VARIANTS, FIXTURE_ROOT, PHI4_BASE } from './support/fixture-phi3.js';
import { forwardPhi3 } from './support/forward-phi3.js';
import { writeFiles } from './support/synthetic-hf.js';
import { assertPlansLikeLlama, assertConvertTypeLikeLlama } from './support/arch-oracle.js';
import { logSoftmax } from './support/forward-math.js';
import { llamaLogProbs, maxLogProbDiff, cpuLlama } from '../support/llama-logprobs.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-phi3-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('phi3 fixtures are what the generator makes', async () => {
  for (const v of PHI3_VARIANTS) {
    for (const [name, bytes] of await buildPhi3(v)) {
      assert.ok(
        Buffer.from(bytes).equals(readFileSync(join(FIXTURE_ROOT, v, name))),
        `${v}/${name} differs: rerun test/convert/support/fixture-phi3.ts`,
      );
    }
  }
});

for (const v of PHI3_VARIANTS) {
  for (const type of ['F32', 'F16'] as const) {
    test(`convert hf ${v} --type ${type}: the GGUF convert_hf_to_gguf.py writes`, async () => {
      const out = join(dir, `${v}.${type}.gguf`);
      await convertHfDir(join(FIXTURE_ROOT, v), out, type);
      await assertSameGguf(out, join(FIXTURE_ROOT, `${v}.${type}.gguf`));
    });
  }
}

const PROMPTS: Record<string, number[]> = {
  'phi3-mini': [1, 263, 300, 411, 512, 517, 270, 5, 388, 299],
  'phi4-mini': [PHI4_BASE + 3, 263, 300, 41, 77, PHI4_BASE + 2, 270, 5, 288, 299],
};

for (const v of PHI3_VARIANTS) {
  test(`convert hf ${v}: llama.cpp runs it and its log-probs match transformers' Phi3 forward pass`, async (t) => {
    const out = join(dir, `${v}.run.gguf`);
    await convertHfDir(join(FIXTURE_ROOT, v), out, 'F32');
    const PROMPT = PROMPTS[v]!;
    const got = await llamaLogProbs(out, PROMPT);
    const ref = (await forwardPhi3(join(FIXTURE_ROOT, v), PROMPT)).map(logSoftmax);
    let worst = 0;
    for (let p = 0; p < PROMPT.length; p++) worst = Math.max(worst, maxLogProbDiff(got[p]!, ref[p]!));
    t.diagnostic(`max |Δ log p| ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-3, `max |Δ log p| ${worst}`);
    // the reference is sensitive to what it claims to model: a wrong rotary split moves it
    const spread = Math.max(...ref[PROMPT.length - 1]!) - Math.min(...ref[PROMPT.length - 1]!);
    assert.ok(spread > 1, `logits carry signal (${spread})`);
  });
}

// wider models (row lengths that fit the k-quants' 256-blocks, 8 layers for the layer-position rules)
for (const v of PHI3_VARIANTS) {
  test(`${v}: lowbit quantize plans every file type like llama_model_quantize (fused attn_qkv, ffn_up)`, async (t) => {
    const hf = join(dir, `${v}-wide`);
    writeFiles(hf, await buildPhi3(v, { hidden: 256, ff: 512, layers: 8, heads: 4 }));
    const path = join(dir, `${v}-wide.gguf`);
    await convertHfDir(hf, path, 'F16');
    t.diagnostic(`${await assertPlansLikeLlama(path, v)} file-type plans equal`);
  });
  test(`${v}: convert hf --type in one pass equals convert then llama.cpp quantize`, async () => {
    const hf = join(dir, `${v}-wide-q`);
    writeFiles(hf, await buildPhi3(v, { hidden: 256, ff: 512, layers: 8, heads: 4 }));
    await assertConvertTypeLikeLlama(hf, dir, ['Q8_0', 'Q4_K_M', 'Q6_K', 'Q3_K_S'], v);
  });
}

test('phi3 vocab: llama.cpp tokenizes multilingual, code and whitespace text as SentencePiece does, special tokens by id', async () => {
  const out = join(dir, 'phi3-tok.gguf');
  await convertHfDir(join(FIXTURE_ROOT, 'phi3-mini'), out, 'F32');
  const refs = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'phi3-mini.tokens.json'), 'utf8')) as {
    text: string;
    ids: number[];
  }[];
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    for (const r of refs) assert.deepEqual([...model.tokenize(r.text)], r.ids, JSON.stringify(r.text));
    assert.deepEqual(
      [...model.tokenize('<|user|>\nhi<|end|>', true)].filter((t) => (t as number) >= 512),
      [517, 516],
    );
    assert.deepEqual([...model.tokenize('<|user|>', false)].includes(517 as Token), false);
    assert.equal(model.tokens.eos, 512);
  } finally {
    await model.dispose();
  }
});

test("phi4-mini vocab (GPT2Tokenizer): o200k byte-level BPE, pre gpt-4o, tokenized by llama.cpp as by transformers' tokenizer", async () => {
  const d = join(FIXTURE_ROOT, 'phi4-mini');
  const out = join(dir, 'phi4-tok.gguf');
  await convertHfDir(d, out, 'F32');
  const { PreTrainedTokenizer } = await import('@huggingface/transformers');
  const ref = new PreTrainedTokenizer(
    JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(d, 'tokenizer_config.json'), 'utf8')),
  );
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    for (const text of [
      "The other brother's weather, THE FOX!",
      'Grüße, 日本語 and русский 🙂 1234567',
      'def f(self):\n\treturn self.x  # ok',
      '<|user|>hi there<|end|><|assistant|>',
    ]) {
      assert.deepEqual(
        [...model.tokenize(text, true)],
        ref.encode(text, { add_special_tokens: false }),
        JSON.stringify(text),
      );
    }
    assert.equal(model.tokens.eos, PHI4_BASE);
  } finally {
    await model.dispose();
  }
});
