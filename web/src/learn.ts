// The learn view: the seed lesson, interactive. n bits and a range give 2^n landing points
// (src/teach/levels.ts); a typed value lands on the nearest and the page says the error at 8, 4
// and n bits; a real tensor of the loaded model drawn with a format's landing points; each block
// format's bytes drawn as its fields (src/teach/layouts.ts, src/teach/formats.ts).
import { levels, roundToLevel, step, type Range } from '../../src/teach/levels.js';
import { describeFormat } from '../../src/teach/formats.js';
import { blockFields } from '../../src/teach/layouts.js';
import { codecs, codecByName } from '../../src/formats/registry.js';
import type { Histogram, Opened, RequestBody } from './protocol.js';

type Ask = <T>(req: RequestBody) => Promise<T>;
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const SVG = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const f5 = (x: number) => x.toFixed(5);

function range(): Range | null {
  const min = Number(($('min') as HTMLInputElement).value),
    max = Number(($('max') as HTMLInputElement).value);
  return Number.isFinite(min) && Number.isFinite(max) && max > min ? { min, max } : null;
}

function landingRow(tr: HTMLElement, bits: number, x: number, r: Range): void {
  const q = roundToLevel(x, bits, r);
  const n = q.levels - 1;
  // 0..1 ranges give the lesson's fractions (31/255); other ranges: min + code·step
  const frac = r.min === 0 && r.max === 1 ? `${q.code}/${n}` : `${r.min} + ${q.code}·${fmtStep(q.step)}`;
  tr.replaceChildren(
    ...[
      tr.id === 'landn' ? `${bits} (chosen above)` : `${bits}`,
      `code ${q.code} of ${n}`,
      frac,
      f5(q.value),
      `${f5(q.absError)}${q.clamped ? ' (clamped to the range)' : ''}`,
    ].map((t) => {
      const td = document.createElement('td');
      td.textContent = t;
      return td;
    }),
  );
  tr.dataset.value = f5(q.value);
  tr.dataset.error = f5(q.absError);
  tr.dataset.code = String(q.code);
}
const fmtStep = (s: number) => Number(s.toPrecision(6)).toString();

function drawLevels(): void {
  const bits = Number(($('bits') as HTMLInputElement).value);
  $('bits-out').textContent = String(bits);
  const r = range();
  const svg = $('numberline') as unknown as SVGSVGElement;
  svg.replaceChildren();
  if (!r) {
    $('step').textContent = 'min must be below max';
    return;
  }
  const s = step(bits, r);
  $('step').textContent =
    `${bits} bit${bits > 1 ? 's' : ''}: ${2 ** bits} landing points from ${r.min} to ${r.max}, step (max − min)/(2^${bits} − 1) = ${fmtStep(s)}`;
  $('step').dataset.step = String(s);
  const W = 900,
    x0 = 30,
    x1 = W - 30,
    y = 45;
  const X = (v: number) => x0 + ((v - r.min) / (r.max - r.min)) * (x1 - x0);
  svg.appendChild(el('line', { x1: x0, y1: y, x2: x1, y2: y, stroke: '#888' }));
  for (const l of levels(bits, r)) {
    svg.appendChild(el('circle', { cx: X(l.value), cy: y, r: bits <= 5 ? 4 : 2, fill: '#2f5fd0' }));
    if (bits <= 4)
      svg.appendChild(
        el('text', { x: X(l.value), y: y + 20, 'text-anchor': 'middle' }, Number(l.value.toPrecision(3)).toString()),
      );
  }
  if (bits > 4) {
    svg.appendChild(el('text', { x: x0, y: y + 20, 'text-anchor': 'middle' }, String(r.min)));
    svg.appendChild(el('text', { x: x1, y: y + 20, 'text-anchor': 'middle' }, String(r.max)));
  }
  const x = Number(($('value') as HTMLInputElement).value);
  if (Number.isFinite(x)) {
    const q = roundToLevel(x, bits, r);
    const xv = Math.min(Math.max(x, r.min), r.max);
    svg.appendChild(el('line', { x1: X(xv), y1: 12, x2: X(xv), y2: y, stroke: '#b3261e', 'stroke-width': 2 }));
    svg.appendChild(el('text', { x: X(xv), y: 10, 'text-anchor': 'middle', fill: '#b3261e' }, `${x}`));
    svg.appendChild(el('circle', { cx: X(q.value), cy: y, r: 6, fill: 'none', stroke: '#b3261e', 'stroke-width': 2 }));
    landingRow($('land8'), 8, x, r);
    landingRow($('land4'), 4, x, r);
    landingRow($('landn'), bits, x, r);
  }
}

