// `lowbit explain --format` for scalar formats (FP8, INTn, NF4, FP16): the level grid through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/cli.js';

test('lowbit explain --format FP8_E4M3 / INT4 / NF4 print the level grid', () => {
  const fp8 = runCli(['explain', '--format', 'FP8_E4M3']);
  assert.equal(fp8.code, 0, fp8.stderr);
  assert.match(fp8.stdout, /^FP8_E4M3FN \(8 bits, floating point\)/);
  assert.match(fp8.stdout, /253 finite values from -448 to 448/);
  const i4 = runCli(['explain', '--format', 'int4', '--json']);
  assert.equal(i4.code, 0, i4.stderr);
  const j = JSON.parse(i4.stdout);
  assert.deepEqual([j.name, j.levels.count, j.levels.min, j.levels.max], ['INT4', 16, -8, 7]);
  const nf4 = runCli(['explain', '--format', 'NF4']);
  assert.match(nf4.stdout, /16, from -1 to 1/);
  // ggml's own F16/BF16 keep their block-format description; FP16 is the scalar one
  assert.match(runCli(['explain', '--format', 'bf16']).stdout, /ggml type/);
  assert.match(runCli(['explain', '--format', 'FP16']).stdout, /^FP16 \(16 bits, floating point\)/);
});

test('an unknown format names the scalar ones too, on one line', () => {
  const r = runCli(['explain', '--format', 'FP7']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^lowbit: unknown format "FP7"; known: .*FP8_E4M3FN.*NF4/);
});
