// The self-contained HTML report: one file that opens offline. Charts are drawn by Apache ECharts
// (its minified build inlined, SVG renderer so every label is real text), the measurements embedded as
// JSON. No network at view time. Each chart answers one question:
//   - which file to pick for a size: size against quality (mean KL when evaluated), one curve per
//     family of types (k-quants, legacy, i-quants, ONNX variants ...), every point labelled
//   - which tensors lose the most: the worst tensors of one variant (chosen from a list), coloured by
//     the type they are stored in
//   - what rounding does to a weight distribution: one tensor before and after, and for quantized
//     types the values one block decodes to
// and tables hold every number (weights against the reference, engine evaluations).
import type { GgufComparison } from '../analysis/compare-gguf.js';
import type { WeightHistogram } from '../analysis/compare-gguf.js';
import type { GgufEvalResult } from '../eval/llama.js';
import type { OnnxEvalResult } from '../eval/onnx.js';

export interface ReportVariant {
  /** short name shown in legends, e.g. 'Q4_0' */
  label: string;
  file: string;
  sizeBytes: number;
  /** the curve it joins in the size/quality chart (default: from its label, e.g. 'k-quants') */
  family?: string;
  comparison?: GgufComparison;
  eval?: GgufEvalResult;
  onnxEval?: OnnxEvalResult;
}

/**
 * One point of the size/quality chart. The variants give theirs; `ReportData.points` adds others
 * (files measured elsewhere, size targets ...) in the same form.
 */
export interface SizeQualityPoint {
  label: string;
  sizeBytes: number;
  /** mean KL(reference ‖ model), nats per token (llama-perplexity's --kl-divergence) */
  kl?: number;
  /** points of one family are joined into one curve */
  family: string;
  /** used only when no point has a KL: weight SQNR (dB) */
  sqnrDb?: number;
  /** used only when no point has a KL: SQNR of the model's (first) output against the reference's, dB (ONNX Runtime eval) */
  outputSqnrDb?: number;
}

export interface ReportData {
  title: string;
  /** the reference file every variant is measured against */
  ref?: { file: string; sizeBytes: number; eval?: GgufEvalResult };
  variants: ReportVariant[];
  /** more size/quality points, drawn with the variants' own */
  points?: SizeQualityPoint[];
  histograms?: (WeightHistogram & { variant: string })[];
  /** free-form lines shown under the title (settings, method) */
  notes?: string[];
}

/** The chart ids a report holds (the headless test checks each one rendered). */
export function reportChartIds(data: ReportData): string[] {
  const ids: string[] = [];
  if (data.variants.some((v) => v.comparison)) ids.push('chart-tensors');
  if (sizeQualityPoints(data).length) ids.push('chart-size-quality');
  (data.histograms ?? []).forEach((_, i) => ids.push(`chart-hist-${i}`));
  return ids;
}

/** The family a variant's label says it belongs to: the llama.cpp type at its end, else 'variants'. */
export function familyOf(label: string): string {
  const m = /(?:^|[-_.])((?:I?Q|TQ)\d\w*|BF16|F16|F32|fp16|q8|int8|uint8|q4|q4f16|bnb4|quantized)$/i.exec(label);
  const t = m?.[1] ?? '';
  if (/^(fp16|q8|int8|uint8|q4|q4f16|bnb4|quantized)$/.test(t)) return 'ONNX variants';
  if (/^IQ/i.test(t)) return 'i-quants';
  if (/^TQ/i.test(t)) return 'ternary';
  if (/_K/i.test(t)) return 'k-quants';
  if (/^Q\d_\d$/i.test(t)) return 'legacy (Q4_0 ...)';
  if (/^(BF16|F16|F32)$/i.test(t)) return 'float';
  return 'variants';
}

/**
 * The curve of a file lowbit chose the types or codes of itself, from its metadata (quantize.target,
 * quantize.encoder): apart from llama.cpp's mixes, one curve per method. Undefined for other files.
 */
