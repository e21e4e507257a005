// `lowbit report <ref> <variant...> --html out.html`: measure each variant against the reference
// (weights, and with --eval in the engine) and write one self-contained HTML report.
import type { Command } from 'commander';
import { readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { FileSource } from '../../node/file-io.js';
import { compareGguf, weightHistogram } from '../../analysis/compare-gguf.js';
import { compareOnnx } from '../../analysis/compare-onnx.js';
import { evalGguf, generateEvalText } from '../../eval/llama.js';
import { evalOnnx, type PixelScaling } from '../../eval/onnx.js';
import { buildReportHtml, type ReportData, type ReportVariant } from '../../report/html.js';
import { loadEchartsSource } from '../../report/echarts-source.js';
import { measurementJson } from '../json.js';
import { fileKind } from './compare.js';

interface ReportOpts {
  html?: string; json?: boolean; eval?: boolean; ctx?: string; chunks?: string; text?: string; seed?: string;
  hist: string[]; inputs?: string; labels?: string; pixels?: string; limit?: string; title?: string; threads?: string;
}

function posInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new LowbitError(`${what} must be a positive integer, got '${v}'`);
  return n;
}

const label = (p: string) => basename(p).replace(/\.(gguf|onnx)$/i, '');
const log = (s: string) => { if (process.stderr.isTTY) process.stderr.write(s + '\n'); };

export async function collectReport(refPath: string, variantPaths: string[], opts: ReportOpts): Promise<ReportData> {
  const refSrc = await FileSource.open(refPath);
  const kind = await fileKind(refSrc).finally(() => refSrc.close());
  const threads = posInt(opts.threads, '--threads');
  const data: ReportData = { title: opts.title ?? `lowbit report: ${basename(refPath)}`, ref: { file: refPath, sizeBytes: refSrc.size }, variants: [], histograms: [], notes: [] };
  for (const p of variantPaths) {
    const s = await FileSource.open(p);
    const k = await fileKind(s).finally(() => s.close());
    if (k !== kind) throw new LowbitError(`${p} is ${k.toUpperCase()}, the reference is ${kind.toUpperCase()}`);
  }
  if (kind === 'gguf') {
    const text = opts.text !== undefined ? await readFile(opts.text, 'utf8') : undefined;
    const ctx = posInt(opts.ctx, '--ctx'), chunks = posInt(opts.chunks, '--chunks') ?? 16, seed = posInt(opts.seed, '--seed') ?? 1;
    const generated = opts.eval && text === undefined
      ? (log('generating the evaluation text with the reference'), await generateEvalText({ model: refPath, seed, threads, ctx, minTokens: Math.max(2, chunks) * (ctx ?? 512), docs: 1000 }))
      : undefined;
    if (opts.eval) { log(`eval ${refPath}`); data.ref!.eval = await evalGguf({ model: refPath, text, generated, ctx, chunks, seed, threads }); }
    for (const p of variantPaths) {
      log(`compare ${p}`);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        v.comparison = await compareGguf(a, b);
      } finally { await a.close(); await b.close(); }
      if (opts.eval) { log(`eval ${p}`); v.eval = await evalGguf({ model: p, ref: refPath, text, generated, ctx, chunks, seed, threads }); }
      data.variants.push(v);
    }
    // one variant's histograms, not one per variant (they look alike): the smallest file, where
    // rounding shows most; its worst tensor unless --hist names tensors
    const smallest = data.variants.reduce<ReportVariant | undefined>((s, v) => (!s || v.sizeBytes < s.sizeBytes ? v : s), undefined);
    if (smallest) {
      const names = opts.hist.length ? opts.hist : smallest.comparison!.worst.slice(0, 1).map((t) => t.name);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(smallest.file)];
      try {
        for (const n of names) data.histograms!.push({ ...(await weightHistogram(a, b, n)), variant: smallest.label });
      } finally { await a.close(); await b.close(); }
    }
  } else {
    for (const p of variantPaths) {
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        v.comparison = await compareOnnx(a, b, { openExternalA: (l) => FileSource.open(join(dirname(refPath), l)), openExternalB: (l) => FileSource.open(join(dirname(p), l)) });
      } finally { await a.close(); await b.close(); }
      if (opts.eval || opts.inputs) {
        v.onnxEval = await evalOnnx({ model: p, ref: refPath, inputs: opts.inputs, labels: opts.labels, pixels: (opts.pixels ?? 'unit') as PixelScaling, limit: posInt(opts.limit, '--limit'), threads });
      }
      data.variants.push(v);
    }
  }
  return data;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('measure variants against a reference and write one self-contained HTML report (charts work offline)')
    .argument('<ref>', 'reference model (.gguf or .onnx)')
    .argument('<variants...>', 'quantized versions of it, same kind')
    .option('--html <out.html>', 'write the HTML report here')
    .option('--json', 'print the collected measurements as JSON')
    .option('--eval', 'also run every model in its engine (llama.cpp / ONNX Runtime)')
    .option('--ctx <n>', 'GGUF eval: tokens per chunk')
    .option('--chunks <n>', 'GGUF eval: at most this many chunks', '16')
    .option('--text <file>', 'GGUF eval: evaluation text (default: generated by the reference, seeded)')
    .option('--seed <n>', 'GGUF eval: seed of the generated text', '1')
    .option('--hist <tensor>', 'GGUF: draw this tensor\'s weight histogram in the smallest variant (repeatable; default its worst tensor)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--inputs <dir|file|random>', 'ONNX eval inputs (see lowbit eval)')
    .option('--labels <file>', 'ONNX eval labels (IDX)')
    .option('--pixels <unit|mnist|raw>', 'ONNX eval: IDX bytes to floats', 'unit')
    .option('--limit <n>', 'ONNX eval: at most this many samples')
    .option('--threads <n>', 'engine threads (default 1)')
    .option('--title <text>', 'report title')
    .action(async (ref: string, variants: string[], opts: ReportOpts) => {
      if (!opts.html && !opts.json) throw new LowbitError('report: give --html <out.html> (or --json)');
      const data = await collectReport(ref, variants, opts);
      if (opts.json) process.stdout.write(measurementJson(data));
      if (opts.html) {
        const html = buildReportHtml(data, await loadEchartsSource());
        // temp file + rename: a failed run never leaves a half-written report
        const tmp = `${opts.html}.tmp-${process.pid}`;
        try { await writeFile(tmp, html); await rename(tmp, opts.html); } catch (e) { await unlink(tmp).catch(() => {}); throw e; }
        if (!opts.json) process.stdout.write(`${opts.html}: report of ${variants.length} variant(s), ${(html.length / 1024).toFixed(0)} KiB, self-contained\n`);
      }
    });
}
