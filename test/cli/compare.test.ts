// lowbit compare through the CLI, on real files: stories260K GGUFs and the MNIST CNN quantized by
// lowbit's own ONNX quantizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, cli, storiesModels } from '../eval/models.js';
import { decodeModel } from '../../src/io/onnx/model.js';
import { tensorToFloat32 } from '../../src/io/onnx/tensor.js';
import { finiteRange } from '../../src/analysis/histogram.js';

const CNN = join(ROOT, '../shared/data/mnist-cnn.onnx');

function run(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('compare GGUF: table, totals, worst list; JSON with every tensor', () => {
  const m = storiesModels();
  const text = cli(['compare', m.f32, m.q4]);
  assert.match(text, /blk\.0\.attn_q\.weight\s+\[64, 64\]\s+F32\s+Q4_0\s+4\.5/);
  assert.match(text, /^total over 47 tensors/m);
  assert.match(text, /worst tensors \(lowest SQNR\):/);
  const j = JSON.parse(cli(['compare', m.f32, m.q8, '--json']));
  assert.equal(j.tensors.length, 47);
  assert.ok(j.total.sqnrDb > 30);
  const norm = j.tensors.find((t: { name: string }) => t.name === 'output_norm.weight');
  assert.equal(norm.stats.sqnrDb, 'Infinity'); // identical tensors: not null
  const q4 = JSON.parse(cli(['compare', m.f32, m.q4, '--json']));
  assert.ok(q4.total.sqnrDb < j.total.sqnrDb - 10);
});

test('compare errors are one line', () => {
  const m = storiesModels();
  const r = run(['compare', m.f32, join(ROOT, 'package.json')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^lowbit: .*package\.json: neither GGUF .* nor ONNX/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const missing = run(['compare', m.f32, '/nonexistent.gguf']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^lowbit: .*no such file/i);
});

test('compare ONNX: int8 and 4-bit weights dequantized through their scales and zero points', { skip: !existsSync(CNN) && `MNIST CNN missing at ${CNN}` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-'));
  const q8 = join(dir, 'q8.onnx'), q4 = join(dir, 'q4.onnx');
  cli(['quantize', CNN, q8, '--type', 'q8']);
  cli(['quantize', CNN, q4, '--type', 'q4']);
  const r8 = JSON.parse(cli(['compare', CNN, q8, '--json']));
  const r4 = JSON.parse(cli(['compare', CNN, q4, '--json']));
  const ref = decodeModel(new Uint8Array(readFileSync(CNN)));
  for (const name of ['conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight']) {
    const t = r8.tensors.find((x: { name: string }) => x.name === name);
    assert.ok(t, `${name} compared`);
    assert.match(t.typeB, /INT8/);
    // 8-bit affine rounding moves a weight by at most half a step of its range (+ zero widened in)
    const w = tensorToFloat32(ref.graph!.initializer.find((i) => i.name === name)!);
    const [mn, mx] = finiteRange(w);
    const lo = Math.min(0, mn), hi = Math.max(0, mx);
    assert.ok(t.stats.maxAbs <= (hi - lo) / 255 / 2 * 1.0001 + 1e-9, `${name}: max ${t.stats.maxAbs}`);
    assert.ok(t.stats.maxAbs > 0);
  }
  const fc1 = r4.tensors.find((x: { name: string }) => x.name === 'fc1.weight');
  assert.match(fc1.typeB, /MatMulNBits 4-bit/);
  assert.ok(fc1.stats.sqnrDb < r8.tensors.find((x: { name: string }) => x.name === 'fc1.weight').stats.sqnrDb);
  assert.ok(fc1.bitsPerWeightB > 4 && fc1.bitsPerWeightB < 6);
});
