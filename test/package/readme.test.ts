// The README's library examples run as written (against the source here; test/package/
// pack-install.test.ts runs them against the installed tarball): each `ts runnable` block in turn,
// in one folder, as a user would paste them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../support/cli.js';
import { blockAsModule, runnableBlocks, stageExampleFiles } from './readme-blocks.js';

test('README: the runnable library examples run against the source and write what they say', () => {
  const blocks = runnableBlocks();
  assert.ok(blocks.length >= 3, `found ${blocks.length} runnable blocks`);
  assert.ok(blocks.some((b) => b.includes("from 'lowbit/node'")) && blocks.some((b) => b.includes("from 'lowbit'")));
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-readme-'));
  try {
    stageExampleFiles(dir);
    const src = (spec: string) => pathToFileURL(join(REPO, spec === 'lowbit' ? 'src/index.ts' : 'src/node.ts')).href;
    blocks.forEach((b, i) => {
      const file = join(dir, `example-${i + 1}.mts`);
      writeFileSync(file, blockAsModule(b, src));
      const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `block ${i + 1} failed:\n${r.stderr}`);
      assert.ok(r.stdout.trim().length > 0 || !b.includes('console.log'), `block ${i + 1} printed`);
    });
    for (const f of ['model-f32.gguf', 'model-q4_k_m.gguf', 'hf-q8_0.gguf'])
      assert.ok(existsSync(join(dir, f)), `${f} written`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
