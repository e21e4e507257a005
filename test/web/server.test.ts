// `lowbit web`: serves dist/web/ on 127.0.0.1 with the cross-origin isolation headers the page's
// threads need, nothing outside it, GET/HEAD only; a bad --port is a one-line error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';
import { buildWebApp } from './support.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

test('lowbit web --port 0: the app on 127.0.0.1, cross-origin isolated, nothing outside dist/web', async () => {
  buildWebApp();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'web', '--port', '0'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /serving (http:\/\/[^ ]+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (c) => reject(new Error(`exited ${c}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<title>lowbit/);
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
    for (const f of ['app.js', 'job-worker.js', 'row-worker.js', 'style.css']) {
      const x = await fetch(url + f);
      assert.equal(x.status, 200, f);
      await x.arrayBuffer();
    }
    assert.match((await fetch(url + 'app.js')).headers.get('content-type') ?? '', /javascript/);
    for (const p of ['%2e%2e/package.json', '..%2fpackage.json', '../../package.json']) {
      const x = await fetch(url + p);
      assert.ok(x.status === 403 || x.status === 404, `${p}: ${x.status}`);
      await x.arrayBuffer();
    }
    assert.equal((await fetch(url, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    child.kill('SIGTERM');
  }
});

test('lowbit web --port nonsense: one line, exit 1', () => {
  const r = runCli(['web', '--port', 'abc']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "lowbit: --port must be a whole number from 0 to 65535, not 'abc'\n");
});
