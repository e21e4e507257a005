// The web app, driven in headless Chromium through its real file inputs: a GGUF, a Hugging Face
// safetensors folder and an ONNX model quantized in the page, each download byte-identical to the
// CLI's output for the same options; a corrupt file gives the CLI's one-line message; Cancel
// stops a run within a second and leaves nothing behind; the learn view's numbers; screenshots
// of the real page for the README (docs/).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsChromium } from '../support/chromium.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { syntheticLlama, encodeGguf } from '../pipeline/synthetic-model.js';
import { encodeModel } from '../../src/io/onnx/model.js';
import { transformerModel } from '../onnx/support/build.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { openApp, loadFile, loadFolder, quantizeInPage, pageError, REPO, type App } from './support.js';
import { writeBigGguf } from './big-model.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-web-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const DOCS = join(REPO, 'docs');

// the CLI from source, run in the temp dir (so its messages name files as the page does)
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
function runCli(args: string[], o: { cwd: string; timeoutMs?: number }) {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: o.cwd, encoding: 'utf8', timeout: o.timeoutMs ?? 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function cli(args: string[]): void {
  const r = runCli(args, { cwd: dir, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `lowbit ${args.join(' ')}: ${r.stderr}`);
}
const same = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.equal(a.length, b.length, `${what}: sizes`);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${what}: bytes differ`);
};

describe('the web app in Chromium', { skip: needsChromium }, () => {
  let app: App;
  before(async () => { app = await openApp(); });
  after(async () => { await app?.browser.close(); await app?.server.close(); });

  test('GGUF: inspect, plan, quantize with options; the download equals `lowbit quantize`; per-tensor error shown', async () => {
    const { page } = app;
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'served cross-origin isolated (threads)');
    const m = syntheticLlama({ nLayer: 2, nFf: 768, nVocab: 256, seed: 5 });
    writeFileSync(join(dir, 'tiny.gguf'), await encodeGguf(m));
    await loadFile(page, join(dir, 'tiny.gguf'));
    assert.equal(await pageError(page), null);
    const rows = await page.$$eval('#tensors tr', (trs) => trs.length - 1);
    assert.equal(rows, m.tensors.length, 'the inspect table lists every tensor');

    // the plan (--dry-run's table and predicted size), then the run with the same options
    const options = async () => {
      await page.selectOption('#type', 'Q4_K_M');
      await page.fill('#rules', 'attn_v=q8_0\nffn_up=q5_0');
      await page.selectOption('#embd-type', 'Q6_K');
      await page.fill('#threads', '2');
    };
    await options();
    await page.click('#plan-btn');
    await page.waitForFunction(() => !document.getElementById('plan')!.hidden);
    const predicted = Number(await page.getAttribute('#predicted', 'data-bytes'));
    const planRows = await page.$$eval('#plan-table tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.equal(planRows.length, m.tensors.length);
    assert.ok(planRows.some((r) => r[0] === 'blk.0.attn_v.weight' && r[3] === 'q8_0'), 'the rule shows in the plan');

    const out = await quantizeInPage(page, 'Q4_K_M', options);
    assert.equal(out.name, 'tiny-Q4_K_M.gguf');
    cli(['quantize', 'tiny.gguf', 'cli.gguf', '--type', 'Q4_K_M', '--tensor-type', 'attn_v=q8_0', '--tensor-type', 'ffn_up=q5_0', '--token-embedding-type', 'q6_k', '--threads', '2']);
    same(out.bytes, readFileSync(join(dir, 'cli.gguf')), 'page vs CLI, Q4_K_M with rules');
    assert.equal(out.bytes.length, predicted, 'the plan predicted the exact size');
    assert.equal(await page.getAttribute('#done', 'data-threads'), '2');
    await page.waitForFunction(() => (document.getElementById('compare-table') as HTMLTableElement).rows.length > 1);
    const cmp = await page.$$eval('#compare-table tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.equal(cmp.length, m.tensors.length);
    assert.ok(cmp.find((r) => r[0] === 'blk.0.attn_v.weight')![3] === 'Q8_0', 'compare shows the stored types');

    // --pure Q8_0 with one thread: the same bytes as the CLI's
    const pure = await quantizeInPage(page, 'Q8_0', async (p) => { await p.fill('#rules', ''); await p.selectOption('#embd-type', ''); await p.check('#pure'); await p.fill('#threads', '1'); });
    cli(['quantize', 'tiny.gguf', 'pure.gguf', '--type', 'Q8_0', '--pure', '--threads', '1']);
    same(pure.bytes, readFileSync(join(dir, 'pure.gguf')), 'page vs CLI, Q8_0 --pure');
    await page.uncheck('#pure');
    assert.deepEqual(app.errors, []);
  });

  test('a Hugging Face folder through the directory picker: Q8_0 and F16 equal `lowbit convert hf`', async () => {
    const { page } = app;
    await loadFolder(page, join(REPO, 'fixtures/brown-3m'));
    assert.equal(await pageError(page), null);
    assert.match(await page.textContent('#model-summary') ?? '', /Hugging Face model folder/);
    for (const type of ['Q8_0', 'F16']) {
      const out = await quantizeInPage(page, type, async (p) => { await p.fill('#threads', '2'); });
      cli(['convert', 'hf', join(REPO, 'fixtures/brown-3m'), `hf-${type}.gguf`, '--type', type, '--threads', '2']);
      same(out.bytes, readFileSync(join(dir, `hf-${type}.gguf`)), `brown-3m ${type}`);
      if (type === 'Q8_0') {
        // the README's picture: a real model, its plan, the result and the per-tensor error
        await page.click('#plan-btn');
        await page.waitForFunction(() => !document.getElementById('plan')!.hidden);
        await page.waitForFunction(() => (document.getElementById('compare-table') as HTMLTableElement).rows.length > 1);
        mkdirSync(DOCS, { recursive: true });
        await page.screenshot({ path: join(DOCS, 'web-app.png'), fullPage: true });
      }
    }
  });

  test('an ONNX model: q8 and q4 variants equal `lowbit quantize --type q8/q4`', async () => {
    const { page } = app;
    writeFileSync(join(dir, 'model.onnx'), encodeModel(transformerModel(3)));
    await loadFile(page, join(dir, 'model.onnx'));
    assert.equal(await pageError(page), null);
    for (const [type, name] of [['q8', 'model_quantized.onnx'], ['q4', 'model_q4.onnx']] as const) {
      const out = await quantizeInPage(page, type);
      assert.equal(out.name, name);
      cli(['quantize', 'model.onnx', `cli-${name}`, '--type', type]);
      same(out.bytes, readFileSync(join(dir, `cli-${name}`)), `ONNX ${type}`);
    }
  });

  test('a corrupt file: the CLI\'s one-line message in the page, nothing offered for download', async () => {
    const { page } = app;
    const good = await encodeGguf(syntheticLlama({ nLayer: 1, seed: 9 }));
    writeFileSync(join(dir, 'corrupt.gguf'), good.subarray(0, 300)); // cut inside the metadata
    const r = runCli(['inspect', 'corrupt.gguf'], { cwd: dir });
    assert.equal(r.code, 1);
    await loadFile(page, join(dir, 'corrupt.gguf'));
    assert.equal(await pageError(page), r.stderr.trim());
    assert.match(r.stderr.trim(), /^lowbit: corrupt\.gguf: /);
    assert.equal(await page.isHidden('#model'), true);
    // a file that is no model at all
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const r2 = runCli(['quantize', 'notes.txt', 'x.gguf', '--type', 'q8_0'], { cwd: dir });
    await loadFile(page, join(dir, 'notes.txt'));
    const msg = await pageError(page);
    assert.match(msg ?? '', /^lowbit: notes\.txt: /);
    assert.match(r2.stderr, /^lowbit: notes\.txt: /);
  });

  test('Cancel stops a run within a second and leaves no download and no file behind', async () => {
    const { page } = app;
    await writeBigGguf(join(dir, 'big.gguf'), { nLayer: 4, nEmbd: 1024, nFf: 2816, nVocab: 8192 }); // 273 MB
    await loadFile(page, join(dir, 'big.gguf'));
    await page.selectOption('#type', 'Q4_K_M');
    await page.selectOption('#dest', 'download');
    await page.fill('#threads', '2');
    let downloads = 0;
    page.on('download', () => downloads++);
    await page.click('#run');
    await page.waitForFunction(() => (document.getElementById('progress') as HTMLProgressElement).value > 0.1, undefined, { timeout: 600_000 });
    const ms = await page.evaluate(async () => {
      const t0 = performance.now();
      document.getElementById('cancel')!.click();
      const err = document.getElementById('error')!;
      while (err.hidden) await new Promise((r) => setTimeout(r, 10));
      return { ms: performance.now() - t0, text: err.textContent, progress: (document.getElementById('progress') as HTMLProgressElement).value };
    });
    assert.equal(ms.text, 'lowbit: cancelled: nothing was written');
    assert.ok(ms.progress < 1, 'stopped before the end');
    assert.ok(ms.ms < 1000, `stopped in ${ms.ms.toFixed(0)} ms`);
    const left = await page.evaluate(async () => {
      const names: string[] = [];
      for await (const [n] of (await navigator.storage.getDirectory() as any).entries()) names.push(n);
      return names;
    });
    assert.deepEqual(left.filter((n) => n.startsWith('lowbit-out-')), []);
    await page.waitForTimeout(300);
    assert.equal(downloads, 0);
    console.log(`# cancel: stopped ${ms.ms.toFixed(0)} ms after the click, at ${(100 * ms.progress).toFixed(0)}%`);
  });

  test('the learn view: landing points, 0.12 at 8 and 4 bits, a real tensor\'s histogram, block layouts', async () => {
    const { page } = app;
    await loadFolder(page, join(REPO, 'fixtures/brown-3m')); // a real trained model's tensors
    await page.click('#tab-learn');
    await page.fill('#min', '0');
    await page.fill('#max', '1');
    await page.fill('#value', '0.12');
    await page.locator('#bits').fill('4');
    const row = (id: string) => page.$eval(`#${id}`, (tr) => [...tr.children].map((c) => c.textContent));
    assert.deepEqual(await row('land8'), ['8', 'code 31 of 255', '31/255', '0.12157', '0.00157']);
    assert.deepEqual(await row('land4'), ['4', 'code 2 of 15', '2/15', '0.13333', '0.01333']);
    assert.match(await page.textContent('#step') ?? '', /16 landing points from 0 to 1, step \(max − min\)\/\(2\^4 − 1\) = 0\.0666667/);
    assert.equal(await page.$$eval('#numberline circle', (c) => c.length), 16 + 1, '2^4 points and the landing mark');
    await page.selectOption('#hist-tensor', 'model.layers.0.mlp.down_proj.weight');
    await page.selectOption('#hist-format', 'Q4_0');
    await page.waitForFunction(() => Number(document.getElementById('hist')!.dataset.points) > 1);
    const points = Number(await page.getAttribute('#hist', 'data-points'));
    assert.ok(points >= 2 && points <= 16, `Q4_0 has at most 16 landing points in a block, got ${points}`);
    await page.selectOption('#layout-format', 'Q4_K');
    assert.equal(await page.getAttribute('#layout', 'data-bytes'), '144');
    assert.equal(await page.$$eval('#layout rect', (r) => r.length), 4, 'd, dmin, scales, qs');
    await page.screenshot({ path: join(DOCS, 'web-learn.png'), fullPage: true });
    await page.click('#tab-quantize');
    assert.deepEqual(app.errors, []);
  });

  test('offline once loaded: with the server gone, the page still quantizes on two threads', async () => {
    const { page } = app;
    await app.server.close();
    await loadFile(page, join(dir, 'tiny.gguf'));
    const out = await quantizeInPage(page, 'Q5_K_M', async (p) => { await p.fill('#threads', '2'); });
    assert.equal(await page.getAttribute('#done', 'data-threads'), '2');
    cli(['quantize', 'tiny.gguf', 'offline.gguf', '--type', 'Q5_K_M', '--threads', '2']);
    same(out.bytes, readFileSync(join(dir, 'offline.gguf')), 'page (offline) vs CLI, Q5_K_M');
  });
});
