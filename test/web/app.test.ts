// The web app, driven in headless Chromium through its real file inputs: a GGUF, a Hugging Face
// safetensors folder and an ONNX model quantized in the page, each download byte-identical to the
// CLI's output for the same options; a corrupt file gives the CLI's one-line message; Cancel
// stops a run within a second and leaves nothing behind; the learn view's numbers; the report's
// charts drawn offline; screenshots
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
// the README's pictures: written to docs/ when LOWBIT_WRITE_DOCS=1 (a normal run takes them into its temp dir, leaving the tree clean)
const DOCS = process.env.LOWBIT_WRITE_DOCS === '1' ? join(REPO, 'docs') : join(dir, 'docs');

// the CLI from source, run in the temp dir (so its messages name files as the page does)
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
function runCli(args: string[], o: { cwd: string; timeoutMs?: number }) {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: o.cwd,
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function cli(args: string[]): void {
  const r = runCli(args, { cwd: dir, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `lowbit ${args.join(' ')}: ${r.stderr}`);
}
/** llama-imatrix's legacy .dat: entry count, then per entry name, ncall, values; then chunks and dataset. */
function legacyImatrix(entries: [string, number][]): Uint8Array {
  const parts: Buffer[] = [];
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  parts.push(i32(entries.length));
  let seed = 7;
  for (const [name, n] of entries) {
    parts.push(i32(Buffer.byteLength(name)), Buffer.from(name), i32(10), i32(n));
    const v = Buffer.alloc(4 * n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      v.writeFloatLE(10 * (0.1 + seed / 2 ** 32), 4 * i);
    }
    parts.push(v);
  }
  parts.push(i32(10), i32(4), Buffer.from('test'));
  return Buffer.concat(parts);
}
const same = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.equal(a.length, b.length, `${what}: sizes`);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${what}: bytes differ`);
};

async function opfsNames(page: App['page']): Promise<string[]> {
  return page.evaluate(async () => {
    const names: string[] = [];
    for await (const [n] of ((await navigator.storage.getDirectory()) as any).entries()) names.push(n);
    return names;
  });
}

describe('the web app in Chromium', { skip: needsChromium }, () => {
  let app: App;
  before(async () => {
    app = await openApp();
  });
  after(async () => {
    await app?.browser.close();
    await app?.server.close();
  });

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
    const planRows = await page.$$eval('#plan-table tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.children].map((c) => c.textContent)),
    );
    assert.equal(planRows.length, m.tensors.length);
    assert.ok(
      planRows.some((r) => r[0] === 'blk.0.attn_v.weight' && r[3] === 'q8_0'),
      'the rule shows in the plan',
    );

    const out = await quantizeInPage(page, 'Q4_K_M', options);
    assert.equal(out.name, 'tiny-Q4_K_M.gguf');
    cli([
      'quantize',
      'tiny.gguf',
      'cli.gguf',
      '--type',
      'Q4_K_M',
      '--tensor-type',
      'attn_v=q8_0',
      '--tensor-type',
      'ffn_up=q5_0',
      '--token-embedding-type',
      'q6_k',
      '--threads',
      '2',
    ]);
    same(out.bytes, readFileSync(join(dir, 'cli.gguf')), 'page vs CLI, Q4_K_M with rules');
    assert.equal(out.bytes.length, predicted, 'the plan predicted the exact size');
    assert.equal(await page.getAttribute('#done', 'data-threads'), '2');
    await page.waitForFunction(() => (document.getElementById('compare-table') as HTMLTableElement).rows.length > 1);
    const cmp = await page.$$eval('#compare-table tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.children].map((c) => c.textContent)),
    );
    assert.equal(cmp.length, m.tensors.length);
    assert.ok(cmp.find((r) => r[0] === 'blk.0.attn_v.weight')![3] === 'Q8_0', 'compare shows the stored types');

    // --pure Q8_0 with one thread: the same bytes as the CLI's
    const pure = await quantizeInPage(page, 'Q8_0', async (p) => {
      await p.fill('#rules', '');
      await p.selectOption('#embd-type', '');
      await p.check('#pure');
      await p.fill('#threads', '1');
    });
    cli(['quantize', 'tiny.gguf', 'pure.gguf', '--type', 'Q8_0', '--pure', '--threads', '1']);
    same(pure.bytes, readFileSync(join(dir, 'pure.gguf')), 'page vs CLI, Q8_0 --pure');
    await page.uncheck('#pure');

    // an importance matrix (llama-imatrix's legacy .dat) picked in the page: Q2_K_S needs one
    writeFileSync(
      join(dir, 'im.dat'),
      legacyImatrix(
        m.tensors
          .filter((t) => t.shape.length === 2 && t.name !== 'token_embd.weight')
          .map((t) => [t.name, t.shape[0]!]),
      ),
    );
    const withIm = await quantizeInPage(page, 'Q2_K_S', async (p) => {
      await p.setInputFiles('#imatrix', join(dir, 'im.dat'));
      await p.fill('#threads', '2');
    });
    cli(['quantize', 'tiny.gguf', 'im.gguf', '--type', 'Q2_K_S', '--imatrix', 'im.dat', '--threads', '2']);
    same(withIm.bytes, readFileSync(join(dir, 'im.gguf')), 'page vs CLI, Q2_K_S with --imatrix');
    await page.setInputFiles('#imatrix', []);
    assert.deepEqual(app.errors, []);
  });

  test('a Hugging Face folder through the directory picker: Q8_0 and F16 equal `lowbit convert hf`', async () => {
    const { page } = app;
    await loadFolder(page, join(REPO, 'fixtures/brown-3m'));
    assert.equal(await pageError(page), null);
    assert.match((await page.textContent('#model-summary')) ?? '', /Hugging Face model folder/);
    for (const type of ['Q8_0', 'F16']) {
      const out = await quantizeInPage(page, type, async (p) => {
        await p.fill('#threads', '2');
      });
      cli(['convert', 'hf', join(REPO, 'fixtures/brown-3m'), `hf-${type}.gguf`, '--type', type, '--threads', '2']);
      same(out.bytes, readFileSync(join(dir, `hf-${type}.gguf`)), `brown-3m ${type}`);
      if (type === 'Q8_0') {
        // the README's picture: a real model, its plan, the result and the per-tensor error
        await page.click('#plan-btn');
        await page.waitForFunction(() => !document.getElementById('plan')!.hidden);
        await page.waitForFunction(
          () => (document.getElementById('compare-table') as HTMLTableElement).rows.length > 1,
        );
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
    for (const [type, name] of [
      ['q8', 'model_quantized.onnx'],
      ['q4', 'model_q4.onnx'],
    ] as const) {
      const out = await quantizeInPage(page, type);
      assert.equal(out.name, name);
      cli(['quantize', 'model.onnx', `cli-${name}`, '--type', type]);
      same(out.bytes, readFileSync(join(dir, `cli-${name}`)), `ONNX ${type}`);
    }
  });

  test("a corrupt file: the CLI's one-line message in the page, nothing offered for download", async () => {
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

    // a run that fails midway (a NaN in a weight): the CLI's message, no download, nothing left in OPFS
    const bad = syntheticLlama({ nLayer: 2, seed: 11, weightType: GGML_TYPE.F32 });
    const t = bad.tensors.find((x) => x.name === 'blk.1.ffn_down.weight')!;
    new Float32Array(t.data.buffer, t.data.byteOffset, t.data.length / 4)[1000] = NaN;
    writeFileSync(join(dir, 'nan.gguf'), await encodeGguf(bad));
    const r3 = runCli(['quantize', 'nan.gguf', 'nan-out.gguf', '--type', 'q4_0', '--threads', '2'], { cwd: dir });
    assert.equal(r3.code, 1);
    await loadFile(page, join(dir, 'nan.gguf'));
    await page.selectOption('#type', 'Q4_0');
    await page.selectOption('#dest', 'download');
    await page.fill('#threads', '2');
    let downloads = 0;
    const onDownload = () => downloads++;
    page.on('download', onDownload);
    await page.click('#run');
    await page.waitForFunction(() => !document.getElementById('error')!.hidden);
    assert.equal(await pageError(page), r3.stderr.trim());
    await page.waitForTimeout(300);
    page.off('download', onDownload);
    assert.equal(downloads, 0);
    assert.deepEqual(
      (await opfsNames(page)).filter((n) => n.startsWith('lowbit-out-')),
      [],
    );
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
    await page.waitForFunction(
      () => (document.getElementById('progress') as HTMLProgressElement).value > 0.1,
      undefined,
      { timeout: 600_000 },
    );
    const ms = await page.evaluate(async () => {
      const t0 = performance.now();
      document.getElementById('cancel')!.click();
      const err = document.getElementById('error')!;
      while (err.hidden) await new Promise((r) => setTimeout(r, 10));
      return {
        ms: performance.now() - t0,
        text: err.textContent,
        progress: (document.getElementById('progress') as HTMLProgressElement).value,
      };
    });
    assert.equal(ms.text, 'lowbit: cancelled: nothing was written');
    assert.ok(ms.progress < 1, 'stopped before the end');
    assert.ok(ms.ms < 1000, `stopped in ${ms.ms.toFixed(0)} ms`);
    const left = await opfsNames(page);
    assert.deepEqual(
      left.filter((n) => n.startsWith('lowbit-out-')),
      [],
    );
    await page.waitForTimeout(300);
    assert.equal(downloads, 0);
    console.log(`# cancel: stopped ${ms.ms.toFixed(0)} ms after the click, at ${(100 * ms.progress).toFixed(0)}%`);
  });

  test("the learn view: landing points, 0.12 at 8 and 4 bits, a real tensor's histogram, block layouts", async () => {
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
    assert.match(
      (await page.textContent('#step')) ?? '',
      /16 landing points from 0 to 1, step \(max − min\)\/\(2\^4 − 1\) = 0\.0666667/,
    );
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

  test("the File System Access path: written through the chosen file's writable stream, same bytes; a cancelled one is left as it was", async () => {
    // the save picker answered by a file in the origin's private storage (headless has no dialog)
    const context = await app.browser.newContext();
    await context.addInitScript(() => {
      (window as any).showSaveFilePicker = async (o: { suggestedName: string }) =>
        (await navigator.storage.getDirectory()).getFileHandle(`saved-${o.suggestedName}`, { create: true });
    });
    const page = await context.newPage();
    try {
      await page.goto(app.server.url);
      await page.waitForSelector('body[data-ready="1"]');
      await loadFile(page, join(dir, 'tiny.gguf'));
      assert.equal(
        await page.inputValue('#dest'),
        'picker',
        'saving straight to disk is the default where the browser can',
      );
      await page.selectOption('#type', 'Q6_K');
      await page.click('#run');
      await page.waitForFunction(
        () => !document.getElementById('done')!.hidden || !document.getElementById('error')!.hidden,
      );
      assert.equal(await pageError(page), null);
      assert.match((await page.textContent('#done-text')) ?? '', /^saved to saved-tiny-Q6_K\.gguf/);
      const bytes = Buffer.from(
        await page.evaluate(async () => {
          const f = await (
            await (await navigator.storage.getDirectory()).getFileHandle('saved-tiny-Q6_K.gguf')
          ).getFile();
          const b = new Uint8Array(await f.arrayBuffer());
          let s = '';
          for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
          return btoa(s);
        }),
        'base64',
      );
      cli(['quantize', 'tiny.gguf', 'q6k.gguf', '--type', 'Q6_K']);
      same(bytes, readFileSync(join(dir, 'q6k.gguf')), 'File System Access output vs CLI');
      // cancelled: the chosen file keeps what it had (here: nothing new is committed)
      await loadFile(page, join(dir, 'big.gguf'));
      await page.selectOption('#type', 'Q4_K_M');
      await page.click('#run');
      await page.waitForFunction(
        () => (document.getElementById('progress') as HTMLProgressElement).value > 0.05,
        undefined,
        { timeout: 600_000 },
      );
      await page.click('#cancel');
      await page.waitForFunction(() => !document.getElementById('error')!.hidden);
      assert.equal(await pageError(page), 'lowbit: cancelled: nothing was written');
      const size = await page.evaluate(
        async () =>
          (await (await (await navigator.storage.getDirectory()).getFileHandle('saved-big-Q4_K_M.gguf')).getFile())
            .size,
      );
      assert.equal(size, 0, 'the aborted writable stream committed nothing');
    } finally {
      await context.close();
    }
  });

  test('offline once loaded: with the server gone, the page still quantizes on two threads', async () => {
    const { page } = app;
    await app.server.close();
    await loadFile(page, join(dir, 'tiny.gguf'));
    const out = await quantizeInPage(page, 'Q5_K_M', async (p) => {
      await p.fill('#threads', '2');
    });
    assert.equal(await page.getAttribute('#done', 'data-threads'), '2');
    cli(['quantize', 'tiny.gguf', 'offline.gguf', '--type', 'Q5_K_M', '--threads', '2']);
    same(out.bytes, readFileSync(join(dir, 'offline.gguf')), 'page (offline) vs CLI, Q5_K_M');
    // the report's charts too: ECharts was fetched while the server was up
    await page.waitForFunction(
      () => !!(document.getElementById('report-frame') as HTMLIFrameElement).dataset.rendered,
      undefined,
      { timeout: 60_000 },
    );
    assert.ok(
      await page.frame({ url: 'about:srcdoc' })!.$('#chart-tensors svg'),
      'the worst-tensors chart drawn offline',
    );
    assert.deepEqual(app.errors, []);
  });
});
