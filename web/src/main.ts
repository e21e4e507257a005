// The page: picks a model, shows what `lowbit inspect` shows, plans and quantizes it in the job
// worker (job-worker.ts) with the options the CLI takes, streams the output to disk, then shows the
// per-tensor error. The learn view is in learn.ts.
import { FILE_TYPES } from '../../src/plan/file-types.js';
import { VARIANTS, VARIANT_SUFFIX } from '../../src/onnx/variants.js';
import { ggmlTypes } from './types.js';
import { setupLearn, setLearnModel } from './learn.js';
import { buildReportHtml, type ReportData } from '../../src/report/html.js';
import type {
  CompareResult,
  Input,
  JobOptions,
  Opened,
  Output,
  PlanResult,
  Reply,
  Request,
  RequestBody,
} from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// ---- the job worker: one request at a time per id, progress on the side ----
const worker = new Worker(new URL('job-worker.js', import.meta.url), { type: 'module', name: 'lowbit-job' });
let nextId = 1;
const pending = new Map<
  number,
  {
    resolve: (v: any) => void;
    reject: (e: Error) => void;
    progress?: (p: { done: number; total: number; tensor: string }) => void;
  }
>();
worker.onmessage = (e: MessageEvent<Reply>) => {
  const r = e.data;
  const p = pending.get(r.id);
  if (!p) return;
  if ('progress' in r) {
    p.progress?.(r.progress);
    return;
  }
  pending.delete(r.id);
  if (r.ok) p.resolve(r.value);
  else p.reject(new Error(r.error));
};
worker.onerror = (e) => showError(`lowbit: internal error: ${e.message}`);
export function ask<T>(
  req: RequestBody,
  progress?: (p: { done: number; total: number; tensor: string }) => void,
): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve, reject, progress });
    worker.postMessage({ ...req, id } as Request);
  });
}

// ECharts (its minified build, Apache-2.0, shipped in dist/web) for the report's charts: fetched once
// at start, so the page still draws them when the server is gone (offline once loaded)
const ECHARTS: Promise<string> = fetch(new URL('echarts.min.js', import.meta.url)).then((r) => {
  if (!r.ok) throw new Error(`echarts.min.js: HTTP ${r.status}`);
  return r.text();
});
ECHARTS.catch(() => {});