export function lowbitFamily(target: string | undefined, encoder: string | undefined): string | undefined {
  const best = encoder === 'best' || encoder === 'gptq' ? ` --encoder ${encoder}` : '';
  if (target !== undefined) return `lowbit --target-${target.startsWith('bpw') ? 'bpw' : 'size'}${best}`;
  return best ? `lowbit${best}` : undefined;
}

/** Every point of the size/quality chart: the variants' and the extra ones. */
export function sizeQualityPoints(data: ReportData): SizeQualityPoint[] {
  const own = data.variants.map((v): SizeQualityPoint => ({
    label: v.label,
    sizeBytes: v.sizeBytes,
    family: v.family ?? familyOf(v.label),
    kl: v.eval?.klMean,
    sqnrDb: v.comparison?.total.sqnrDb,
    outputSqnrDb: v.onnxEval?.outputs[0]?.sqnrDb,
  }));
  return [...own, ...(data.points ?? [])];
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function num(x: number | undefined, digits = 4): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(digits)));
}

function bytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0,
    v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return i ? `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${u[i]}` : `${n} B`;
}

function tableHtml(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${i ? ' class="n"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function tables(data: ReportData): string {
  const out: string[] = [];
  const cmp = data.variants.filter((v) => v.comparison);
  if (cmp.length) {
    out.push('<h2>Weights against the reference</h2>');
    out.push(
      tableHtml(
        ['variant', 'file size', 'bits/weight', 'RMSE', 'max abs', 'SQNR dB', 'cosine', 'worst tensor'],
        cmp.map((v) => {
          const c = v.comparison!,
            w = c.worst[0];
          return [
            v.label,
            bytes(v.sizeBytes),
            num(c.total.bitsPerWeightB),
            num(c.total.rmse),
            num(c.total.maxAbs),
            num(c.total.sqnrDb),
            num(c.total.cosine, 6),
            w ? `${w.name} (${num(w.stats.sqnrDb)} dB)` : '–',
          ];
        }),
      ),
    );
  }
  const ev = data.variants.filter((v) => v.eval);
  if (ev.length || data.ref?.eval) {
    out.push('<h2>Evaluation in llama.cpp</h2>');
    const rows = ev.map((v) => {
      const e = v.eval!;
      return [
        v.label,
        bytes(e.sizeBytes),
        `${num(e.perplexity)} ± ${num(e.perplexityUncertainty, 2)}`,
        num(e.klMean),
        num(e.klP99),
        e.sameTopPct === undefined ? '–' : `${e.sameTopPct.toFixed(2)}%`,
        num(e.ppTokPerSec),
        num(e.genTokPerSec),
      ];
    });
    if (data.ref?.eval) {
      const e = data.ref.eval;
      rows.unshift([
        'reference',
        bytes(e.sizeBytes),
        `${num(e.perplexity)} ± ${num(e.perplexityUncertainty, 2)}`,
        '–',
        '–',
        '–',
        num(e.ppTokPerSec),
        num(e.genTokPerSec),
      ]);
    }
    out.push(
      tableHtml(['variant', 'size', 'perplexity', 'mean KL', 'KL p99', 'same top', 'prompt tok/s', 'gen tok/s'], rows),
    );
    const s = (ev[0]?.eval ?? data.ref?.eval)!;
    out.push(
      `<p class="note">${esc(s.settings.method)}; ${esc(s.settings.engine)}, KV cache ${esc(s.settings.kvCache)}, flash attention ${s.settings.flashAttention ? 'on' : 'off'}. Text: ${s.text.source === 'file' ? 'given file' : `${s.text.documents} documents generated by the reference (seed ${s.text.seed})`}.</p>`,
    );
  }
  const ox = data.variants.filter((v) => v.onnxEval);
  if (ox.length) {
    out.push('<h2>Evaluation in ONNX Runtime</h2>');
    out.push(
      tableHtml(
        [
          'variant',
          'size',
          'output',
          'cosine',
          'SQNR dB',
          'max abs',
          'top-1 agreement',
          'accuracy (model / ref)',
          'latency ms (model / ref)',
        ],
        ox.flatMap((v) => {
          const e = v.onnxEval!;
          return e.outputs.map((o, i) => [
            i ? '' : v.label,
            i ? '' : bytes(e.sizeBytes.model),
            o.name,
            num(o.cosine, 6),
            num(o.sqnrDb),
            num(o.maxAbs),
            e.top1Agreement && i === 0 ? `${(e.top1Agreement.agreement * 100).toFixed(2)}%` : '–',
            e.accuracy && i === 0
              ? `${(e.accuracy.model * 100).toFixed(2)}% / ${(e.accuracy.ref * 100).toFixed(2)}%`
              : '–',
            i ? '' : `${num(e.latencyMs.model, 3)} / ${num(e.latencyMs.ref, 3)}`,
          ]);
        }),
      ),
    );
  }
  return out.join('\n');
}

/** JSON for a <script> element: no '</script>' or '<!--' can close it early. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Distinct colours (Okabe-Ito, then Paul Tol's): no two series shown together share one. */
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#000000',
  '#882255',
  '#44AA99',
  '#999933',
  '#AA4499',
  '#332288',
  '#117733',
  '#DDCC77',
  '#661100',
  '#6699CC',
];
const WORST_TENSORS = 15;
/** families whose members are different methods, not one method at several sizes: drawn unjoined */
const UNJOINED = new Set(['ONNX variants', 'float', 'variants']);
const FLOAT_TYPES = /^(F16|BF16|F32|F64|FLOAT|FLOAT16|BFLOAT16|DOUBLE)$/i;

