// `lowbit report <ref> <variant...> --html out.html`: measure each variant against the reference
// (weights, and with --eval in the engine) and write one self-contained HTML report.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { FileSource } from '../../node/file-io.js';
import { loadEngine } from '../../node/engines.js';
import { compareGguf, weightHistogram } from '../../analysis/compare-gguf.js';
import { compareOnnx } from '../../analysis/compare-onnx.js';
import { DEFAULT_EVAL_CHUNKS, defaultEvalCtx, evalGguf, generateEvalText, ggufTrainContext } from '../../eval/llama.js';
import { onInterrupt } from '../interrupt.js';
import { refuseOutputOverInputs, requireInputFiles } from '../../node/output-guard.js';
import { withAtomicOutput } from '../../pipeline/atomic-output.js';
import { evalOnnx, type PixelScaling } from '../../eval/onnx.js';
import { buildReportHtml, type ReportData, type ReportVariant } from '../../report/html.js';
import { loadEchartsSource } from '../../report/echarts-source.js';
import { measurementJson } from '../json.js';
import { fileKind } from '../../io/detect.js';

interface ReportOpts {
  html?: string; json?: boolean; eval?: boolean; ctx?: string; chunks?: string; text?: string; seed?: string;
  hist: string[]; inputs?: string; labels?: string; pixels?: string; limit?: string; title?: string; threads?: string;
  /** what the run is doing now (for the Ctrl-C message) */
  stage?: { now: string };
}

function posInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new LowbitError(`${what} must be a positive integer, got '${v}'`);
  return n;
}

const label = (p: string) => basename(p).replace(/\.(gguf|onnx)$/i, '');
const say = (s: string) => { if (process.stderr.isTTY) process.stderr.write(s + '\n'); };
const warn = (s: string) => process.stderr.write(`lowbit: warning: ${s}\n`);

/** The files a report reads (the reference, the variants, the eval text and inputs): named before any is opened. */
export function reportInputs(refPath: string, variantPaths: string[], opts: ReportOpts): string[] {
  return [refPath, ...variantPaths, opts.text, opts.labels, opts.inputs === 'random' ? undefined : opts.inputs].filter((x): x is string => x !== undefined);
}

export async function collectReport(refPath: string, variantPaths: string[], opts: ReportOpts): Promise<ReportData> {
  const log = (s: string) => { if (opts.stage) opts.stage.now = s; say(s); };
  const refSrc = await FileSource.open(refPath);
  const kind = await fileKind(refSrc).finally(() => refSrc.close());
  const threads = posInt(opts.threads, '--threads');
  const data: ReportData = { title: opts.title ?? `lowbit report: ${basename(refPath)}`, ref: { file: refPath, sizeBytes: refSrc.size }, variants: [], histograms: [], notes: [] };
  for (const p of variantPaths) {
    const s = await FileSource.open(p);
    const k = await fileKind(s).finally(() => s.close());
    if (k !== kind) throw new LowbitError(`${p} is ${k.toUpperCase()}, the reference is ${kind.toUpperCase()}`);
  }
  if (opts.eval) await loadEngine(kind === 'gguf' ? 'node-llama-cpp' : 'onnxruntime-node', 'report --eval');
  else if (kind !== 'gguf' && opts.inputs) await loadEngine('onnxruntime-node', 'report --inputs');
  if (kind === 'gguf') {
    const text = opts.text !== undefined ? await readFile(opts.text, 'utf8') : undefined;
    const ctx = posInt(opts.ctx, '--ctx'), chunks = posInt(opts.chunks, '--chunks') ?? DEFAULT_EVAL_CHUNKS, seed = posInt(opts.seed, '--seed') ?? 1;
    // the same text and amount as `lowbit eval VARIANT --ref REF`: chunks of min(512, training
    // context) tokens unless --ctx, text the reference generates to fill them (seeded)
    const textCtx = ctx ?? defaultEvalCtx(await ggufTrainContext(refPath));
    const generated = opts.eval && text === undefined
      ? (log('generating the evaluation text with the reference'), await generateEvalText({ model: refPath, seed, threads, ctx: textCtx, minTokens: Math.max(2, chunks) * textCtx, docs: 1000 }))
      : undefined;
    const said = new Set<string>();
    const onWarning = (w: string) => { if (!said.has(w)) { said.add(w); warn(w); } };
    if (opts.eval) { log(`eval of ${refPath}`); data.ref!.eval = await evalGguf({ model: refPath, text, generated, ctx, chunks, seed, threads, onWarning }); }
    for (const p of variantPaths) {
      log(`comparing ${p}`);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        v.comparison = await compareGguf(a, b);
      } finally { await a.close(); await b.close(); }
      if (opts.eval) { log(`eval of ${p}`); v.eval = await evalGguf({ model: p, ref: refPath, text, generated, ctx, chunks, seed, threads, onWarning }); }
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
      log(`comparing ${p}`);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        v.comparison = await compareOnnx(a, b, { openExternalA: (l) => FileSource.open(join(dirname(refPath), l)), openExternalB: (l) => FileSource.open(join(dirname(p), l)) });
      } finally { await a.close(); await b.close(); }
      if (opts.eval || opts.inputs) {
        log(`eval of ${p}`);
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
    .option('--ctx <n>', 'GGUF eval: tokens per chunk (default min(512, training context), as lowbit eval)')
    .option('--chunks <n>', 'GGUF eval: at most this many chunks (as lowbit eval)', String(DEFAULT_EVAL_CHUNKS))
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
      const inputs = reportInputs(ref, variants, opts);
      requireInputFiles(inputs, { allowDirs: true });
      if (opts.html) refuseOutputOverInputs([opts.html], inputs);
      // Ctrl-C: say what was being measured; nothing is written before the end
      const stage = { now: 'starting' };
      const stop = onInterrupt(() => `during ${stage.now}; ${opts.html ? `${opts.html} was not written` : 'nothing was written'}`);
      try {
        const data = await collectReport(ref, variants, { ...opts, stage });
        if (opts.json) process.stdout.write(measurementJson(data));
        if (opts.html) {
          stage.now = `writing ${opts.html}`;
          const html = buildReportHtml(data, await loadEchartsSource());
          // temp file + rename: a failed or interrupted run never leaves a half-written report
          await withAtomicOutput(opts.html, (out) => out.sink.write(new TextEncoder().encode(html)), { inputs });
          if (!opts.json) process.stdout.write(`${opts.html}: report of ${variants.length} variant(s), ${(html.length / 1024).toFixed(0)} KiB, self-contained\n`);
        }
      } finally {
        stop();
      }
    });
}
