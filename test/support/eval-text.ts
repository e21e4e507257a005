// The seed-1 documents a model writes (what `lowbit eval` judges on by default), written to a text
// file, in a child process (node-llama-cpp and the test process's other engines stay apart), and a
// KL of a file against its F32 reference on that text, as `lowbit eval` measures it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runCli, REPO } from './cli.js';

export function writeEvalText(model: string, out: string, minTokens = 1300, ctx = 128): void {
  const g = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('./src/eval/llama.ts').then(async (m) => { const g = await m.generateEvalText({ model: ${JSON.stringify(model)}, seed: 1, minTokens: ${minTokens}, docs: 1000, ctx: ${ctx} }); require('node:fs').writeFileSync(${JSON.stringify(out)}, g.text); })`,
    ],
    { cwd: REPO, encoding: 'utf8' },
  );
  assert.equal(g.status, 0, g.stderr);
}

/** Mean KL of `file` against `ref` on `text` (ctx 128, 8 chunks), in llama.cpp. */
export function klOn(file: string, ref: string, text: string): number {
  const e = runCli(['eval', file, '--ref', ref, '--text', text, '--ctx', '128', '--chunks', '8', '--json'], {
    timeoutMs: 600_000,
  });
  assert.equal(e.code, 0, e.stderr);
  return JSON.parse(e.stdout).klMean as number;
}