function drawLayout(): void {
  const name = ($('layout-format') as HTMLSelectElement).value;
  const c = codecByName(name);
  const svg = $('layout') as unknown as SVGSVGElement;
  svg.replaceChildren();
  if (!c) return;
  const d = describeFormat(c);
  const fields = blockFields(c);
  const W = 900,
    x0 = 10,
    x1 = W - 10,
    total = c.type.typeSize;
  const colours = ['#2f5fd0', '#e08a1e', '#1b7f3b', '#8e44ad', '#b3261e', '#16a0a0', '#7a6a00'];
  let at = 0;
  fields.forEach((f, i) => {
    const xa = x0 + (at / total) * (x1 - x0),
      xb = x0 + ((at + f.bytes) / total) * (x1 - x0);
    svg.appendChild(
      el('rect', {
        x: xa,
        y: 20,
        width: Math.max(1, xb - xa - 1),
        height: 40,
        fill: colours[i % colours.length]!,
        opacity: 0.85,
      }),
    );
    // byte ticks for small blocks
    if (total <= 40)
      for (let b = 1; b < f.bytes; b++) {
        const xt = x0 + ((at + b) / total) * (x1 - x0);
        svg.appendChild(el('line', { x1: xt, y1: 20, x2: xt, y2: 60, stroke: '#fff', 'stroke-opacity': 0.5 }));
      }
    if (xb - xa > 24)
      svg.appendChild(el('text', { x: (xa + xb) / 2, y: 45, 'text-anchor': 'middle', fill: '#fff' }, f.name));
    svg.appendChild(
      el(
        'text',
        { x: x0, y: 82 + i * 14 },
        `${f.name}: ${f.bytes} byte${f.bytes > 1 ? 's' : ''} (${f.bytes * 8} bits) — ${f.what}`,
      ),
    );
    at += f.bytes;
  });
  svg.setAttribute('height', String(90 + fields.length * 14));
  svg.appendChild(
    el(
      'text',
      { x: x0, y: 14 },
      `one block of ${c.name}: ${c.type.blockSize} weight${c.type.blockSize > 1 ? 's' : ''} in ${total} bytes = ${d.bitsPerWeight.toFixed(4).replace(/\.?0+$/, '')} bits per weight`,
    ),
  );
  $('layout-text').textContent = d.layout;
  $('layout').dataset.bytes = String(total);
}

let ask: Ask;
let model: Opened | null = null;

export function setLearnModel(o: Opened | null): void {
  model = o;
  const sel = $('hist-tensor') as HTMLSelectElement;
  sel.replaceChildren(...(o?.drawable ?? []).map((n) => new Option(n, n)));
  // a big 2-D weight draws best
  const pick = (o?.drawable ?? []).find((n) => /(ffn|attn|mlp|self_attn).*weight/.test(n));
  if (pick) sel.value = pick;
  $('hist-note').hidden = !!o?.drawable.length;
  void drawHistogram();
}

async function drawHistogram(): Promise<void> {
  const svg = $('hist') as unknown as SVGSVGElement;
  svg.replaceChildren();
  const tensor = ($('hist-tensor') as HTMLSelectElement).value;
  if (!model || !tensor) return;
  let h: Histogram;
  try {
    h = await ask<Histogram>({ op: 'histogram', tensor, format: ($('hist-format') as HTMLSelectElement).value });
  } catch (e) {
    $('hist-text').textContent = (e as Error).message;
    return;
  }
  const W = 900,
    H = 220,
    x0 = 30,
    x1 = W - 20,
    y1 = H - 30,
    y0 = 20;
  const X = (v: number) => x0 + ((v - h.min) / (h.max - h.min || 1)) * (x1 - x0);
  const top = Math.max(...h.counts);
  const bw = (x1 - x0) / h.counts.length;
  h.counts.forEach((c, i) => {
    const hh = (c / top) * (y1 - y0);
    svg.appendChild(
      el('rect', { x: x0 + i * bw, y: y1 - hh, width: Math.max(1, bw - 0.5), height: hh, fill: '#9aa7bd' }),
    );
  });
  for (const p of h.points)
    svg.appendChild(
      el('line', {
        x1: X(p),
        y1: y0 - 8,
        x2: X(p),
        y2: y1,
        stroke: '#b3261e',
        'stroke-width': 1,
        'stroke-opacity': 0.8,
      }),
    );
  svg.appendChild(el('line', { x1: x0, y1: y1, x2: x1, y2: y1, stroke: '#555' }));
  svg.appendChild(el('text', { x: x0, y: H - 10, 'text-anchor': 'middle' }, h.min.toPrecision(3)));
  svg.appendChild(el('text', { x: x1, y: H - 10, 'text-anchor': 'middle' }, h.max.toPrecision(3)));
  svg.appendChild(el('text', { x: (x0 + x1) / 2, y: H - 10, 'text-anchor': 'middle' }, '0'));
  $('hist-text').textContent =
    `${h.tensor}: ${h.values.toLocaleString('en-US')} weights (grey). Red: the ${h.points.length} landing points the ${h.format} block holding the largest weight put its weights on (its scale sets where they are). RMS error of ${h.format} over these weights: ${h.rmse.toExponential(3)}.`;
  svg.dataset.points = String(h.points.length);
}

export function setupLearn(a: Ask): void {
  ask = a;
  for (const id of ['bits', 'min', 'max', 'value']) $(id).addEventListener('input', drawLevels);
  const blockCodecs = codecs().filter((c) => c.type.blockSize > 1);
  ($('layout-format') as HTMLSelectElement).replaceChildren(...codecs().map((c) => new Option(c.name, c.name)));
  ($('layout-format') as HTMLSelectElement).value = 'Q4_K';
  ($('hist-format') as HTMLSelectElement).replaceChildren(...blockCodecs.map((c) => new Option(c.name, c.name)));
  ($('hist-format') as HTMLSelectElement).value = 'Q4_0';
  $('layout-format').addEventListener('change', drawLayout);
  $('hist-format').addEventListener('change', () => void drawHistogram());
  $('hist-tensor').addEventListener('change', () => void drawHistogram());
  drawLevels();
  drawLayout();
}