// ---- formatting ----
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024,
    i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${u[i]}`;
}
const fmtDb = (x: number) => (x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x.toFixed(2));
function fmtNum(x: number, digits = 4): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e6 ? Number(x.toPrecision(digits)).toString() : x.toExponential(digits - 1);
}
function fillTable(t: HTMLTableElement, head: string[], rows: (string | number)[][], leftCols: number[] = []): void {
  t.replaceChildren();
  const tr = t.insertRow();
  for (const h of head) {
    const th = document.createElement('th');
    th.textContent = h;
    tr.appendChild(th);
  }
  for (const r of rows) {
    const row = t.insertRow();
    r.forEach((c, i) => {
      const td = row.insertCell();
      td.textContent = String(c);
      if (leftCols.includes(i)) td.className = 'why';
    });
  }
}

// ---- errors ----
function showError(msg: string | null): void {
  const el = $('error');
  el.hidden = !msg;
  el.textContent = msg ?? '';
}
const errText = (e: unknown) => {
  const m = (e as Error)?.message ?? String(e);
  return m.startsWith('lowbit: ') ? m : `lowbit: ${m}`;
};

// ---- picking a model ----
let opened: Opened | null = null;
let busy = false;

async function load(input: Input): Promise<void> {
  showError(null);
  for (const id of ['plan', 'done', 'progress-box']) $(id).hidden = true;
  $('model').hidden = true;
  try {
    opened = await ask<Opened>({ op: 'open', input });
  } catch (e) {
    opened = null;
    setLearnModel(null);
    showError(errText(e));
    return;
  }
  showModel(opened);
  setLearnModel(opened);
}

function showModel(o: Opened): void {
  const r = o.report;
  $('model').hidden = false;
  $('model-title').textContent = r.file;
  let params = 0,
    bytes = 0;
  for (const t of r.tensors) {
    params += t.elements;
    bytes += t.bytes;
  }
  $('model-summary').textContent =
    `${r.format}, ${fmtBytes(r.fileSize)}; ${r.tensors.length} tensors, ${params.toLocaleString('en-US')} parameters, ${fmtBytes(bytes)}` +
    (params ? `, ${((bytes * 8) / params).toFixed(2)} bits per weight` : '');
  fillTable(
    $('facts') as HTMLTableElement,
    ['key', 'value'],
    [...r.facts.map(([k, v]) => [k, String(v)]), ...r.metadataText.map(([k, v]) => [k, v])],
    [1],
  );
  fillTable(
    $('tensors') as HTMLTableElement,
    ['name', 'shape', 'type', 'bytes', 'bpw'],
    r.tensors.map((t) => [
      t.name,
      t.shape.join(' x '),
      t.type,
      fmtBytes(t.bytes),
      t.elements ? ((t.bytes * 8) / t.elements).toFixed(2) : '-',
    ]),
  );
  // types: llama.cpp's file types for GGUF and model folders, transformers.js's variants for ONNX
  const onnx = o.kind === 'onnx';
  const sel = $('type') as HTMLSelectElement;
  sel.replaceChildren(
    ...(onnx
      ? VARIANTS.map((v) => new Option(`${v} (model${VARIANT_SUFFIX[v]}.onnx)`, v))
      : FILE_TYPES.map((f) => new Option(`${f.name} — ${f.summary}`, f.name))),
  );
  sel.value = onnx ? 'q8' : 'Q8_0';
  for (const el of document.querySelectorAll<HTMLElement>('.gguf-only')) el.hidden = onnx;
  for (const el of document.querySelectorAll<HTMLElement>('.onnx-only')) el.hidden = !onnx;
}

function inputFromFiles(files: FileList | File[]): Input | null {
  const list = [...files];
  if (!list.length) return null;
  const rel = list.map((f) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name);
  if (list.length === 1 && !rel[0]!.includes('/')) return { kind: 'file', file: list[0]! };
  return { kind: 'folder', name: rel[0]!.split('/')[0] || 'model', files: list, names: rel };
}

// ---- options ----
function options(): JobOptions {
  const v = (id: string) => ($(id) as HTMLInputElement).value;
  const c = (id: string) => ($(id) as HTMLInputElement).checked;
  const im = ($('imatrix') as HTMLInputElement).files?.[0];
  return {
    type: v('type'),
    pure: c('pure'),
    tensorTypes: v('rules'),
    outputTensorType: v('output-type') || undefined,
    tokenEmbeddingType: v('embd-type') || undefined,
    leaveOutputTensor: c('leave-output'),
    allowRequantize: c('allow-requantize'),
    imatrix: im,
    threads: Number(v('threads')) || undefined,
    targetSize: v('target-size') || undefined,
    targetBpw: v('target-bpw') || undefined,
    targetTypes: v('target-types') || undefined,
    encoder: v('encoder') || undefined,
    // unchecked is 'not given' (undefined), as on the command line: some variants default to on
    perChannel: c('per-channel') || undefined,
    symmetric: c('symmetric') || undefined,
    asymmetric: c('asymmetric') || undefined,
    blockSize: v('block-size') || undefined,
    weightOnly: v('weight-only') || undefined,
  };
}

function outName(): string {
  const o = opened!;
  const t = ($('type') as HTMLSelectElement).value;
  if (o.kind === 'onnx') return `${o.base}${VARIANT_SUFFIX[t as keyof typeof VARIANT_SUFFIX] ?? `_${t}`}.onnx`;
  // a size target names the file by the target (the type only fixes what the allocation does not choose)
  const size = ($('target-size') as HTMLInputElement).value.trim(),
    bpw = ($('target-bpw') as HTMLInputElement).value.trim();
  const tag = size ? size.replace(/[^\w.]+/g, '') : bpw ? `${bpw}bpw` : t;
  const best = ($('encoder') as HTMLSelectElement).value === 'best' ? '-best' : '';
  return `${o.base}-${tag}${best}.gguf`;
}

async function showPlan(): Promise<void> {
  showError(null);
  try {
    const p = await ask<PlanResult>({ op: 'plan', options: options() });
    $('plan').hidden = false;
    // with a size target: the allocation's predicted relative error of each chosen type (blank: fixed by a rule or not quantized)
    const err = p.target !== undefined;
    fillTable(
      $('plan-table') as HTMLTableElement,
      ['tensor', 'shape', 'from', 'to', 'size', 'new size', ...(err ? ['predicted error'] : []), 'why'],
      p.rows.map((r) => [
        r.name,
        `[${r.shape.join(', ')}]`,
        r.from,
        r.to,
        r.bytes ? fmtBytes(r.bytes) : '',
        r.newBytes ? fmtBytes(r.newBytes) : '',
        ...(err ? [r.error === undefined || r.error === null ? '' : r.error.toExponential(2)] : []),
        r.why,
      ]),
      [err ? 7 : 6],
    );
    const lines = [
      p.inBytes
        ? `${p.rows.length} tensors, ${fmtBytes(p.inBytes)} of tensor data -> ${fmtBytes(p.outBytes)}${p.bpw ? ` (${p.bpw.toFixed(4)} bits per weight)` : ''}`
        : `${p.rows.length} entries`,
      p.predicted ? `predicted output: ${fmtBytes(p.predicted)} (${p.predicted} bytes) as ${p.fileType}` : '',
      ...p.notes.map((n) => `note: ${n}`),
      ...(p.target ?? []),
      p.problem ? `note: a real run would stop: ${p.problem}` : '',
    ].filter(Boolean);
    $('predicted').textContent = lines.join(' · ');
    $('predicted').dataset.bytes = String(p.predicted);
  } catch (e) {
    showError(errText(e));
  }
}

let downloadUrl: string | null = null;

async function runJob(): Promise<void> {
  if (!opened || busy) return;
  showError(null);
  $('done').hidden = true;
  const name = outName();
  let output: Output = { kind: 'opfs' };
  if (($('dest') as HTMLSelectElement).value === 'picker') {
    try {
      const handle = await (
        window as unknown as { showSaveFilePicker(o: object): Promise<FileSystemFileHandle> }
      ).showSaveFilePicker({ suggestedName: name });
      output = { kind: 'handle', handle };
    } catch (e) {
      if ((e as DOMException).name === 'AbortError') return; // the user closed the picker
      showError(errText(e));
      return;
    }
  }
  busy = true;
  setBusy(true);
  const bar = $('progress') as HTMLProgressElement;
  $('progress-box').hidden = false;
  bar.value = 0;
  const o = options();
  $('progress-text').textContent =
    opened.kind !== 'onnx' && (o.targetSize?.trim() || o.targetBpw?.trim())
      ? "measuring every tensor's types for the size target…"
      : 'starting…';
  try {
    let t1 = 0,
      done0 = 0;
    const r = await ask<{
      outBytes: number;
      seconds: number;
      searchSeconds: number;
      mbPerS: number;
      threads: number;
      clamped: { tensor: string; count: number }[];
      target?: string[];
      file: File;
    }>({ op: 'run', options: o, output, label: name.replace(/\.(gguf|onnx)$/, '') }, ({ done, total, tensor }) => {
      // the rate from the first slab on (a size target first measures every tensor, with no progress)
      if (!t1) {
        t1 = performance.now();
        done0 = done;
      }
      const s = (performance.now() - t1) / 1000;
      const rate = s > 0 ? (done - done0) / 1e6 / s : 0;
      bar.value = total ? done / total : 0;
      const eta = rate > 0 ? (total - done) / 1e6 / rate : 0;
      $('progress-text').textContent =
        `${(100 * bar.value).toFixed(0)}% · ${rate.toFixed(1)} MB/s · ETA ${eta.toFixed(0)} s · ${tensor}`;
      $('progress-text').dataset.mbps = rate.toFixed(2);
    });
    bar.value = 1;
    $('progress-text').textContent = `done · ${r.mbPerS.toFixed(1)} MB/s`;
    $('progress-text').dataset.mbps = r.mbPerS.toFixed(2);
    $('done').hidden = false;
    const where = output.kind === 'handle' ? `saved to ${output.handle.name}` : `downloaded as ${name}`;
    $('done-text').textContent =
      `${where}: ${fmtBytes(r.outBytes)} (${r.outBytes} bytes) in ${r.seconds.toFixed(2)} s${r.searchSeconds ? ` (${r.searchSeconds.toFixed(2)} s of it choosing the types)` : ''} on ${r.threads} thread${r.threads > 1 ? 's' : ''}, ${r.mbPerS.toFixed(1)} MB/s` +
      r.clamped
        .map((c) => `; warning: tensor ${c.tensor}: ${c.count} value(s) beyond the float range were clamped`)
        .join('') +
      (r.target ? ` · ${r.target.join(' · ')}` : '');
    $('done').dataset.bytes = String(r.outBytes);
    $('done').dataset.mbps = r.mbPerS.toFixed(3);
    $('done').dataset.threads = String(r.threads);
    if (output.kind === 'opfs') {
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(r.file);
      const a = $('download') as HTMLAnchorElement;
      a.href = downloadUrl;
      a.download = name;
      a.click();
    }
    await showCompare();
  } catch (e) {
    $('progress-box').hidden = true;
    showError(errText(e));
  } finally {
    busy = false;
    setBusy(false);
  }
}

function setBusy(b: boolean): void {
  ($('run') as HTMLButtonElement).disabled = b;
  ($('plan-btn') as HTMLButtonElement).disabled = b;
  ($('cancel') as HTMLButtonElement).disabled = !b;
}

let reportUrl: string | null = null;

/**
 * `lowbit report`'s page for the run (src/report/html.ts: its charts, built from the same data by the
 * same code), shown in a frame and offered as the same one-file HTML report.
 */
async function showReport(data: ReportData): Promise<void> {
  const html = buildReportHtml(data, await ECHARTS);
  const frame = $('report-frame') as HTMLIFrameElement;
  $('report').hidden = false;
  frame.dataset.rendered = '';
  frame.onload = () => {
    const doc = frame.contentDocument!;
    // the frame grows to the report's height once its charts are drawn
    const fit = () => {
      if (!doc.body.dataset.chartsRendered) {
        setTimeout(fit, 50);
        return;
      }
      frame.style.height = `${doc.documentElement.scrollHeight + 4}px`;
      frame.dataset.rendered = doc.body.dataset.chartsRendered;
    };
    fit();
  };
  frame.srcdoc = html;
  if (reportUrl) URL.revokeObjectURL(reportUrl);
  reportUrl = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  const a = $('report-download') as HTMLAnchorElement;
  a.href = reportUrl;
  a.download = `${data.variants[0]!.label}-report.html`;
}

async function showCompare(): Promise<void> {
  $('report').hidden = true;
  try {
    const c = await ask<CompareResult & { report: ReportData }>({ op: 'compare' });
    fillTable(
      $('compare-table') as HTMLTableElement,
      ['tensor', 'shape', 'type A', 'type B', 'bpw B', 'RMSE', 'max abs', 'SQNR dB', 'cosine'],
      c.rows.map((r) => [
        r.name,
        `[${r.dims.join(', ')}]`,
        r.typeA,
        r.typeB,
        fmtNum(r.bpwB),
        fmtNum(r.rmse),
        fmtNum(r.maxAbs),
        fmtDb(r.sqnrDb),
        r.cosine.toFixed(6),
      ]),
    );
    const t = c.total;
    $('compare-total').textContent =
      `total over ${c.rows.length} tensors (${t.elements} weights): bits per weight ${fmtNum(t.bpwA)} → ${fmtNum(t.bpwB)}, RMSE ${fmtNum(t.rmse)}, max abs ${fmtNum(t.maxAbs)}, SQNR ${fmtDb(t.sqnrDb)} dB, cosine ${t.cosine.toFixed(6)}` +
      (c.worst.length ? `; worst: ${c.worst.slice(0, 3).join(', ')}` : '');
    await showReport(c.report);
  } catch (e) {
    $('compare-total').textContent = errText(e);
  }
}

// ---- wiring ----
function setup(): void {
  const types = ['', ...ggmlTypes()];
  for (const id of ['output-type', 'embd-type'])
    ($(id) as HTMLSelectElement).replaceChildren(...types.map((t) => new Option(t || 'as the type decides', t)));
  ($('threads') as HTMLInputElement).value = String(navigator.hardwareConcurrency || 1);
  const iso = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (!iso) {
    $('threads-note').hidden = false;
    $('threads-note').textContent =
      'This page is not cross-origin isolated (no SharedArrayBuffer): quantizing runs on one thread. `npx lowbit web` serves it isolated.';
  }
  const dest = $('dest') as HTMLSelectElement;
  const fsa = typeof (window as unknown as { showSaveFilePicker?: unknown }).showSaveFilePicker === 'function';
  dest.replaceChildren(
    ...[...(fsa ? [new Option('save as… (straight to disk)', 'picker')] : []), new Option('download', 'download')],
  );

  const file = $('file') as HTMLInputElement;
  const folder = $('folder') as HTMLInputElement;
  // one model at a time: picking with one input clears the other
  file.addEventListener('change', () => {
    const i = file.files && inputFromFiles(file.files);
    if (i) {
      folder.value = '';
      void load(i);
    }
  });
  folder.addEventListener('change', () => {
    const i = folder.files && inputFromFiles(folder.files);
    if (i) {
      file.value = '';
      void load(i);
    }
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const items = [...(e.dataTransfer?.items ?? [])];
    const entry = items[0]?.webkitGetAsEntry?.();
    if (entry?.isDirectory) {
      const files: File[] = [],
        names: string[] = [];
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      const entries: FileSystemEntry[] = await new Promise((res, rej) => reader.readEntries(res, rej));
      for (const en of entries)
        if (en.isFile) {
          files.push(await new Promise<File>((res, rej) => (en as FileSystemFileEntry).file(res, rej)));
          names.push(`${entry.name}/${en.name}`);
        }
      void load({ kind: 'folder', name: entry.name, files, names });
      return;
    }
    const i = e.dataTransfer && inputFromFiles(e.dataTransfer.files);
    if (i) void load(i);
  });
  // a shown plan is for the options it was made with
  for (const e of document.querySelectorAll(
    '#view-quantize .options input, #view-quantize .options select, #view-quantize .options textarea',
  )) {
    e.addEventListener('change', () => {
      $('plan').hidden = true;
    });
  }
  $('plan-btn').addEventListener('click', () => void showPlan());
  $('run').addEventListener('click', () => void runJob());
  $('cancel').addEventListener('click', () => void ask({ op: 'cancel' }));
  $('download').addEventListener('click', (e) => {
    if (!downloadUrl) e.preventDefault();
  });
  const tabs = { quantize: $('tab-quantize'), learn: $('tab-learn') };
  for (const [k, b] of Object.entries(tabs)) {
    b.addEventListener('click', () => {
      for (const [k2, b2] of Object.entries(tabs)) {
        b2.classList.toggle('on', k2 === k);
        $(`view-${k2}`).hidden = k2 !== k;
      }
    });
  }
  setupLearn(ask);
  document.body.dataset.ready = '1';
}

setup();
