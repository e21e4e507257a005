// --encoder gptq end to end on a real trained model: brown-3m calibrated in llama.cpp
// (`quantize --calibrate TEXT --encoder gptq`), the file loaded and run by llama.cpp (`lowbit eval`),
// its KL divergence against the F32 model below that of the file quantized with the same importance
// matrix by ggml's own encoder (same types), on text the calibration never saw (documents the model
// writes, seed 1); `convert hf` writes the same bytes. Without --calibrate the CLI refuses in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, REPO } from '../support/cli.js';
import { klOn, writeEvalText } from '../support/eval-text.js';

const hasLib = existsSync(join(REPO, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so'));
const skip = hasLib ? false : 'node-llama-cpp linux-x64 binaries not installed';
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-gptq-engine-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('--encoder gptq without --calibrate: one line, non-zero exit, nothing written', () => {
  const out = join(dir, 'never.gguf');
  const r = runCli(['quantize', 'fixtures/brown-3m/model.safetensors', out, '--type', 'Q4_K_M', '--encoder', 'gptq']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr.trim(), /^lowbit: .*--encoder gptq needs .*--calibrate/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(out));
});

test(
  'brown-3m: --calibrate --encoder gptq files run in llama.cpp with lower KL than ggml’s encoding',
  { skip, timeout: 1_800_000 },
  () => {
    const f32 = join(dir, 'f32.gguf');
    assert.equal(runCli(['convert', 'hf', 'fixtures/brown-3m', f32]).code, 0);
    const evalText = join(dir, 'eval.txt');
    writeEvalText(f32, evalText);
    // a calibration text that is not there: one line naming the option, nothing written
    const bad = runCli([
      'quantize',
      f32,
      join(dir, 'bad.gguf'),
      '--type',
      'Q4_K_M',
      '--calibrate',
      join(dir, 'missing.txt'),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^lowbit: cannot read --calibrate .*missing\.txt: ENOENT$/m);
    assert.ok(!existsSync(join(dir, 'bad.gguf')));
    const kl = (file: string) => klOn(file, f32, evalText);
    const cal = ['--calibrate', 'test/fixtures/imatrix/calib.txt', '--ctx', '128', '--threads', '2'];
    for (const type of ['Q4_K_M', 'Q2_K']) {
      const mine = join(dir, `${type}-gptq.gguf`),
        im = join(dir, `${type}.imatrix.gguf`),
        plain = join(dir, `${type}-ggml.gguf`);
      const r = runCli(['quantize', f32, mine, '--type', type, ...cal, '--encoder', 'gptq', '--save-imatrix', im], {
        timeoutMs: 900_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /--encoder gptq/);
      assert.equal(runCli(['quantize', f32, plain, '--type', type, '--imatrix', im]).code, 0);
      const [kg, kp] = [kl(mine), kl(plain)];
      process.stdout.write(
        `# ${type}: KL ${kg.toFixed(6)} with --encoder gptq, ${kp.toFixed(6)} with ggml's (${(kg / kp).toFixed(2)}×)\n`,
      );
      assert.ok(kg < 0.9 * kp, `${type}: KL ${kg} with gptq, ${kp} without`);
    }
    // convert hf calibrates on its temporary F32 and writes the same bytes as quantize on that F32
    const conv = join(dir, 'convert-gptq.gguf');
    const c = runCli(
      [
        'convert',
        'hf',
        'fixtures/brown-3m',
        conv,
        '--type',
        'Q4_K_M',
        ...cal,
        '--encoder',
        'gptq',
        '--save-imatrix',
        join(dir, 'Q4_K_M.imatrix.gguf'),
      ],
      { timeoutMs: 900_000 },
    );
    assert.equal(c.code, 0, c.stderr);
    assert.ok(readFileSync(conv).equals(readFileSync(join(dir, 'Q4_K_M-gptq.gguf'))), 'convert hf == quantize');
    // a memory budget of one layer's matrices: one pass per layer, the same bytes
    const small = join(dir, 'Q4_K_M-gptq-passes.gguf');
    const p = runCli(
      [
        'quantize',
        f32,
        small,
        '--type',
        'Q4_K_M',
        ...cal,
        '--encoder',
        'gptq',
        '--save-imatrix',
        join(dir, 'Q4_K_M.imatrix.gguf'),
      ],
      { timeoutMs: 900_000, env: { ...process.env, LOWBIT_GPTQ_MEMORY: '8000000' } },
    );
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /pass 4 of 4 \(layer 3\)/);
    assert.ok(
      readFileSync(small).equals(readFileSync(join(dir, 'Q4_K_M-gptq.gguf'))),
      'one pass per layer == one pass',
    );
  },
);

test(
  'brown-3m: --target-size --encoder gptq chooses types for GPTQ’s rounding, --refine judges GPTQ files; runs in llama.cpp below the same-types gptq file',
  { skip, timeout: 1_800_000 },
  () => {
    // the previous test's files: the F32 model, its eval text, and the same-types Q4_K_M gptq file
    const f32 = join(dir, 'f32.gguf'),
      same = join(dir, 'Q4_K_M-gptq.gguf'),
      evalText = join(dir, 'eval.txt');
    assert.ok(existsSync(same), 'the previous test wrote its Q4_K_M gptq file');
    const size = statSync(same).size;
    const cal = ['--calibrate', 'test/fixtures/imatrix/calib.txt', '--ctx', '128', '--threads', '2'];
    const args = (out: string) => ['quantize', f32, out, '--target-size', String(size), ...cal, '--encoder', 'gptq'];
    const one = join(dir, 'target-gptq.gguf');
    const r = runCli([...args(one), '--json'], { timeoutMs: 900_000 });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.match(j.target.measure, /GPTQ-encoded/);
    assert.ok(statSync(one).size <= size && statSync(one).size >= 0.99 * size);
    // the search's passes over the text again when the matrices need several: the same bytes
    const passes = join(dir, 'target-gptq-passes.gguf');
    const p = runCli(args(passes), {
      timeoutMs: 900_000,
      env: { ...process.env, LOWBIT_GPTQ_MEMORY: '8000000' },
    });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(passes).equals(readFileSync(one)), 'one pass per layer == one pass');
    // --refine: its judged files are GPTQ's
    const refined = join(dir, 'target-gptq-refined.gguf');
    const f = runCli([...args(refined), '--refine', '2', '--json'], { timeoutMs: 900_000 });
    assert.equal(f.code, 0, f.stderr);
    assert.match(JSON.parse(f.stdout).target.refine.judge, /GPTQ's encoder/);
    assert.ok(statSync(refined).size <= size);
    const [kt, kr, ks] = [one, refined, same].map((x) => klOn(x, f32, evalText));
    process.stdout.write(
      `# Q4_K_M's size: KL ${kt!.toFixed(6)} --target-size --encoder gptq, ${kr!.toFixed(6)} with --refine 2, ${ks!.toFixed(6)} same types gptq\n`,
    );
    assert.ok(kt! < ks!, `target ${kt} vs same types ${ks}`);
    assert.ok(kr! <= kt! * 1.02, `refined ${kr} vs ${kt}`);
  },
);
