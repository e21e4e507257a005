// lowbit compare through the CLI, on real files: stories260K GGUFs and the MNIST CNN quantized by
// lowbit's own ONNX quantizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, cli, storiesModels } from '../eval/models.js';
import { decodeModel } from '../../src/io/onnx/model.js';
import { tensorToFloat32 } from '../../src/io/onnx/tensor.js';
import { finiteRange } from '../../src/analysis/histogram.js';

const CNN = join(ROOT, '../shared/data/mnist-cnn.onnx');

function run(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
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

test(
  'compare ONNX: int8 and 4-bit weights dequantized through their scales and zero points',
  { skip: !existsSync(CNN) && `MNIST CNN missing at ${CNN}` },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-'));
    const q8 = join(dir, 'q8.onnx'),
      q4 = join(dir, 'q4.onnx');
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
      const lo = Math.min(0, mn),
        hi = Math.max(0, mx);
      assert.ok(t.stats.maxAbs <= ((hi - lo) / 255 / 2) * 1.0001 + 1e-9, `${name}: max ${t.stats.maxAbs}`);
      assert.ok(t.stats.maxAbs > 0);
    }
    const fc1 = r4.tensors.find((x: { name: string }) => x.name === 'fc1.weight');
    assert.match(fc1.typeB, /MatMulNBits 4-bit/);
    assert.ok(fc1.stats.sqnrDb < r8.tensors.find((x: { name: string }) => x.name === 'fc1.weight').stats.sqnrDb);
    assert.ok(fc1.bitsPerWeightB > 4 && fc1.bitsPerWeightB < 6);
  },
);

