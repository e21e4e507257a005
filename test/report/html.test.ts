// The report opens offline in a real headless Chromium: every chart renders (as SVG, so its text is
// in the DOM), no console errors, no two text labels overlap at a laptop width, series colours are
// distinct, and the histogram draws block levels only for quantized types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import { gv } from '../../src/io/gguf/metadata.js';
import { BufferSink, BufferSource } from '../../src/io/source.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { compareGguf, weightHistogram } from '../../src/analysis/compare-gguf.js';
import {
  buildReportHtml,
  familyOf,
  lowbitFamily,
  reportChartIds,
  shortLabels,
  type ReportData,
} from '../../src/report/html.js';
import { loadEchartsSource } from '../../src/node/echarts-source.js';
import { randomRows } from '../support/oracle.js';
import { launchChromium, needsChromium } from '../support/chromium.js';

async function gguf(type: number, name: string): Promise<BufferSource> {
  const tensors = [
    { name: 'blk.0.w', dims: [64, 16] },
    { name: 'blk.1.w', dims: [128, 8] },
    { name: 'norm', dims: [64] },
  ];
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: [['general.architecture', gv.str('test')]],
    tensors: tensors.map((t) => ({ ...t, type: t.name === 'norm' ? GGML_TYPE.F32 : type })),
  });
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

async function reportData(
  types: [string, number][] = [
    ['Q8_0', GGML_TYPE.Q8_0],
    ['Q4_0', GGML_TYPE.Q4_0],
  ],
): Promise<ReportData> {
  const ref = await gguf(GGML_TYPE.F32, 'ref.gguf');
  const data: ReportData = {
    title: 'test </script> report',
    ref: { file: 'ref.gguf', sizeBytes: ref.size },
    variants: [],
    histograms: [],
  };
  for (const [label, type] of types) {
    const b = await gguf(type, `${label}.gguf`);
    const comparison = await compareGguf(ref, b);
    data.variants.push({ label, file: b.name, sizeBytes: b.size, comparison });
    data.histograms!.push({ ...(await weightHistogram(ref, b, 'blk.0.w', 60)), variant: label });
  }
  return data;
}

/**
 * The size/quality points of a real run (llama.cpp's 20 types of one small model, sizes and mean KL
 * as `lowbit demo` measured them): close sizes and KLs, so labels crowd, as in a real report.
 */
function crowdedPoints(): NonNullable<ReportData['points']> {
  const rows: [string, number, number][] = [
    ['F16', 1.05, 2e-6],
    ['BF16', 1.05, 4e-5],
    ['Q8_0', 0.62, 2e-4],
    ['Q6_K', 0.55, 1.2e-3],
    ['Q5_K_M', 0.52, 3.1e-3],
    ['Q5_K_S', 0.51, 3.3e-3],
    ['Q5_1', 0.5, 2.9e-3],
    ['Q5_0', 0.49, 4.2e-3],
    ['Q4_K_M', 0.48, 9e-3],
    ['Q4_K_S', 0.47, 1.1e-2],
    ['Q4_1', 0.46, 1.0e-2],
    ['Q4_0', 0.45, 1.4e-2],
    ['IQ4_NL', 0.45, 1.2e-2],
    ['IQ4_XS', 0.44, 1.3e-2],
    ['Q3_K_L', 0.44, 3.5e-2],
    ['Q3_K_M', 0.43, 4.1e-2],
    ['Q3_K_S', 0.42, 6.5e-2],
    ['Q2_K', 0.41, 0.21],
    ['TQ2_0', 0.4, 2.4],
    ['TQ1_0', 0.39, 2.6],
  ];
  return rows.map(([label, mib, kl]) => ({
    label,
    sizeBytes: Math.round(mib * 1024 * 1024),
    kl,
    family: familyOf(label),
  }));
}

