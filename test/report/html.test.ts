// The report opens offline in a real headless Chromium and every chart renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import { gv } from '../../src/io/gguf/metadata.js';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { compareGguf, weightHistogram } from '../../src/analysis/compare-gguf.js';
import { buildReportHtml, reportChartIds, type ReportData } from '../../src/report/html.js';
import { loadEchartsSource } from '../../src/report/echarts-source.js';
import { randomRows } from '../support/oracle.js';
import { launchChromium, needsChromium } from '../support/chromium.js';


async function gguf(type: number, name: string): Promise<BufferSource> {
  const tensors = [{ name: 'blk.0.w', dims: [64, 16] }, { name: 'blk.1.w', dims: [128, 8] }, { name: 'norm', dims: [64] }];
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, { metadata: [['general.architecture', gv.str('test')]], tensors: tensors.map((t) => ({ ...t, type: t.name === 'norm' ? GGML_TYPE.F32 : type })) });
  let seed = 1;
  for (const t of tensors) {
    const c = codecByTypeId(t.name === 'norm' ? GGML_TYPE.F32 : type)!;
    const rows = t.dims[1] ?? 1;
    const v = randomRows(seed++, rows, t.dims[0]!).map((x) => Math.max(-1e4, Math.min(1e4, x)));
    const out = new Uint8Array((v.length / c.type.blockSize) * c.type.typeSize);
    c.quantize(v, out, rows, t.dims[0]!, null);
    await w.writeTensorData(t.name, out);
  }
  await w.finish();
  return new BufferSource(sink.bytes(), name);
}

async function reportData(): Promise<ReportData> {
  const ref = await gguf(GGML_TYPE.F32, 'ref.gguf');
  const data: ReportData = { title: 'test </script> report', ref: { file: 'ref.gguf', sizeBytes: ref.size }, variants: [], histograms: [] };
  for (const [label, type] of [['Q8_0', GGML_TYPE.Q8_0], ['Q4_0', GGML_TYPE.Q4_0]] as const) {
    const b = await gguf(type, `${label}.gguf`);
    const comparison = await compareGguf(ref, b);
    data.variants.push({ label, file: b.name, sizeBytes: b.size, comparison });
    data.histograms!.push({ ...(await weightHistogram(ref, b, 'blk.0.w', 60)), variant: label });
  }
  return data;
}

test('buildReportHtml: self-contained (no external URLs), data embedded safely', async () => {
  const html = buildReportHtml(await reportData(), await loadEchartsSource());
  assert.ok(!/<(script|link|img)[^>]+(src|href)=["']?https?:/i.test(html), 'no network resources');
  assert.equal((html.match(/<\/script>/g) ?? []).length, 3, 'the title cannot close a script early');
  assert.match(html, /test &lt;\/script&gt; report/);
});

test('the report renders every chart in headless Chromium, offline', { skip: needsChromium }, async () => {
  const data = await reportData();
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, buildReportHtml(data, await loadEchartsSource()));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto('file://' + file);
    await page.waitForSelector('body[data-charts-rendered]', { timeout: 30000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'no network requests');
    const ids = reportChartIds(data);
    assert.deepEqual(ids, ['chart-tensors', 'chart-size-quality', 'chart-hist-0', 'chart-hist-1']);
    assert.equal(await page.getAttribute('body', 'data-charts-rendered'), String(ids.length));
    for (const id of ids) {
      // ECharts drew into a canvas of real size, and not a blank one
      const info = await page.evaluate((id) => {
        const el = document.getElementById(id)!;
        const c = el.querySelector('canvas');
        if (!c) return null;
        const ctx = c.getContext('2d')!;
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) ink++;
        const chart = (window as unknown as { echarts: { getInstanceByDom(e: Element): { getOption(): { series: { data: unknown[] }[] } } } }).echarts.getInstanceByDom(el);
        return { w: c.width, h: c.height, ink, series: chart.getOption().series.map((s) => s.data.length) };
      }, id);
      assert.ok(info, `${id}: no canvas`);
      assert.ok(info.w > 100 && info.h > 100, `${id}: canvas ${info.w}×${info.h}`);
      assert.ok(info.ink > 1000, `${id}: only ${info.ink} painted pixels`);
      assert.ok(info.series.every((n) => n > 0), `${id}: empty series ${info.series}`);
    }
    // the tensor chart has one bar series per variant over both quantized tensors and the norm
    const names = await page.evaluate(() => (JSON.parse(document.getElementById('report-data')!.textContent!) as { tensors: { names: string[] } }).tensors.names);
    assert.deepEqual(names, ['blk.0.w', 'blk.1.w', 'norm']);
    assert.match(await page.textContent('table') ?? '', /Q4_0/);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