test('compare safetensors vs safetensors: F32 against BF16/F16 copies and integer dtypes, streamed in chunks', async () => {
  const { writeHfFixture, HF_FIXTURE_DIR } = await import('../support/hf-fixture.js');
  const { compareSafetensors } = await import('../../src/analysis/compare-safetensors.js');
  const { openSafetensorsDir } = await import('../../src/node/safetensors-files.js');
  const { writeSafetensors } = await import('../../src/io/safetensors/writer.js');
  const { BufferSink } = await import('../../src/io/source.js');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-st-'));
  try {
    await writeHfFixture(join(dir, 'bf16'), { arch: 'llama', dtype: 'BF16' });
    await writeHfFixture(join(dir, 'f16'), { arch: 'llama', dtype: 'F16' });
    const ref = join(HF_FIXTURE_DIR, 'model.safetensors');
    const bf = JSON.parse(cli(['compare', ref, join(dir, 'bf16', 'model.safetensors'), '--json']));
    const hf = JSON.parse(cli(['compare', ref, join(dir, 'f16'), '--json'])); // B as a directory
    assert.equal(bf.tensors.length, 47);
    const q = bf.tensors.find((t: { name: string }) => t.name === 'model.layers.0.self_attn.q_proj.weight');
    assert.equal(q.typeA, 'F32');
    assert.equal(q.typeB, 'BF16');
    assert.equal(q.bitsPerWeightB, 16);
    // bf16 keeps 8 mantissa bits (~50 dB), f16 11 (~68 dB)
    assert.ok(bf.total.sqnrDb > 45 && bf.total.sqnrDb < 60, String(bf.total.sqnrDb));
    assert.ok(hf.total.sqnrDb > bf.total.sqnrDb + 10, String(hf.total.sqnrDb));
    const text = cli(['compare', ref, join(dir, 'bf16', 'model.safetensors')]);
    assert.match(text, /model\.embed_tokens\.weight\s+\[512, 64\]\s+F32\s+BF16\s+16/);
    // the same numbers whatever the chunk size (chunks of 1000 values cut rows)
    const a = await openSafetensorsDir(HF_FIXTURE_DIR),
      b = await openSafetensorsDir(join(dir, 'bf16'));
    try {
      const small = await compareSafetensors(
        { name: 'a', sizeBytes: 0, set: a },
        { name: 'b', sizeBytes: 0, set: b },
        { chunkElements: 1000 },
      );
      assert.ok(Math.abs(small.total.sqnrDb - bf.total.sqnrDb) < 1e-9);
      assert.equal(small.total.maxAbs, bf.total.maxAbs);
    } finally {
      await a.close();
      await b.close();
    }
    // integer dtypes decode to their values: I8 [1, -2, 3, 4] vs I32 [1, -2, 3, 0] → one error of 4
    const ints = async (name: string, dtype: 'I8' | 'I32', vals: number[]) => {
      const s = new BufferSink();
      const bytes =
        dtype === 'I8' ? new Uint8Array(Int8Array.from(vals).buffer) : new Uint8Array(Int32Array.from(vals).buffer);
      await writeSafetensors(s, [
        { name: 'w', dtype, shape: [2, 2], data: () => bytes },
        { name: 'only_' + dtype, dtype: 'U8', shape: [1], data: () => new Uint8Array(1) },
      ]);
      writeFileSync(join(dir, name), s.bytes());
      return join(dir, name);
    };
    const r = JSON.parse(
      cli([
        'compare',
        await ints('i8.safetensors', 'I8', [1, -2, 3, 4]),
        await ints('i32.safetensors', 'I32', [1, -2, 3, 0]),
        '--json',
      ]),
    );
    const w = r.tensors.find((t: { name: string }) => t.name === 'w');
    assert.deepEqual([w.typeA, w.typeB, w.stats.maxAbs, w.stats.rmse], ['I8', 'I32', 4, 2]);
    assert.deepEqual([r.onlyInA, r.onlyInB], [['only_I8'], ['only_I32']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare safetensors (HF checkpoint) vs GGUF converted from it: names mapped, Q/K rows permuted back', async () => {
  const { writeRealisticFixture } = await import('../convert/support/realistic-fixture.js');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-st-'));
  try {
    const ck = join(dir, 'llama3');
    await writeRealisticFixture(ck, 'llama3');
    cli(['convert', 'hf', ck, join(dir, 'f32.gguf')]);
    cli(['convert', 'hf', ck, join(dir, 'q8.gguf'), '--type', 'Q8_0']);
    // F32 holds the bf16 values exactly: every tensor identical once names and q/k rows map
    const f = JSON.parse(cli(['compare', ck, join(dir, 'f32.gguf'), '--json']));
    assert.equal(f.tensors.length, 21);
    for (const t of f.tensors) assert.equal(t.stats.sqnrDb, 'Infinity', t.name);
    assert.deepEqual(f.onlyInB, ['rope_freqs.weight']);
    const q = JSON.parse(cli(['compare', join(ck, 'model.safetensors.index.json'), join(dir, 'q8.gguf'), '--json']));
    const qk = q.tensors.find(
      (t: { name: string }) => t.name === 'model.layers.1.self_attn.k_proj.weight → blk.1.attn_k.weight',
    );
    assert.equal(qk.typeB, 'Q8_0');
    assert.deepEqual(qk.dims, [256, 128]);
    assert.ok(qk.stats.sqnrDb > 35 && qk.stats.sqnrDb < 60, String(qk.stats.sqnrDb)); // unpermuted rows would be ~0 dB
    const text = cli(['compare', ck, join(dir, 'q8.gguf')]);
    assert.match(
      text,
      /model\.layers\.0\.self_attn\.q_proj\.weight → blk\.0\.attn_q\.weight\s+\[256, 256\]\s+BF16\s+Q8_0\s+8\.5/,
    );
    // the reference must be A
    const r = run(['compare', join(dir, 'q8.gguf'), ck]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lowbit: a safetensors checkpoint is the reference: give it as A/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    // a bad safetensors header: one line naming the file
    writeFileSync(
      join(dir, 'bad.safetensors'),
      Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a"')]),
    );
    const bad = run(['compare', join(dir, 'bad.safetensors'), join(dir, 'q8.gguf')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^lowbit: .*bad\.safetensors: header is not valid JSON/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
