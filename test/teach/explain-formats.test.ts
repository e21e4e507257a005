// Teaching text: grammar, format lists without duplicates, `explain --format <file type>` telling
// the mix from the plan rules, `explain VALUE --format T` decoding where the value lands, and the
// requires-imatrix statements agreeing with what quantize refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { codecs, codecByName } from '../../src/formats/registry.js';
import { scalarFormats } from '../../src/formats/scalar/registry.js';
import { FILE_TYPES } from '../../src/plan/file-types.js';
import { describeFileTypeMix } from '../../src/teach/file-type-mix.js';
import { describeFormat } from '../../src/teach/formats.js';
import { valueInBlockFormat, valueInScalarFormat } from '../../src/teach/value-in-format.js';
import { quantizeFile } from '../../src/node/files.js';
import { LowbitError } from '../../src/errors.js';
import { writeSyntheticLlama } from '../pipeline/synthetic-model.js';

// what `lowbit quantize` refuses without --imatrix (llama.cpp's list; see README and src/plan)
const NEED_IMATRIX = ['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ3_XXS', 'IQ3_XS', 'Q2_K_S'];

test('levels: "1 bit gives", "N bits give"', () => {
  assert.match(runCli(['levels', '--bits', '1']).stdout, /^1 bit gives 2\^1 = 2 levels/);
  assert.match(runCli(['levels', '--bits', '3']).stdout, /^3 bits give 2\^3 = 8 levels/);
  // a bit width that is not a number is quoted as typed, not shown as NaN or 0
  assert.equal(
    runCli(['levels', '--bits', 'abc']).stderr,
    'lowbit: bits must be a whole number from 1 to 16, got "abc"\n',
  );
  assert.equal(
    runCli(['explain', '0.3', '--bits', '8,']).stderr,
    'lowbit: bits must be a whole number from 1 to 16, got ""\n',
  );
});

test('the list of known formats names each format once', () => {
  const r = runCli(['explain', '--format', 'Q9_9']);
  assert.equal(r.code, 1);
  const names = /known: (.*)$/m.exec(r.stderr)![1]!.split(', ');
  assert.equal(new Set(names).size, names.length, `duplicates in ${names.join(' ')}`);
  for (const n of ['Q4_K', 'Q4_K_M', 'IQ3_XS', 'BF16', 'NF4', 'INT4']) assert.ok(names.includes(n), n);
});

test('requires-imatrix: the file-type mix, the file-type summaries and the block-format text agree with what quantize refuses', async () => {
  for (const ft of FILE_TYPES) {
    const needs = NEED_IMATRIX.includes(ft.name);
    assert.equal(describeFileTypeMix(ft).requiresImatrix, needs, `mix of ${ft.name}`);
    assert.equal(ft.summary.includes('needs an imatrix'), needs, `summary of ${ft.name}: ${ft.summary}`);
  }
  // quantize itself: refused before writing, on a model whose rows fit every type (8 layers)
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-teach-'));
  try {
    const m = join(dir, 'm.gguf');
    await writeSyntheticLlama(m, { nLayer: 8, nEmbd: 256, nHead: 4, nFf: 512, nVocab: 256, compactRows: 4, seed: 2 });
    for (const name of NEED_IMATRIX) {
      await assert.rejects(
        quantizeFile(m, join(dir, 'out.gguf'), { type: name as 'IQ1_S' }),
        (e: unknown) => e instanceof LowbitError && /requires an importance matrix/.test((e as Error).message),
        name,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // block formats: ggml's own refusal, or llama.cpp's per tensor
  for (const c of codecs()) {
    const t = describeFormat(c).text;
    const llamaNeeds = ['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS'].includes(c.name);
    assert.equal(/needs an importance matrix(?! only)/.test(t), llamaNeeds, `${c.name}: ${t}`);
  }
  assert.match(describeFormat(codecByName('Q2_K')!).text, /only in the Q2_K_S file type/);
});

test('explain --format Q4_K_M: the mix, tensor by tensor, from the plan rules', () => {
  const r = runCli(['explain', '--format', 'q4_k_m']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Q4_K_M: a llama\.cpp file type \(general\.file_type 15\): most weights Q4_K/);
  assert.match(r.stdout, /attn_v\.weight\s+Q6_K in layers 0-3, 6, 9, .*; Q4_K in layers 4, 5, 7/);
  assert.match(r.stdout, /output\.weight\s+Q6_K/);
  assert.match(r.stdout, /attn_q\.weight\s+Q4_K\n/);
  assert.match(r.stdout, /overall 4\.\d\d bits per weight/);
  assert.match(r.stdout, /Runs without an importance matrix/);
  const x = runCli(['explain', '--format', 'IQ3_XS']);
  assert.match(x.stdout, /refuse IQ3_XS without --imatrix \(\d+ tensors would be IQ3_XXS\)/);
  const j = JSON.parse(runCli(['explain', '--format', 'Q2_K_S', '--json']).stdout);
  assert.equal(j.requiresImatrix, true);
});

test('explain VALUE --format T: stored scale, code and bytes, checked against the codec', () => {
  const q40 = valueInBlockFormat(codecByName('Q4_0')!, 0.3);
  // 0.3 is the block's largest magnitude: d = -0.3/8 in FP16, code 0, read back (0 - 8)·d
  assert.equal(q40.code, 0);
  assert.ok(Math.abs(q40.scale! - -0.3 / 8) < 1e-4, `${q40.scale}`);
  assert.ok(Math.abs(q40.storedAs - 0.3) < 1e-4);
  assert.equal(q40.blockBytes!.split(' ').length, 18);
  const q80 = valueInBlockFormat(codecByName('Q8_0')!, 0.3);
  assert.equal(q80.code, 127);
  for (const c of codecs()) {
    const v = valueInBlockFormat(c, 0.1);
    assert.ok(Number.isFinite(v.storedAs), c.name);
    assert.equal(v.blockBytes!.split(' ').length, c.type.typeSize, c.name);
    assert.doesNotMatch(v.text, /undefined|NaN|  \S.*  $/m, c.name);
  }
  for (const f of scalarFormats()) assert.ok(Number.isFinite(valueInScalarFormat(f, 0.3).storedAs), f.name);
  const r = runCli(['explain', '0.3', '--format', 'Q4_0']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stored scale d = -0\.0375\d* \(FP16, bytes 0-1\)/);
  assert.match(
    r.stdout,
    /the value's code: q = 0 \(4 bits, 0000\), read back as \(q − 8\)·d = \(0 − 8\)·-0\.0375\d* = 0\.300049/,
  );
  const fp8 = runCli(['explain', '0.3', '--format', 'FP8_E4M3']);
  assert.match(fp8.stdout, /stored as 0\.3125/);
  const ft = runCli(['explain', '0.3', '--format', 'Q4_K_M']);
  assert.equal(ft.code, 1);
  assert.match(ft.stderr, /^lowbit: Q4_K_M is a file type .*--format Q4_K\n$/);
});
