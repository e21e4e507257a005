import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { assertSameGguf } from './support/golden-gguf.js';
import { FIXTURE_ROOT } from './support/fixture-phi3.js';
import { buildGptOss, GPT_OSS_DIR, GPT_OSS_BF16_DIR } from './support/fixture-gpt-oss.js';
import { forwardGptOss } from './support/forward-gpt-oss.js';
import { logSoftmax } from './support/forward-math.js';
import { llamaLogProbs, maxLogProbDiff, cpuLlama } from '../support/llama-logprobs.js';
import { writeFiles } from './support/synthetic-hf.js';
import { assertPlansLikeLlama, assertConvertTypeLikeLlama, llamaOracle } from './support/arch-oracle.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { runCli } from '../support/cli.js';

const TEXTS = [
  "The quick brown fox jumps over the lazy dog. IT'S the fox's DEN, isn't it?",
  'Grüße aus München! Ça va? 日本語のテキスト, русский текст, عربى 🙂🦙',
  'def forward(self, x):\n    return self.linear(x) + 12345 * 3.14  # the residual\n\n\tprint(i)',
  '<|start|>user<|message|>Hello there<|end|><|start|>assistant<|channel|>final<|message|>',
];

const dir = mkdtempSync(join(tmpdir(), 'lowbit-gptoss-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('gpt-oss fixtures are what the generator makes', async () => {
  for (const [d, bf16] of [
    [GPT_OSS_DIR, false],
    [GPT_OSS_BF16_DIR, true],
  ] as const) {
    for (const [name, bytes] of await buildGptOss({}, bf16)) {
      assert.ok(
        Buffer.from(bytes).equals(readFileSync(join(d, name))),
        `${d}/${name} differs: rerun test/convert/support/fixture-gpt-oss.ts`,
      );
    }
  }
});

for (const type of ['F32', 'F16'] as const) {
  test(`convert hf gpt-oss --type ${type}: the GGUF convert_hf_to_gguf.py writes (MXFP4 experts re-laid out, sinks, biases, o200k BPE)`, async () => {
    const out = join(dir, `gpt-oss.${type}.gguf`);
    await convertHfDir(GPT_OSS_DIR, out, type);
    await assertSameGguf(out, join(FIXTURE_ROOT, `gpt-oss.${type}.gguf`));
  });
  test(`convert hf gpt-oss with BF16 experts --type ${type}: the GGUF convert_hf_to_gguf.py writes (experts transposed, gate/up split)`, async () => {
    const out = join(dir, `gpt-oss-bf16.${type}.gguf`);
    await convertHfDir(GPT_OSS_BF16_DIR, out, type);
    await assertSameGguf(out, join(FIXTURE_ROOT, `gpt-oss-bf16.${type}.gguf`));
  });
}

// Two places where llama.cpp's own computation departs from transformers', not from the converted
// file: ggml's YaRN always floors/ceils the correction range (gpt-oss sets rope_scaling.truncate
// false), and its CPU MXFP4 matmul rounds the activations to Q8_0. The reference emulates both
// (forwardGptOss options) to compare at float precision, and also stands without them.
test("convert hf gpt-oss: llama.cpp runs it and its log-probs match transformers' GptOss forward pass (MXFP4 experts, sinks, sliding window 4)", async (t) => {
  const out = join(dir, 'gpt-oss.run.gguf');
  await convertHfDir(GPT_OSS_DIR, out, 'F32');
  const prompt = [315 + 8, 300, 41, 77, 290, 12, 88, 301, 315 + 10, 270, 55, 199];
  const got = await llamaLogProbs(out, prompt);
  const diffs = async (o: Parameters<typeof forwardGptOss>[2]) =>
    (await forwardGptOss(GPT_OSS_DIR, prompt, o)).map(logSoftmax).map((r, p) => maxLogProbDiff(got[p]!, r));
  const ggmlLike = await diffs({ q8: true, rope: { truncate: true } });
  const hf = await diffs({});
  t.diagnostic(
    `max |Δ log p| per position vs reference with ggml's YaRN truncation and Q8_0 activations: ${ggmlLike.map((d) => d.toExponential(1)).join(' ')}`,
  );
  t.diagnostic(`vs the plain transformers reference: ${hf.map((d) => d.toExponential(1)).join(' ')}`);
  const sorted = [...ggmlLike].sort((a, b) => a - b);
  assert.ok(sorted[prompt.length - 2]! < 1e-4, `all positions but one within 1e-4: ${ggmlLike}`);
  assert.ok(sorted[prompt.length - 1]! < 2e-2, `the worst position within 2e-2: ${ggmlLike}`);
  assert.ok(Math.max(...hf) < 0.15, `plain reference within 0.15: ${hf}`);
});

