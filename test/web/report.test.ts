// The web app's charts after a run, in headless Chromium: `lowbit report`'s page for the file just
// made (src/report/html.ts, ECharts from dist/web), shown in a frame: its charts render as SVG with
// no console error, and its chart data equals what `lowbit report` embeds for the CLI's identical
// output (same worst tensors, same histogram and block levels); the size/quality chart gathers the
// session's runs; GGUF, a Hugging Face folder and ONNX; the same report offered as one HTML file.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Frame } from 'playwright-core';
import { needsChromium } from '../support/chromium.js';
import { syntheticLlama, encodeGguf } from '../pipeline/synthetic-model.js';
import { encodeModel } from '../../src/io/onnx/model.js';
import { transformerModel } from '../onnx/support/build.js';
import { openApp, loadFile, loadFolder, quantizeInPage, pageError, REPO, type App } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-web-report-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
function cli(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 0, `lowbit ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const reportData = (html: string) =>
  JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!);

/** The report's frame once every chart in it has drawn: the frame, and per chart id whether it holds an SVG. */
async function renderedReport(page: App['page']): Promise<{ frame: Frame; charts: Record<string, boolean> }> {
  await page.waitForFunction(
    () => !!(document.getElementById('report-frame') as HTMLIFrameElement).dataset.rendered,
    undefined,
    { timeout: 120_000 },
  );
  const frame = page.frame({ url: 'about:srcdoc' })!;
  assert.ok(frame, 'the report is in its frame');
  const charts = await frame.$$eval('.chart', (els) =>
    Object.fromEntries(
      els.map((e) => [e.id, !!e.querySelector('svg') && e.querySelectorAll('svg path, svg text').length > 5]),
    ),
  );
  assert.equal(
    await frame.getAttribute('body', 'data-charts-rendered'),
    String(Object.keys(charts).length),
    'every chart rendered',
  );
  return { frame, charts };
}

describe("the web app: the report's charts after a run", { skip: needsChromium }, () => {
  let app: App;
  before(async () => {
    app = await openApp();
    writeFileSync(
      join(dir, 'tiny.gguf'),
      await encodeGguf(syntheticLlama({ nLayer: 2, nFf: 768, nVocab: 256, seed: 5 })),
    );
  });
  after(async () => {
    await app?.close();
  });

  test('GGUF: the charts of `lowbit report` for the output just made, from the same data', async () => {
    const { page } = app;
    await loadFile(page, join(dir, 'tiny.gguf'));
    const out = await quantizeInPage(page, 'Q4_K_M', async (p) => {
      await p.fill('#threads', '2');
    });
    const { frame, charts } = await renderedReport(page);
    assert.deepEqual(charts, { 'chart-size-quality': true, 'chart-tensors': true, 'chart-hist-0': true });
    // the page's output equals the CLI's; `lowbit report` on it embeds the very same chart data
    mkdirSync(join(dir, 'cli'), { recursive: true });
    writeFileSync(join(dir, 'cli', out.name), out.bytes);
    cli(['quantize', 'tiny.gguf', 'cli-q4.gguf', '--type', 'Q4_K_M', '--threads', '2']);
    assert.ok(Buffer.from(out.bytes).equals(readFileSync(join(dir, 'cli-q4.gguf'))));
    cli(['report', 'tiny.gguf', join('cli', out.name), '--html', 'r.html']);
    const want = reportData(readFileSync(join(dir, 'r.html'), 'utf8'));
    const got = JSON.parse((await frame.textContent('#report-data')) ?? '');
    assert.deepEqual(got, want, 'the same chart data as `lowbit report`');
    assert.ok(got.histograms[0].levels.length >= 2, "the histogram shows one block's landing points");
    assert.equal(
      got.tensors.variants[0].rows[0].name,
      (
        await page.$$eval('#compare-table tr', (trs) =>
          trs.slice(1).map((tr) => [tr.children[0]!.textContent, Number(tr.children[7]!.textContent)]),
        )
      )
        .filter((r) => Number.isFinite(r[1]))
        .sort((a, b) => (a[1] as number) - (b[1] as number))[0]![0],
      "the worst tensor is the compare table's lowest SQNR",
    );
    // the same report as one HTML file
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#report-download')]);
    assert.equal(dl.suggestedFilename(), 'tiny-Q4_K_M-report.html');
    const saved = readFileSync((await dl.path())!, 'utf8');
    assert.deepEqual(reportData(saved), want);
    assert.ok(saved.includes('echarts'), 'self-contained: ECharts inlined');

    // a second run: its charts; the size/quality chart now has both files
    await quantizeInPage(page, 'Q6_K');
    const again = await renderedReport(page);
    const d = JSON.parse((await again.frame.textContent('#report-data')) ?? '');
    assert.equal(d.tensors.variants[0].label, 'Q6_K', 'the worst tensors of the file just made');
    assert.deepEqual(
      d.sizeQuality.families.flatMap((f: { points: [number, number, string][] }) => f.points.map((p) => p[2])).sort(),
      ['Q4_K_M', 'Q6_K'],
    );
    assert.deepEqual(app.errors, []);
  });

  test('a Hugging Face folder: the histogram of its worst tensor against the converted reference', async () => {
    const { page } = app;
    await loadFolder(page, join(REPO, 'fixtures/brown-3m'));
    assert.equal(await pageError(page), null);
    await quantizeInPage(page, 'Q4_0', async (p) => {
      await p.fill('#threads', '2');
    });
    const { frame, charts } = await renderedReport(page);
    assert.deepEqual(charts, { 'chart-size-quality': true, 'chart-tensors': true, 'chart-hist-0': true });
    const d = JSON.parse((await frame.textContent('#report-data')) ?? '');
    assert.match(d.histograms[0].tensor, /^blk\.\d+\.|^token_embd|^output/, 'a GGUF tensor name');
    assert.equal(d.histograms[0].typeB, 'Q4_0');
    assert.deepEqual(app.errors, []);
  });

  test('an ONNX model: the worst-tensors chart (no histogram, as `lowbit report`)', async () => {
    const { page } = app;
    writeFileSync(join(dir, 'model.onnx'), encodeModel(transformerModel(3)));
    await loadFile(page, join(dir, 'model.onnx'));
    await quantizeInPage(page, 'q8');
    const { charts } = await renderedReport(page);
    assert.deepEqual(charts, { 'chart-size-quality': true, 'chart-tensors': true });
    assert.deepEqual(app.errors, []);
  });
});
