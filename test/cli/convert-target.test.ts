// convert hf takes quantize's size-target options (one definition: src/cli/target-options.ts),
// --sensitivity included: engine measures on a temporary F32 conversion, a saved file is reused.
// On the real brown-3m the result equals converting to F32 and then running lowbit quantize with
// the same options, and it runs in llama.cpp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, REPO } from '../support/cli.js';
import { llamaLogProbs } from '../support/llama-logprobs.js';

const BROWN = join(REPO, 'fixtures/brown-3m');

test(
  'convert hf --target-size --sensitivity engine|FILE --target-types --encoder best = convert to F32, then quantize; runs in llama.cpp',
  { skip: !existsSync(join(BROWN, 'model.safetensors')) && 'fixtures/brown-3m is absent' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-convert-target-'));
    try {
      const f32 = join(dir, 'f32.gguf');
      let r = runCli(['convert', 'hf', BROWN, f32]);
      assert.equal(r.code, 0, r.stderr);
      const size = String(Math.round(statSync(f32).size * 0.17));
      const opts = ['--target-size', size, '--target-types', 'Q8_0,Q6_K,Q5_K,Q4_K,Q4_0,Q3_K,Q2_K'];
      // quantize on the converted file, measuring the sensitivities in llama.cpp (saved by --json)
      const viaQuantize = join(dir, 'q.gguf');
      r = runCli(['quantize', f32, viaQuantize, ...opts, '--sensitivity', 'engine', '--json'], {
        timeoutMs: 1_200_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const sens = JSON.parse(r.stdout).target.sensitivity;
      assert.ok(sens && Object.keys(sens.kl).length >= 3, JSON.stringify(sens));
      const sensFile = join(dir, 'sens.json');
      writeFileSync(sensFile, JSON.stringify(sens));
      // convert hf in one pass, engine: the same measurement on its temporary F32, the same bytes
      const viaConvert = join(dir, 'c.gguf');
      r = runCli(['convert', 'hf', BROWN, viaConvert, ...opts, '--sensitivity', 'engine'], { timeoutMs: 1_200_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        readFileSync(viaConvert).equals(readFileSync(viaQuantize)),
        'convert hf --sensitivity engine = quantize',
      );
      assert.ok(statSync(viaConvert).size <= Number(size));
      // the saved measurement, with --encoder best too
      const fromFile = join(dir, 'f.gguf'),
        fromFileQ = join(dir, 'fq.gguf');
      r = runCli(['convert', 'hf', BROWN, fromFile, ...opts, '--sensitivity', sensFile, '--encoder', 'best']);
      assert.equal(r.code, 0, r.stderr);
      r = runCli(['quantize', f32, fromFileQ, ...opts, '--sensitivity', sensFile, '--encoder', 'best']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(fromFile).equals(readFileSync(fromFileQ)), 'convert hf --sensitivity FILE = quantize');
      // both run in llama.cpp: finite log-probabilities
      const tokens = [1, 45, 17, 300, 12, 88, 5, 61];
      for (const file of [viaConvert, fromFile]) {
        const lp = await llamaLogProbs(file, tokens);
        assert.equal(lp.length, tokens.length);
        for (const p of lp)
          assert.ok(
            p.every((x) => x <= 0 && !Number.isNaN(x)),
            file,
          );
      }
      // bad uses: one line each, nothing written
      const bad = join(dir, 'bad.gguf');
      for (const [args, msg] of [
        [
          ['--sensitivity', 'engine'],
          /--sensitivity applies to quantized output types|--sensitivity needs --target-size/,
        ],
        [['--type', 'Q4_K_M', '--sensitivity', 'engine'], /--sensitivity needs --target-size or --target-bpw/],
        [
          [...opts, '--sensitivity', join(dir, 'missing.json')],
          /--sensitivity: .* is not none, engine, engine-tensors or a readable JSON file/,
        ],
      ] as const) {
        r = runCli(['convert', 'hf', BROWN, bad, ...args]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr, msg);
        assert.ok(!existsSync(bad));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'convert hf --dry-run [--json] with a size target: the plan quantize --dry-run gives for the converted file; nothing written',
  { skip: !existsSync(join(BROWN, 'model.safetensors')) && 'fixtures/brown-3m is absent' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-convert-dry-'));
    try {
      const f32 = join(dir, 'f32.gguf'),
        out = join(dir, 'never.gguf');
      let r = runCli(['convert', 'hf', BROWN, f32]);
      assert.equal(r.code, 0, r.stderr);
      const opts = ['--target-bpw', '4.5', '--target-types', 'Q8_0,Q6_K,Q4_K,Q4_0,Q2_K', '--dry-run', '--json'];
      r = runCli(['convert', 'hf', BROWN, out, ...opts]);
      assert.equal(r.code, 0, r.stderr);
      const c = JSON.parse(r.stdout);
      r = runCli(['quantize', f32, out, ...opts]);
      assert.equal(r.code, 0, r.stderr);
      const q = JSON.parse(r.stdout);
      assert.equal(c.input, BROWN);
      for (const j of [c, q]) {
        delete j.input;
        delete j.target.seconds;
      }
      assert.deepEqual(c, q);
      assert.ok(c.dryRun && c.target.predictedBytes > 0);
      assert.ok(!existsSync(out), 'nothing written');
      // the text form shows the chosen types and the target lines
      r = runCli(['convert', 'hf', BROWN, out, '--target-bpw', '4.5', '--dry-run']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /predicted output: .* bytes/);
      assert.match(r.stdout, /target /);
      assert.ok(!existsSync(out));
      r = runCli(['convert', 'hf', BROWN, out, '--dry-run']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^lowbit: --dry-run shows a quantize plan; F32 is not a quantized type\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'convert hf --sensitivity engine-tensors --refine N = convert to F32, then quantize with them (the refined choice made on the temporary F32 is the one written)',
  { skip: !existsSync(join(BROWN, 'model.safetensors')) && 'fixtures/brown-3m is absent' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-convert-refine-'));
    try {
      const f32 = join(dir, 'f32.gguf');
      let r = runCli(['convert', 'hf', BROWN, f32]);
      assert.equal(r.code, 0, r.stderr);
      const size = String(Math.round(statSync(f32).size * 0.14));
      const opts = ['--target-size', size, '--sensitivity', 'engine-tensors', '--refine', '6'];
      const viaQuantize = join(dir, 'q.gguf');
      r = runCli(['quantize', f32, viaQuantize, ...opts, '--json'], { timeoutMs: 1_200_000 });
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.ok(
        j.target.refine.evals <= 6 && j.target.refine.kl <= j.target.refine.klStart,
        JSON.stringify(j.target.refine),
      );
      const viaConvert = join(dir, 'c.gguf');
      r = runCli(['convert', 'hf', BROWN, viaConvert, ...opts], { timeoutMs: 1_200_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(viaConvert).equals(readFileSync(viaQuantize)), 'convert hf = quantize');
      assert.ok(statSync(viaConvert).size <= Number(size));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