test("gpt-oss vocab: o200k byte-level BPE (pre gpt-4o) tokenized by llama.cpp as by transformers' tokenizer, harmony tokens by id", async () => {
  const out = join(dir, 'gpt-oss-tok.gguf');
  await convertHfDir(GPT_OSS_DIR, out, 'F32');
  const { PreTrainedTokenizer } = await import('@huggingface/transformers');
  const ref = new PreTrainedTokenizer(
    JSON.parse(readFileSync(join(GPT_OSS_DIR, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(GPT_OSS_DIR, 'tokenizer_config.json'), 'utf8')),
  );
  const model = await (await cpuLlama()).loadModel({ modelPath: out });
  try {
    for (const text of TEXTS) {
      const want = ref.encode(text, { add_special_tokens: false });
      assert.deepEqual([...model.tokenize(text, true)], want, JSON.stringify(text));
    }
    assert.equal(model.tokens.eos, 315 + 4);
  } finally {
    await model.dispose();
  }
});

test("convert hf gpt-oss with BF16 experts: llama.cpp's log-probs match the GptOss forward pass (F32 experts: no activation rounding)", async (t) => {
  const out = join(dir, 'gpt-oss-bf16.run.gguf');
  await convertHfDir(GPT_OSS_BF16_DIR, out, 'F32');
  const prompt = [315 + 8, 300, 41, 77, 290, 12, 88, 301, 315 + 10, 270, 55, 199];
  const got = await llamaLogProbs(out, prompt);
  const ref = (await forwardGptOss(GPT_OSS_BF16_DIR, prompt, { rope: { truncate: true } })).map(logSoftmax);
  const d = ref.map((r, p) => maxLogProbDiff(got[p]!, r));
  t.diagnostic(`max |Δ log p| (reference with ggml's YaRN truncation) ${Math.max(...d).toExponential(2)}`);
  assert.ok(Math.max(...d) < 1e-4, `${d}`);
});

const WIDE = { hidden: 256, ff: 256, layers: 8, heads: 4, kvHeads: 2, headDim: 64, experts: 4, used: 2 };

test('gpt-oss: lowbit quantize plans every file type like llama_model_quantize (MXFP4 experts, ffn_down_exps, attn_sinks, router)', async (t) => {
  const hf = join(dir, 'gpt-oss-wide');
  writeFiles(hf, await buildGptOss(WIDE));
  const path = join(dir, 'gpt-oss-wide.gguf');
  await convertHfDir(hf, path, 'F16');
  t.diagnostic(`${await assertPlansLikeLlama(path, 'gpt-oss')} file-type plans equal`);
});

test('gpt-oss: convert hf --type MXFP4_MOE in one pass equals convert then llama.cpp quantize (experts copied as MXFP4)', async () => {
  const hf = join(dir, 'gpt-oss-wide-q');
  writeFiles(hf, await buildGptOss(WIDE));
  await assertConvertTypeLikeLlama(hf, dir, ['MXFP4_MOE'], 'gpt-oss');
});

test('gpt-oss with BF16 experts: plans for every file type, and --type MXFP4_MOE / Q4_K_M / Q8_0 in one pass, equal llama.cpp (experts quantized to MXFP4 by lowbit)', async (t) => {
  const hf = join(dir, 'gpt-oss-bf16-wide');
  writeFiles(hf, await buildGptOss(WIDE, true));
  const path = join(dir, 'gpt-oss-bf16-wide.gguf');
  await convertHfDir(hf, path, 'BF16');
  t.diagnostic(`${await assertPlansLikeLlama(path, 'gpt-oss-bf16')} file-type plans equal`);
  await assertConvertTypeLikeLlama(hf, dir, ['MXFP4_MOE', 'Q4_K_M', 'Q8_0'], 'gpt-oss-bf16');
});

test('gpt-oss: --type Q8_0 / Q4_K_M would requantize the MXFP4 experts: refused like llama.cpp, equal to it with --allow-requantize', async () => {
  const hf = join(dir, 'gpt-oss-wide-r');
  writeFiles(hf, await buildGptOss(WIDE));
  const f32 = join(dir, 'gpt-oss-r.F32.gguf');
  await convertHfDir(hf, f32, 'F32');
  for (const type of ['Q8_0', 'Q4_K_M']) {
    assert.throws(
      () =>
        llamaOracle().quantize(f32, join(dir, 'refused-by-llama.gguf'), { ftype: parseFileType(type).id, nthread: 1 }),
      /requantizing from type mxfp4 is disabled/,
    );
    await assert.rejects(convertHfDir(hf, join(dir, 'refused.gguf'), type), /requantiz/);
    assert.equal(existsSync(join(dir, 'refused.gguf')), false);
  }
  await assertConvertTypeLikeLlama(hf, dir, ['Q8_0', 'Q4_K_M'], 'gpt-oss-requant', { allowRequantize: true });
});

test('CLI: convert hf gpt-oss --type MXFP4_MOE; --type Q8_0 refused in one line naming --allow-requantize; unsupported architectures listed', () => {
  const out = join(dir, 'cli-mxfp4.gguf');
  const ok = runCli(['convert', 'hf', GPT_OSS_DIR, out, '--type', 'MXFP4_MOE']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(out));
  const refused = runCli(['convert', 'hf', GPT_OSS_DIR, join(dir, 'cli-q8.gguf'), '--type', 'Q8_0']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr.trim(), /^lowbit: requantizing from type mxfp4 is disabled .*--allow-requantize/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(join(dir, 'cli-q8.gguf')), false);
  assert.equal(
    runCli(['convert', 'hf', GPT_OSS_DIR, join(dir, 'cli-q8.gguf'), '--type', 'Q8_0', '--allow-requantize']).code,
    0,
  );
  const other = join(dir, 'other-arch');
  writeFiles(
    other,
    new Map([
      [
        'config.json',
        new TextEncoder().encode(JSON.stringify({ architectures: ['FalconForCausalLM'], model_type: 'falcon' })),
      ],
    ]),
  );
  const bad = runCli(['convert', 'hf', other, join(dir, 'x.gguf')]);
  assert.match(
    bad.stderr,
    /FalconForCausalLM\) is not supported; lowbit converts .*Phi3ForCausalLM, Gemma3ForCausalLM, Gemma3ForConditionalGeneration, GptOssForCausalLM/,
  );
});

test('gpt-oss: MXFP4 experts copied in slabs of rows (here 1 to 3 rows, ending inside experts) give the same golden file', async () => {
  const { RAW_WRITE } = await import('../../src/convert/write-gguf.js');
  const saved = RAW_WRITE.slabBytes;
  try {
    for (const bytes of [34, 100]) {
      RAW_WRITE.slabBytes = bytes;
      const out = join(dir, `gpt-oss-slab${bytes}.gguf`);
      await convertHfDir(GPT_OSS_DIR, out, 'F16');
      await assertSameGguf(out, join(FIXTURE_ROOT, 'gpt-oss.F16.gguf'));
    }
  } finally {
    RAW_WRITE.slabBytes = saved;
  }
});
