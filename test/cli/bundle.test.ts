// The CLI as installed: `lowbit` is dist/cli/bundle/main.js, built by `npm install` (prepare) with
// esbuild from the compiled dist/. Checks the things bundling can break: the worker entry the
// quantize pool starts, the bundled example model found by a relative path, native engines loaded
// from node_modules. Rebuilds the bundle from the current dist/ first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, runCli } from '../support/cli.js';
import { writeSyntheticLlama } from '../pipeline/synthetic-model.js';

const BIN = join(REPO, 'dist/cli/bundle/main.js');

function runBin(args: string[], timeout = 120_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('package.json bin is the bundle, and the bundle builds from dist/', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin.lowbit, 'dist/cli/bundle/main.js');
  assert.ok(existsSync(join(REPO, 'dist/cli/main.js')), 'dist/ is built (npm install runs prepare)');
  const b = spawnSync(process.execPath, [join(REPO, 'scripts/bundle-cli.mjs')], { cwd: REPO, encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  assert.ok(existsSync(BIN) && existsSync(join(REPO, 'dist/cli/bundle/workers-thread.js')));
  const v = runBin(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), '0.1.0');
});

test('bundled quantize on two threads (bundled worker) writes the bytes the source CLI writes on one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-bundle-'));
  try {
    const model = join(dir, 'm.gguf');
    // rows of 256 × 512: slabs big enough to be shared with the worker
    await writeSyntheticLlama(model, { nLayer: 1, nEmbd: 256, nHead: 4, nFf: 512, nVocab: 512, seed: 5 });
    const a = runBin(['quantize', model, join(dir, 'a.gguf'), '--type', 'Q4_K_M', '--threads', '2']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /on 2 threads/);
    const b = runCli(['quantize', model, join(dir, 'b.gguf'), '--type', 'Q4_K_M', '--threads', '1']);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(readFileSync(join(dir, 'a.gguf')).equals(readFileSync(join(dir, 'b.gguf'))), 'same bytes');
    const bad = runBin(['quantize', join(dir, 'missing.gguf'), join(dir, 'c.gguf'), '--type', 'Q8_0']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bundled demo finds the bundled model and runs it in llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-bundle-demo-'));
  try {
    const r = runBin(['demo', '--types', 'Q8_0', '--chunks', '1', '--ctx', '32', '--out', dir], 300_000);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'brown-3m-Q8_0.gguf')));
    assert.ok(existsSync(join(dir, 'report.html')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