/**
 * Labels without the part every one of them starts with ('stories260K-Q4_0', 'stories260K-Q8_0' ->
 * 'Q4_0', 'Q8_0'), cut at a '-', '_' or '.' so names stay whole.
 */
export function shortLabels(labels: string[]): (s: string) => string {
  if (labels.length < 2) return (s) => s;
  let n = 0;
  const first = labels[0]!;
  while (n < first.length && labels.every((l) => l[n] === first[n])) n++;
  // the longest cut at a separator that leaves every label's type (its family) readable
  for (let end = n - 1; end >= 0; end--) {
    if (!'-_.'.includes(first[end]!)) continue;
    const cut = end + 1;
    if (labels.every((l) => l.length > cut && familyOf(l.slice(cut)) === familyOf(l)))
      return (s) => (s.startsWith(first.slice(0, cut)) && s.length > cut ? s.slice(cut) : s);
  }
  return (s) => s;
}

/** The chart data, reduced to what the charts draw. */
function chartData(data: ReportData) {
  const short = shortLabels([...data.variants.map((v) => v.label), ...(data.points ?? []).map((p) => p.label)]);
  const pts = sizeQualityPoints(data).map((p) => ({ ...p, label: short(p.label) }));
  const metric = pts.some((p) => p.kl !== undefined && p.kl > 0)
    ? 'kl'
    : pts.some((p) => p.outputSqnrDb !== undefined)
      ? 'output'
      : 'sqnr';
  const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  const y = (p: SizeQualityPoint) =>
    metric === 'kl'
      ? p.kl !== undefined && p.kl > 0
        ? p.kl
        : null
      : finite(metric === 'output' ? p.outputSqnrDb : p.sqnrDb);
  const families = [...new Set(pts.map((p) => p.family))];
  const maxSize = Math.max(0, ...pts.map((p) => p.sizeBytes));
  const unit =
    maxSize >= 2 * 1024 ** 3 ? ['GiB', 1024 ** 3] : maxSize >= 2 * 1024 ** 2 ? ['MiB', 1024 ** 2] : ['KiB', 1024];
  const cmp = data.variants.filter((v) => v.comparison);
  // the variant whose tensors are shown first: the smallest file (where rounding hurts most)
  const first = cmp.reduce((best, v, i) => (v.sizeBytes < cmp[best]!.sizeBytes ? i : best), 0);
  return {
    sizeQuality: {
      metric,
      unit: unit[0],
      unitBytes: unit[1],
      families: families
        .map((f, i) => ({
          // a family of one method at several sizes is a curve; unrelated methods are points
          name: f,
          color: PALETTE[i % PALETTE.length],
          curve: !UNJOINED.has(f),
          points: pts
            .filter((p) => p.family === f && y(p) !== null)
            .sort((a, b) => a.sizeBytes - b.sizeBytes)
            .map((p) => [p.sizeBytes / (unit[1] as number), y(p), p.label]),
        }))
        .filter((f) => f.points.length),
      hidden: pts.filter((p) => y(p) === null).map((p) => p.label),
      refSize: data.ref?.sizeBytes ?? null,
    },
    tensors: {
      first,
      variants: cmp.map((v) => {
        const rows = v
          .comparison!.tensors.filter((t) => Number.isFinite(t.stats.sqnrDb))
          .sort((a, b) => a.stats.sqnrDb - b.stats.sqnrDb)
          .slice(0, WORST_TENSORS);
        return {
          label: short(v.label),
          identical:
            v.comparison!.tensors.length - v.comparison!.tensors.filter((t) => Number.isFinite(t.stats.sqnrDb)).length,
          rows: rows.map((t) => ({ name: t.name, type: t.typeB, sqnr: t.stats.sqnrDb, rmse: t.stats.rmse })),
        };
      }),
    },
    palette: PALETTE,
    histograms: (data.histograms ?? []).map((h) => {
      const step = (h.a.max - h.a.min) / h.a.counts.length;
      const quantized = !FLOAT_TYPES.test(h.typeB);
      return {
        tensor: h.tensor,
        typeA: h.typeA,
        typeB: h.typeB,
        variant: short(h.variant),
        x: h.a.counts.map((_, i) => h.a.min + (i + 0.5) * step),
        a: h.a.counts,
        b: h.b.counts,
        // levels only mean something for a quantized type: the values one block's codes decode to
        levels: quantized ? h.blockLevels.map((l) => l.value) : [],
        block: h.blockIndex,
      };
    }),
  };
}

