// lowbit eval through the CLI: GGUF in llama.cpp, ONNX in ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, cli, storiesModels } from '../eval/models.js';

const CNN = join(ROOT, '../shared/data/mnist-cnn.onnx');

test('eval GGUF: text output names the settings and the method; JSON has the numbers', () => {
  const m = storiesModels();
  const out = cli(['eval', m.q8, '--ref', m.f32, '--ctx', '64', '--chunks', '3']);
  assert.match(out, /mean KL\(ref ‖ model\)/);
  assert.match(out, /same top token/);
  assert.match(out, /KV cache F32 keys and values; flash attention off/);
  assert.match(out, /only the second half of each chunk scored \(93 positions scored\)/);
  const j = JSON.parse(cli(['eval', m.q4, '--ref', m.f32, '--ctx', '64', '--chunks', '3', '--json']));
  assert.equal(j.scored, 93);
  assert.ok(j.klMean > 0 && j.klP99 >= j.klMean && j.sameTopPct <= 100);
  assert.ok(j.ppTokPerSec > 0 && j.genTokPerSec > 0 && j.sizeBytes > 0);
});

test('eval errors are one line', () => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'eval', storiesModels().q8, '--ctx', 'x'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "lowbit: --ctx must be a positive integer, got 'x'\n");
});

test('eval ONNX with MNIST labels', { skip: !existsSync(CNN) && `MNIST CNN missing at ${CNN}` }, () => {
  const out = cli([
    'eval',
    CNN,
    '--ref',
    CNN,
    '--inputs',
    'test/fixtures/mnist/t10k-images-idx3-ubyte.gz',
    '--labels',
    'test/fixtures/mnist/t10k-labels-idx1-ubyte.gz',
    '--limit',
    '200',
    '--pixels',
    'mnist',
  ]);
  assert.match(out, /top-1 agreement \(output\): 100\.00%/);
  assert.match(out, /accuracy: model (9\d\.\d\d)%, ref \1%/);
  assert.match(out, /latency per run \(median\)/);
});