/** Pairs of visible text elements in the charts whose boxes overlap (more than half a pixel each way). */
async function overlappingLabels(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const chart of Array.from(document.querySelectorAll('.chart'))) {
      const boxes: { t: string; r: DOMRect }[] = [];
      for (const el of Array.from(chart.querySelectorAll('svg text'))) {
        const t = (el.textContent ?? '').trim();
        if (!t) continue;
        let hidden = false;
        for (let e: Element | null = el; e && e !== chart; e = e.parentElement) {
          const cs = getComputedStyle(e);
          if (
            cs.display === 'none' ||
            cs.visibility === 'hidden' ||
            Number(cs.opacity) === 0 ||
            e.getAttribute('opacity') === '0' ||
            e.getAttribute('fill-opacity') === '0'
          )
            hidden = true;
        }
        const r = el.getBoundingClientRect();
        if (!hidden && r.width > 0 && r.height > 0) boxes.push({ t, r });
      }
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i]!.r,
            b = boxes[j]!.r;
          const w = Math.min(a.right, b.right) - Math.max(a.left, b.left),
            h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          if (w > 0.5 && h > 0.5)
            out.push(`${chart.id}: "${boxes[i]!.t}" and "${boxes[j]!.t}" (${w.toFixed(1)} x ${h.toFixed(1)} px)`);
        }
      }
    }
    return out;
  });
}

type Opt = {
  color?: string[];
  series: { name: string; data: unknown[]; type: string; lineStyle?: { width?: number } }[];
  legend: { data?: unknown }[];
};
const chartOption = (page: Page, id: string) =>
  page.evaluate(
    (id) =>
      (window as unknown as { echarts: { getInstanceByDom(e: Element): { getOption(): unknown } } }).echarts
        .getInstanceByDom(document.getElementById(id)!)
        .getOption(),
    id,
  ) as Promise<Opt>;

