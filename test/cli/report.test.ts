// lowbit report through the CLI: a self-contained HTML file from real GGUFs, with llama.cpp eval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, cli, storiesModels } from '../eval/models.js';

test('report --html with --eval writes one self-contained file with tables and charts', () => {
  const m = storiesModels();
  const out = join(mkdtempSync(join(tmpdir(), 'lowbit-report-')), 'r.html');
  const msg = cli(['report', m.f32, m.q8, m.q4, '--html', out, '--eval', '--ctx', '64', '--chunks', '2']);
  assert.match(msg, /report of 2 variant\(s\)/);
  const html = readFileSync(out, 'utf8');
  assert.ok(!/(src|href)=["']?https?:/i.test(html));
  for (const id of ['chart-tensors', 'chart-size-quality', 'chart-hist-0']) assert.ok(html.includes(`id="${id}"`), id);
  // one histogram (the smallest variant's worst tensor), not one per variant: they look alike
  assert.ok(!html.includes('id="chart-hist-1"'), 'one histogram');
  assert.match(html, /Weights of <code>[^<]+<\/code> in the reference \(F32\) and in stories-q4_0 \(Q4_0\)/);
  assert.match(html, /Evaluation in llama\.cpp/);
  assert.match(html, /stories-q4_0/);
  assert.ok(!existsSync(out + `.tmp-`), 'no temp file left');
});

test('report without --html or --json is a one-line error', () => {
  const m = storiesModels();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'report', m.f32, m.q8], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'lowbit: report: give --html <out.html> (or --json)\n');
});