function histogramCaption(h: WeightHistogram & { variant: string }): string {
  const what = `Weights of <code>${esc(h.tensor)}</code> in the reference (${esc(h.typeA)}) and in ${esc(h.variant)} (${esc(h.typeB)}), counted on the same bins.`;
  if (FLOAT_TYPES.test(h.typeB))
    return `${what} ${esc(h.typeB)} rounds each weight to the nearest ${esc(h.typeB)} number; the two curves differ too little to tell apart at this scale. It has no blocks and no shared levels, so none are drawn.`;
  return `${what} ${esc(h.typeB)} stores each block of weights as small integer codes and a scale: every weight of a block lands on one of a few values. The dashed lines (and diamonds) are the ${h.blockLevels.length} distinct values block ${h.blockIndex}, the block with the widest range, decodes to: the levels its codes landed on. Every block has its own scale, so the other blocks' levels sit elsewhere; summed over all blocks, the dequantized curve follows the reference with the rounding error showing as its departures from it.`;
}

// Runs in the page: builds every chart from the embedded data, then marks the document when all
// have finished rendering (data-charts-rendered), which the headless test waits for.
const PAGE_SCRIPT = String.raw`
(function () {
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var charts = [];
  var FONT = { fontSize: 12, color: '#333' };
  // layout(chart), when given, runs once the chart has drawn (it needs pixel positions) and again on
  // resize; the chart counts as rendered after the drawing that follows it
  function make(id, option, layout) {
    var el = document.getElementById(id);
    if (!el) return null;
    var c = echarts.init(el, null, { renderer: 'svg' });
    var pending = !!layout;
    var done = function () { el.setAttribute('data-rendered', '1'); check(); };
    c.on('finished', function () {
      if (!pending) return done();
      pending = false;
      // (ECharts ignores setOption from inside its own event handlers: run just after)
      setTimeout(function () {
        layout(c);
        // the relaid chart is painted by the next frames
        requestAnimationFrame(function () { requestAnimationFrame(done); });
      }, 0);
    });
    c.setOption(Object.assign({ animation: false, textStyle: FONT }, option));
    charts.push({ chart: c, layout: layout });
    return c;
  }
  var measure = document.createElement('canvas').getContext('2d');
  // Point labels that never touch: each label tries right, right and a little above or below, the
  // same on the left, above and below its point (and a little farther) and is shown at the first place that stays inside the plot and clear
  // of every point, label placed so far (2 px apart) and curve drawn; when no place is clear of the
  // curves, the first one clear of points and labels; labels with no such place are hidden (their
  // point keeps its tooltip).
  var LABEL_FONT = 11, LABEL_H = 15, GAP = 2, SYMBOL = 8, DIST = 5;
  // does the segment a-b cross the rectangle r (grown by GAP)? (Liang-Barsky clipping)
  function crosses(a, b, r) {
    var x0 = r[0] - GAP, y0 = r[1] - GAP, x1 = r[2] + GAP, y1 = r[3] + GAP;
    var dx = b[0] - a[0], dy = b[1] - a[1], t0 = 0, t1 = 1;
    var ps = [-dx, dx, -dy, dy], qs = [a[0] - x0, x1 - a[0], a[1] - y0, y1 - a[1]];
    for (var i = 0; i < 4; i++) {
      if (ps[i] === 0) { if (qs[i] < 0) return false; continue; }
      var t = qs[i] / ps[i];
      if (ps[i] < 0) { if (t > t1) return false; if (t > t0) t0 = t; }
      else { if (t < t0) return false; if (t < t1) t1 = t; }
    }
    return true;
  }
  function placeLabels(c, families, grid) {
    measure.font = LABEL_FONT + 'px sans-serif';
    var W = c.getWidth(), H = c.getHeight();
    var box = { l: grid.left, r: W - grid.right, t: grid.top, b: H - grid.bottom };
    var taken = [];
    var px = families.map(function (f, si) { return f.points.map(function (p) { return c.convertToPixel({ seriesIndex: si }, [p[0], p[1]]); }); });
    px.forEach(function (ps) { ps.forEach(function (q) { taken.push([q[0] - SYMBOL / 2, q[1] - SYMBOL / 2, q[0] + SYMBOL / 2, q[1] + SYMBOL / 2]); }); });
    var segments = [];
    families.forEach(function (f, si) { if (f.curve) for (var i = 1; i < px[si].length; i++) segments.push([px[si][i - 1], px[si][i]]); });
    function free(r, avoidCurves) {
      if (r[0] < box.l || r[2] > box.r || r[1] < box.t || r[3] > box.b) return false;
      for (var i = 0; i < taken.length; i++) { var t = taken[i]; if (r[0] < t[2] + GAP && t[0] < r[2] + GAP && r[1] < t[3] + GAP && t[1] < r[3] + GAP) return false; }
      if (avoidCurves) for (var j = 0; j < segments.length; j++) if (crosses(segments[j][0], segments[j][1], r)) return false;
      return true;
    }
    var off = SYMBOL / 2 + DIST, texts = [];
    families.forEach(function (f, si) {
      f.points.forEach(function (p, i) {
        var q = px[si][i], w = measure.measureText(p[2]).width, x = q[0], y = q[1];
        var tries = [[x + off, y - LABEL_H / 2], [x + off, y - LABEL_H - 2], [x + off, y + 2], [x - off - w, y - LABEL_H / 2], [x - off - w, y + 2], [x - off - w, y - LABEL_H - 2],
          [x - w / 2, y - off - LABEL_H], [x - w / 2, y + off], [x - w / 2, y + off + LABEL_H / 2], [x - w / 2, y - off - LABEL_H * 1.5]];
        for (var pass = 0; pass < 2; pass++)
          for (var k = 0; k < tries.length; k++) {
            var r = [tries[k][0], tries[k][1], tries[k][0] + w, tries[k][1] + LABEL_H];
            if (!free(r, pass === 0)) continue;
            taken.push(r);
            texts.push({ type: 'text', silent: true, x: r[0], y: r[1] + 1, style: { text: p[2], fontSize: LABEL_FONT, fontFamily: 'sans-serif', fill: '#333' } });
            return;
          }
      });
    });
    // the labels are graphic texts at those places (ECharts' own label layout lets boxes touch)
    c.setOption({ graphic: { elements: texts } }, { replaceMerge: ['graphic'] });
  }
  function check() {
    var all = document.querySelectorAll('.chart');
    for (var i = 0; i < all.length; i++) if (all[i].getAttribute('data-rendered') !== '1') return;
    document.body.setAttribute('data-charts-rendered', String(all.length));
  }
  function fmtNum(v) { var a = Math.abs(v); return a === 0 ? '0' : a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(+v.toPrecision(3)); }

  // 1. size against quality, one curve per family
  var SQ = D.sizeQuality;
  if (SQ.families.length) {
    var kl = SQ.metric === 'kl';
    var yName = kl ? 'mean KL divergence from the reference (nats, log scale; lower is better)' : SQ.metric === 'output' ? 'output SQNR against the reference, dB (higher is better)' : 'weight SQNR, dB (higher is better)';
    var SQ_GRID = { left: 80, right: 40, top: 44, bottom: 56 };
    var ys = [], xs = [];
    SQ.families.forEach(function (f) { f.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    var yAxis = kl
      ? { type: 'log', min: Math.pow(10, Math.floor(Math.log10(Math.min.apply(null, ys)))), max: Math.pow(10, Math.ceil(Math.log10(Math.max.apply(null, ys)))), axisLabel: { formatter: function (v) { return v.toExponential(0); } } }
      : { type: 'value', scale: true };
    make('chart-size-quality', {
      color: SQ.families.map(function (f) { return f.color; }),
      legend: { top: 0, type: 'scroll', textStyle: FONT },
      tooltip: { trigger: 'item', formatter: function (x) { return x.value[2] + ' (' + x.seriesName + ')<br>' + x.value[0].toFixed(1) + ' ' + SQ.unit + ', ' + fmtNum(x.value[1]); } },
      grid: SQ_GRID,
      xAxis: { type: 'value', name: 'file size (' + SQ.unit + ')', nameLocation: 'middle', nameGap: 32, scale: true,
        // room around the points for their labels
        min: function (v) { return Math.max(0, v.min - (v.max - v.min) * 0.06 - 1e-9); }, max: function (v) { return v.max + (v.max - v.min) * 0.12 + 1e-9; },
        axisLabel: { formatter: function (v) { return String(+v.toFixed(2)); }, hideOverlap: true, showMinLabel: false, showMaxLabel: false } },
      yAxis: Object.assign(yAxis, { name: yName, nameLocation: 'middle', nameGap: 58, nameTextStyle: FONT }),
      series: SQ.families.map(function (f) {
        return { name: f.name, type: 'line', data: f.points, symbolSize: 8, lineStyle: { width: f.curve ? 1.5 : 0 },
          label: { show: false },
          emphasis: { focus: 'series' } };
      })
    }, function (c) { placeLabels(c, SQ.families, SQ_GRID); });
  }

  // 2. the worst tensors of one variant, coloured by the type they are stored in
  var T = D.tensors;
  function tensorOption(v) {
    var names = v.rows.map(function (r) { return r.name; });
    var types = [];
    v.rows.forEach(function (r) { if (types.indexOf(r.type) < 0) types.push(r.type); });
    return {
      color: types.map(function (_, i) { return D.palette[i % D.palette.length]; }),
      legend: { top: 0, type: 'scroll', textStyle: FONT },
      tooltip: { trigger: 'item', formatter: function (x) { var r = v.rows[x.dataIndex]; return r.name + '<br>' + r.type + ': SQNR ' + fmtNum(r.sqnr) + ' dB, RMSE ' + fmtNum(r.rmse); } },
      grid: { left: 16, right: 40, top: 40, bottom: 50, containLabel: true },
      yAxis: { type: 'category', data: names, inverse: true, axisLabel: { fontSize: 11, interval: 0, width: 360, overflow: 'truncate' }, axisTick: { show: false } },
      xAxis: { type: 'value', name: 'SQNR against the reference, dB (higher is better)', nameLocation: 'middle', nameGap: 30, axisLabel: { hideOverlap: true, alignMinLabel: 'left', alignMaxLabel: 'right' } },
      series: types.map(function (t) {
        return { name: t, type: 'bar', stack: 'one', barMaxWidth: 18, data: v.rows.map(function (r) { return r.type === t ? r.sqnr : null; }) };
      })
    };
  }
  if (T.variants.length) {
    var tchart = make('chart-tensors', tensorOption(T.variants[T.first]));
    var sel = document.getElementById('tensor-variant');
    var note = document.getElementById('tensor-note');
    var setNote = function (v) { if (note) note.textContent = v.identical ? v.identical + ' tensor(s) of ' + v.label + ' are identical to the reference and not drawn.' : ''; };
    setNote(T.variants[T.first]);
    if (sel) sel.addEventListener('change', function () { var v = T.variants[+sel.value]; tchart.setOption(tensorOption(v), true); setNote(v); });
  }

  // 3. one tensor before and after rounding, with the levels of one block for quantized types
  D.histograms.forEach(function (h, i) {
    var series = [
      { name: 'reference (' + h.typeA + ')', type: 'line', step: 'middle', symbol: 'none', lineStyle: { width: 1 }, areaStyle: { opacity: 0.25 }, data: h.x.map(function (x, j) { return [x, h.a[j]]; }) },
      { name: h.variant + ' (' + h.typeB + ')', type: 'line', step: 'middle', symbol: 'none', lineStyle: { width: 1.2 }, data: h.x.map(function (x, j) { return [x, h.b[j]]; }) }
    ];
    // the levels: diamonds on the axis and dashed lines up through the histogram
    if (h.levels.length) series.push({ name: 'values block ' + h.block + ' decodes to', type: 'scatter', symbol: 'diamond', symbolSize: 8, data: h.levels.map(function (v) { return [v, 0]; }),
      markLine: { silent: true, symbol: 'none', precision: 12, label: { show: false }, lineStyle: { type: 'dashed', width: 1, color: D.palette[2] }, data: h.levels.map(function (v) { return { xAxis: v }; }) } });
    make('chart-hist-' + i, {
      color: [D.palette[0], D.palette[3], D.palette[2]],
      legend: { top: 0, textStyle: FONT },
      tooltip: { trigger: 'axis' },
      grid: { left: 70, right: 30, top: 40, bottom: 50 },
      xAxis: { type: 'value', name: 'weight value', nameLocation: 'middle', nameGap: 30, scale: true, axisLabel: { hideOverlap: true, alignMinLabel: 'left', alignMaxLabel: 'right' } },
      yAxis: { type: 'value', name: 'weights per bin', nameLocation: 'middle', nameGap: 50, axisLine: { onZero: false } },
      series: series
    });
  });
  if (!document.querySelectorAll('.chart').length) document.body.setAttribute('data-charts-rendered', '0');
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.chart.resize(); if (c.layout) c.layout(c.chart); }); });
})();
`;

