// The main job on the bundled model, as a newcomer runs it: import, quantize, run in llama.cpp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';

test('lowbit demo quantizes the bundled model, runs each file in llama.cpp and reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-demo-'));
  try {
    const r = runCli(['demo', '--out', dir, '--types', 'F16,Q8_0,Q4_0', '--chunks', '2', '--json'], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(
      j.rows.map((x: { type: string }) => x.type),
      ['F16', 'Q8_0', 'Q4_0'],
    );
    const [f16, q8, q4] = j.rows;
    // fewer bits: smaller files, more weight error, further from F32's predictions
    assert.ok(f16.sizeBytes > q8.sizeBytes && q8.sizeBytes > q4.sizeBytes);
    assert.ok(f16.sqnrDb > q8.sqnrDb && q8.sqnrDb > q4.sqnrDb);
    assert.ok(f16.klMean < q8.klMean && q8.klMean < q4.klMean);
    assert.ok(f16.klMean < 0.01, `F16 KL ${f16.klMean}`);
    assert.ok(f16.sameTopPct > 90);
    assert.ok(j.ref.perplexity > 1 && j.ref.perplexity < 50, `F32 perplexity ${j.ref.perplexity}`);
    assert.match(q8.tensorTypes, /Q8_0/);
    for (const row of j.rows) assert.ok(existsSync(row.file));
    const html = readFileSync(j.report, 'utf8');
    assert.match(html, /<html/i);
    assert.ok(!/src="http/i.test(html), 'the report loads nothing from the network');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit demo puts a --target-size row of the same file size and an --encoder gptq row beside a K-quant mix, all made with its matrix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-demo-'));
  try {
    const r = runCli(['demo', '--out', dir, '--types', 'Q8_0,Q4_K_M', '--chunks', '2', '--json'], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(
      j.rows.map((x: { type: string }) => x.type),
      ['Q8_0', 'Q4_K_M', 'target Q4_K_M', 'gptq Q4_K_M'],
    );
    const [, mix, target, gptq] = j.rows;
    assert.equal(mix.target, undefined);
    assert.equal(target.target.mix, 'Q4_K_M');
    assert.equal(target.target.bytes, mix.sizeBytes);
    // at most the mix's size and within 1 % of it, evaluated like every other row
    assert.ok(target.sizeBytes <= mix.sizeBytes && target.sizeBytes >= 0.99 * mix.sizeBytes, `${target.sizeBytes}`);
    assert.ok(target.klMean > 0 && target.klMean < 0.1, `KL ${target.klMean}`);
    assert.ok(target.sameTopPct > 80);
    // the file says what it is (the report draws it as lowbit's curve); the mix got the demo's matrix
    const bytes = readFileSync(target.file);
    assert.ok(bytes.includes(Buffer.from('quantize.target')));
    assert.ok(readFileSync(mix.file).includes(Buffer.from('quantize.imatrix.file')));
    assert.ok(!readFileSync(mix.file).includes(Buffer.from('quantize.target')));
    // the mix's own types rounded with --encoder gptq: the same size but for its metadata key, lower KL in llama.cpp
    assert.equal(gptq.tensorTypes, mix.tensorTypes);
    assert.ok(Math.abs(gptq.sizeBytes - mix.sizeBytes) <= 64, `${gptq.sizeBytes} vs ${mix.sizeBytes}`);
    assert.ok(gptq.klMean < mix.klMean, `gptq KL ${gptq.klMean} vs the mix's ${mix.klMean}`);
    assert.ok(readFileSync(gptq.file).includes(Buffer.from('quantize.encoder')));
    const html = readFileSync(j.report, 'utf8');
    assert.match(html, /lowbit --target-size/);
    assert.match(html, /lowbit --encoder gptq/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lowbit demo refuses an unknown type with one line', () => {
  const r = runCli(['demo', '--out', join(tmpdir(), 'lowbit-demo-never'), '--types', 'Q9_9']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(join(tmpdir(), 'lowbit-demo-never', 'brown-3m-F32.gguf')));
});