/** Opens the report at 1280 px (a laptop), collects console errors and off-line requests. */
async function openReport(
  html: string,
  run: (page: Page, errors: string[], requests: string[]) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, html);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    await page.goto('file://' + file);
    await page.waitForSelector('body[data-charts-rendered]', { timeout: 30000 });
    await run(page, errors, requests);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('buildReportHtml: self-contained (no external URLs), data embedded safely', async () => {
  const html = buildReportHtml(await reportData(), await loadEchartsSource());
  assert.ok(!/<(script|link|img)[^>]+(src|href)=["']?https?:/i.test(html), 'no network resources');
  assert.equal((html.match(/<\/script>/g) ?? []).length, 3, 'the title cannot close a script early');
  assert.match(html, /test &lt;\/script&gt; report/);
});

test('familyOf: llama.cpp type families and ONNX variants from file labels', () => {
  assert.deepEqual(
    ['stories-Q4_K_M', 'Q5_0', 'x-IQ2_XXS', 'TQ1_0', 'm-F16', 'model_q4f16', 'model_bnb4', 'whatever'].map(familyOf),
    ['k-quants', 'legacy (Q4_0 ...)', 'i-quants', 'ternary', 'float', 'ONNX variants', 'ONNX variants', 'variants'],
  );
  // the shared file-name prefix goes, the type names stay whole
  const s = shortLabels(['stories260K-Q4_K_M', 'stories260K-Q4_K_S', 'stories260K-F16']);
  assert.deepEqual(['stories260K-Q4_K_M', 'stories260K-Q4_K_S', 'stories260K-F16'].map(s), ['Q4_K_M', 'Q4_K_S', 'F16']);
  const t = shortLabels(['Q4_K_M', 'Q4_K_S']);
  assert.deepEqual(['Q4_K_M', 'Q4_K_S'].map(t), ['Q4_K_M', 'Q4_K_S']);
});

test('the report renders every chart in headless Chromium, offline, as SVG', { skip: needsChromium }, async () => {
  const data = await reportData();
  await openReport(buildReportHtml(data, await loadEchartsSource()), async (page, errors, requests) => {
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'no network requests');
    const ids = reportChartIds(data);
    assert.deepEqual(ids, ['chart-tensors', 'chart-size-quality', 'chart-hist-0', 'chart-hist-1']);
    assert.equal(await page.getAttribute('body', 'data-charts-rendered'), String(ids.length));
    for (const id of ids) {
      // ECharts drew an SVG of real size with real marks, and every series has data
      const info = await page.evaluate((id) => {
        const el = document.getElementById(id)!;
        const svg = el.querySelector('svg');
        if (!svg) return null;
        const r = svg.getBoundingClientRect();
        return {
          w: r.width,
          h: r.height,
          marks: svg.querySelectorAll('path, rect, circle, polyline').length,
          texts: svg.querySelectorAll('text').length,
        };
      }, id);
      assert.ok(info, `${id}: no svg`);
      assert.ok(info.w > 600 && info.h > 200, `${id}: svg ${info.w}×${info.h}`);
      assert.ok(info.marks > 10 && info.texts > 5, `${id}: ${info.marks} marks, ${info.texts} texts`);
      const opt = await chartOption(page, id);
      assert.ok(
        opt.series.every((s) => s.data.length > 0),
        `${id}: empty series ${opt.series.map((s) => s.name)}`,
      );
    }
    // the tensor chart shows one variant at a time (the smallest first), its quantized tensors worst
    // first; the F32 norm is identical in both and not drawn
    const t = await page.evaluate(
      () =>
        (
          JSON.parse(document.getElementById('report-data')!.textContent!) as {
            tensors: { first: number; variants: { label: string; identical: number; rows: { name: string }[] }[] };
          }
        ).tensors,
    );
    assert.deepEqual(
      t.variants.map((v) => v.label),
      ['Q8_0', 'Q4_0'],
    );
    assert.equal(t.variants[t.first]!.label, 'Q4_0');
    for (const v of t.variants) {
      assert.deepEqual(v.rows.map((r) => r.name).sort(), ['blk.0.w', 'blk.1.w']);
      assert.equal(v.identical, 1);
    }
    assert.match((await page.textContent('#tensor-note')) ?? '', /1 tensor\(s\) of Q4_0 are identical/);
    await page.selectOption('#tensor-variant', '0');
    assert.match((await page.textContent('#tensor-note')) ?? '', /of Q8_0/);
    assert.match((await page.textContent('table')) ?? '', /Q4_0/);
    // quantized histograms carry one block's levels, captioned as such
    const h0 = await chartOption(page, 'chart-hist-0');
    assert.deepEqual(
      h0.series.map((s) => s.name),
      ['reference (F32)', 'Q8_0 (Q8_0)', `values block ${data.histograms![0]!.blockIndex} decodes to`],
    );
    assert.deepEqual(await overlappingLabels(page), []);
    assert.deepEqual(errors, []);
  });
});

test(
  'a crowded report at 1280 px: no overlapping labels, distinct colours, F16 without levels, no console errors',
  { skip: needsChromium },
  async () => {
    const data = await reportData([
      ['F16', GGML_TYPE.F16],
      ['Q4_0', GGML_TYPE.Q4_0],
      ['Q5_1', GGML_TYPE.Q5_1],
    ]);
    // the F16 histogram must not claim block levels
    data.histograms = [data.histograms![0]!, data.histograms![1]!];
    data.points = crowdedPoints();
    const html = buildReportHtml(data, await loadEchartsSource());
    const f16Caption = html.split('What rounding does')[1]!.split('</p>')[0]!;
    assert.doesNotMatch(f16Caption, /block \d|levels of/, 'the F16 caption claims no block levels');
    assert.match(
      f16Caption,
      /F16 rounds each weight to the nearest F16 number.*no blocks and no shared levels, so none are drawn/,
    );
    await openReport(html, async (page, errors) => {
      assert.deepEqual(errors, []);
      const sq = await chartOption(page, 'chart-size-quality');
      // one curve per family, each its own colour
      const families = sq.series.map((s) => s.name);
      assert.deepEqual([...families].sort(), ['float', 'i-quants', 'k-quants', 'legacy (Q4_0 ...)', 'ternary']);
      const colours = sq.color!.slice(0, families.length);
      assert.equal(new Set(colours).size, families.length, `colours ${colours}`);
      const tc = await chartOption(page, 'chart-tensors');
      assert.equal(new Set(tc.color!.slice(0, tc.series.length)).size, tc.series.length);
      const f16 = await chartOption(page, 'chart-hist-0');
      assert.deepEqual(
        f16.series.map((s) => s.name),
        ['reference (F32)', 'F16 (F16)'],
        'no levels for F16',
      );
      // labels: the crowded points keep some labels, hide the rest, and no two visible ones collide
      const shown = await page.evaluate(() =>
        Array.from(document.querySelectorAll('#chart-size-quality svg text')).map((t) => t.textContent),
      );
      assert.ok(
        shown.filter((t) => /^(Q|IQ|TQ|F|BF)\d/.test(t ?? '')).length >= 6,
        `point labels shown: ${shown.join(', ')}`,
      );
      assert.deepEqual(await overlappingLabels(page), []);
      // and at the narrowest laptop-ish width too
      await page.setViewportSize({ width: 1024, height: 800 });
      await page.waitForTimeout(300);
      assert.deepEqual(await overlappingLabels(page), []);
      if (process.env.LOWBIT_REPORT_SHOTS) {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.waitForTimeout(300);
        for (const id of ['chart-size-quality', 'chart-tensors', 'chart-hist-0', 'chart-hist-1'])
          await page.locator('#' + id).screenshot({ path: join(process.env.LOWBIT_REPORT_SHOTS, `${id}.png`) });
      }
      assert.deepEqual(errors, []);
    });
  },
);

test("lowbitFamily: lowbit's own files by their metadata, one curve per method; other files none", () => {
  assert.equal(lowbitFamily('size 2092192', undefined), 'lowbit --target-size');
  assert.equal(lowbitFamily('size 2092192, sensitivity engine', 'best'), 'lowbit --target-size --encoder best');
  assert.equal(lowbitFamily('bpw 4.5', undefined), 'lowbit --target-bpw');
  assert.equal(lowbitFamily(undefined, 'best'), 'lowbit --encoder best');
  assert.equal(lowbitFamily(undefined, 'gptq'), 'lowbit --encoder gptq');
  assert.equal(lowbitFamily('size 2092192', 'gptq'), 'lowbit --target-size --encoder gptq');
  assert.equal(lowbitFamily(undefined, undefined), undefined);
});

test(
  "size against KL: llama.cpp's mixes one line, lowbit's --target-size files at the same sizes another",
  { skip: needsChromium },
  async () => {
    const data = await reportData();
    const mixes: [string, number, number][] = [
      ['Q2_K', 1.26, 0.0314],
      ['Q3_K_M', 1.62, 0.0075],
      ['Q4_K_M', 2.0, 0.00229],
      ['Q5_K_M', 2.33, 0.00093],
    ];
    const MiB = 1024 * 1024;
    data.points = [
      ...mixes.map(([label, mib, kl]) => ({ label, sizeBytes: Math.round(mib * MiB), kl, family: familyOf(label) })),
      // lowbit's files as the collector labels them: family from quantize.target (listed out of size order)
      ...[...mixes].reverse().map(([label, mib, kl]) => ({
        label: `target-${label}`,
        sizeBytes: Math.round(mib * MiB) - 100,
        kl: kl * 0.7,
        family: lowbitFamily(`size ${Math.round(mib * MiB)}`, undefined)!,
      })),
    ];
    await openReport(buildReportHtml(data, await loadEchartsSource()), async (page, errors) => {
      assert.deepEqual(errors, []);
      const sq = await chartOption(page, 'chart-size-quality');
      const byName = new Map(sq.series.map((s) => [s.name, s]));
      const llama = byName.get('k-quants')!,
        lowbit = byName.get('lowbit --target-size')!;
      assert.ok(llama && lowbit, `series ${[...byName.keys()]}`);
      for (const [s, want] of [
        [llama, mixes.map(([l, mib, kl]) => [l, Math.round(mib * MiB), kl] as const)],
        [lowbit, mixes.map(([l, mib, kl]) => [`target-${l}`, Math.round(mib * MiB) - 100, kl * 0.7] as const)],
      ] as const) {
        assert.ok(s.type === 'line' && (s.lineStyle?.width ?? 0) > 0, `${s.name} is drawn as a curve`);
        // points by size, as (MiB, KL, label)
        const pts = s.data as [number, number, string][];
        assert.deepEqual(
          pts.map((p) => p[2]),
          want.map((w) => w[0]),
        );
        pts.forEach((p, i) => {
          assert.ok(Math.abs(p[0] - want[i]![1] / MiB) < 1e-9, `${p[2]}: ${p[0]} MiB`);
          assert.ok(Math.abs(p[1] - want[i]![2]) < 1e-12);
        });
      }
      const colours = sq.color!.slice(0, sq.series.length);
      assert.notEqual(
        colours[sq.series.indexOf(llama)],
        colours[sq.series.indexOf(lowbit)],
        'the two curves differ in colour',
      );
      assert.deepEqual(await overlappingLabels(page), []);
      // every point is labelled, and no label box is crossed by a drawn curve
      const labels = [...mixes.map(([l]) => l), ...mixes.map(([l]) => `target-${l}`)];
      assert.deepEqual(await labelsCrossingCurves(page, 'chart-size-quality', labels, colours), []);
    });
  },
);

/**
 * The point labels (by text) of one chart that are missing, or whose boxes a drawn curve crosses
 * (the SVG paths stroked in a series colour, M/L segments).
 */
async function labelsCrossingCurves(page: Page, id: string, labels: string[], colours: string[]): Promise<string[]> {
  return page.evaluate(
    ([id, labels, colours]) => {
      const svg = document.getElementById(id)!.querySelector('svg')!;
      const segs: [number, number, number, number][] = [];
      for (const p of Array.from(svg.querySelectorAll('path'))) {
        const d = p.getAttribute('d') ?? '';
        const stroke = (p.getAttribute('stroke') ?? '').toLowerCase();
        if (!colours.some((c) => c.toLowerCase() === stroke)) continue;
        if (p.getAttribute('fill') !== 'none' || !/^M[^A-Z]*L/.test(d) || /[CQAZ]/i.test(d.replace(/[ML]/g, '')))
          continue;
        const ctm = (p as SVGGraphicsElement).getScreenCTM()!;
        const pts = d
          .split(/(?=[ML])/)
          .map((c) =>
            c
              .slice(1)
              .trim()
              .split(/[\s,]+/)
              .map(Number),
          )
          .map(([x, y]) => new DOMPoint(x, y).matrixTransform(ctm));
        for (let i = 1; i < pts.length; i++) segs.push([pts[i - 1]!.x, pts[i - 1]!.y, pts[i]!.x, pts[i]!.y]);
      }
      const out: string[] = [];
      const texts = Array.from(svg.querySelectorAll('text'));
      for (const l of labels) {
        const t = texts.find((x) => (x.textContent ?? '').trim() === l);
        if (!t) {
          out.push(`${l}: not shown`);
          continue;
        }
        const r = t.getBoundingClientRect();
        // sample each segment finely: a crossing is any sample inside the box
        let crossed = false;
        for (const sg of segs)
          for (let k = 0; k <= 200 && !crossed; k++) {
            const x = sg[0] + ((sg[2] - sg[0]) * k) / 200,
              y = sg[1] + ((sg[3] - sg[1]) * k) / 200;
            if (x > r.left && x < r.right && y > r.top && y < r.bottom) crossed = true;
          }
        if (crossed) out.push(`${l}: crossed by a curve`);
      }
      return out;
    },
    [id, labels, colours] as const,
  );
}