/**
 * The report as one HTML string. `echartsSource` is the text of echarts/dist/echarts.min.js
 * (see loadEchartsSource in src/node/echarts-source.ts for Node).
 */
export function buildReportHtml(data: ReportData, echartsSource: string): string {
  const ids = reportChartIds(data);
  const cd = chartData(data);
  const notes = (data.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join('\n');
  const ref = data.ref
    ? `<p>Reference: <code>${esc(data.ref.file)}</code> (${bytes(data.ref.sizeBytes)}). Each variant is measured against it.</p>`
    : '';
  const sq = cd.sizeQuality;
  const sqSection = ids.includes('chart-size-quality')
    ? `<section id="size-quality">
<h2>Which file for which size?</h2>
<p class="note">${
        sq.metric === 'kl'
          ? "One point per file: its size, and how far its next-token probabilities moved from the reference (mean KL divergence per token, as llama-perplexity --kl-divergence measures it). Lower is better; a family of types (k-quants, legacy, i-quants …) is one curve, and lowbit's own choices (files its metadata says were made with --target-size or --encoder best / gptq) are curves of their own. Pick the smallest file whose KL you accept: a point below and left of another is better on both counts."
          : sq.metric === 'output'
            ? "One point per file: its size, and the signal-to-noise ratio of its output against the reference's on the same inputs in ONNX Runtime (the tables below also give top-1 agreement and accuracy). Higher is better; each ONNX variant is a method of its own, so the points are not joined."
            : 'One point per file: its size, and the signal-to-noise ratio of all its weights against the reference (no engine evaluation in this report: run it with --eval for the KL divergence). Higher is better.'
      }${sq.hidden.length ? ` Not drawn (no ${sq.metric === 'kl' ? 'KL above 0' : 'measurement'}): ${esc(sq.hidden.join(', '))}.` : ''} Labels that would overlap another are hidden; hover a point for its name.</p>
<div id="chart-size-quality" class="chart"></div>
</section>`
    : '';
  const tv = cd.tensors.variants;
  const tensorSection = ids.includes('chart-tensors')
    ? `<section id="tensors">
<h2>Which tensors lose the most?</h2>
<p class="note">The ${WORST_TENSORS} tensors with the lowest signal-to-noise ratio (SQNR: weight power over rounding-error power, in dB; about 6 dB per bit) in one variant, coloured by the type each is stored in.${tv.length > 1 ? ' Choose the variant:' : ''}</p>
${tv.length > 1 ? `<p><label for="tensor-variant">variant </label><select id="tensor-variant">${tv.map((v, i) => `<option value="${i}"${i === cd.tensors.first ? ' selected' : ''}>${esc(v.label)}</option>`).join('')}</select></p>` : ''}
<div id="chart-tensors" class="chart" style="height: ${Math.max(220, 90 + 26 * Math.max(1, ...tv.map((v) => v.rows.length)))}px"></div>
<p class="note" id="tensor-note"></p>
</section>`
    : '';
  const hists = data.histograms ?? [];
  const histSection = hists.length
    ? `<section id="histograms">
<h2>What rounding does to the weights</h2>
${hists.map((h, i) => `<p class="note">${histogramCaption(h)}</p>\n<div id="chart-hist-${i}" class="chart hist"></div>`).join('\n')}
</section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(data.title)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1160px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin: 32px 0 4px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } .note { color: #555; font-size: 13px; max-width: 900px; margin: 4px 0; }
.chart { width: 100%; height: 460px; margin: 8px 0 16px; } .chart.hist { height: 340px; } code { font-size: 12px; }
select { font: inherit; }
</style>
<script>${echartsSource.replace(/<\/script/gi, '<\\/script')}</script>
</head>
<body>
<h1>${esc(data.title)}</h1>
${ref}
${notes}
${sqSection}
${tables(data)}
${tensorSection}
${histSection}
<script type="application/json" id="report-data">${scriptJson(cd)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
