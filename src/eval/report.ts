// The measurements of `lowbit report` (and the demo's report): each variant against the reference,
// weights always, in the engine with --eval; the command (src/cli/commands/report.ts) renders them.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LowbitError } from '../errors.js';
import { FileSource } from '../node/file-io.js';
import { loadEngine } from '../node/engines.js';
import { compareGguf, weightHistogram } from '../analysis/compare-gguf.js';
import { compareOnnx } from '../analysis/compare-onnx.js';
import { DEFAULT_EVAL_CHUNKS, defaultEvalCtx, evalGguf, generateEvalText, ggufTrainContext } from './llama.js';
import { evalOnnx, type PixelScaling } from './onnx.js';
import { lowbitFamily, type ReportData, type ReportVariant } from '../report/html.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { fileKind } from '../io/detect.js';

export interface ReportOpts {
  html?: string;
  json?: boolean;
  eval?: boolean;
  ctx?: string;
  chunks?: string;
  text?: string;
  seed?: string;
  hist: string[];
  inputs?: string;
  labels?: string;
  pixels?: string;
  limit?: string;
  title?: string;
  threads?: string;
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
const say = (s: string) => {
  if (process.stderr.isTTY) process.stderr.write(s + '\n');
};
const warn = (s: string) => process.stderr.write(`lowbit: warning: ${s}\n`);

/** The files a report reads (the reference, the variants, the eval text and inputs): named before any is opened. */
export function reportInputs(refPath: string, variantPaths: string[], opts: ReportOpts): string[] {
  return [refPath, ...variantPaths, opts.text, opts.labels, opts.inputs === 'random' ? undefined : opts.inputs].filter(
    (x): x is string => x !== undefined,
  );
}

export async function collectReport(refPath: string, variantPaths: string[], opts: ReportOpts): Promise<ReportData> {
  const log = (s: string) => {
    if (opts.stage) opts.stage.now = s;
    say(s);
  };
  const refSrc = await FileSource.open(refPath);
  const kind = await fileKind(refSrc).finally(() => refSrc.close());
  const threads = posInt(opts.threads, '--threads');
  const data: ReportData = {
    title: opts.title ?? `lowbit report: ${basename(refPath)}`,
    ref: { file: refPath, sizeBytes: refSrc.size },
    variants: [],
    histograms: [],
    notes: [],
  };
  for (const p of variantPaths) {
    const s = await FileSource.open(p);
    const k = await fileKind(s).finally(() => s.close());
    if (k !== kind) throw new LowbitError(`${p} is ${k.toUpperCase()}, the reference is ${kind.toUpperCase()}`);
  }
  if (opts.eval) await loadEngine(kind === 'gguf' ? 'node-llama-cpp' : 'onnxruntime-node', 'report --eval');
  else if (kind !== 'gguf' && opts.inputs) await loadEngine('onnxruntime-node', 'report --inputs');
  if (kind === 'gguf') {
    const text = opts.text !== undefined ? await readFile(opts.text, 'utf8') : undefined;
    const ctx = posInt(opts.ctx, '--ctx'),
      chunks = posInt(opts.chunks, '--chunks') ?? DEFAULT_EVAL_CHUNKS,
      seed = posInt(opts.seed, '--seed') ?? 1;
    // the same text and amount as `lowbit eval VARIANT --ref REF`: chunks of min(512, training
    // context) tokens unless --ctx, text the reference generates to fill them (seeded)
    let generated;
    if (opts.eval && text === undefined) {
      const textCtx = ctx ?? defaultEvalCtx(await ggufTrainContext(refPath));
      log('generating the evaluation text with the reference');
      generated = await generateEvalText({
        model: refPath,
        seed,
        threads,
        ctx: textCtx,
        minTokens: Math.max(2, chunks) * textCtx,
        docs: 1000,
      });
    }
    const said = new Set<string>();
    const onWarning = (w: string) => {
      if (!said.has(w)) {
        said.add(w);
        warn(w);
      }
    };
    if (opts.eval) {
      log(`eval of ${refPath}`);
      data.ref!.eval = await evalGguf({ model: refPath, text, generated, ctx, chunks, seed, threads, onWarning });
    }
    for (const p of variantPaths) {
      log(`comparing ${p}`);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        // lowbit's own mixes (--target-size, --encoder best) are a curve of their own, by their metadata
        const meta = (await readGgufHeader(b)).metadata;
        const str = (k: string) => {
          const x = meta.get(k);
          return x?.type === 'string' ? x.value : undefined;
        };
        const family = lowbitFamily(str('quantize.target'), str('quantize.encoder'));
        if (family) v.family = family;
        v.comparison = await compareGguf(a, b);
      } finally {
        await a.close();
        await b.close();
      }
      if (opts.eval) {
        log(`eval of ${p}`);
        v.eval = await evalGguf({ model: p, ref: refPath, text, generated, ctx, chunks, seed, threads, onWarning });
      }
      data.variants.push(v);
    }
    // one variant's histograms, not one per variant (they look alike): the smallest file, where
    // rounding shows most; its worst tensor unless --hist names tensors
    const smallest = data.variants.reduce<ReportVariant | undefined>(
      (s, v) => (!s || v.sizeBytes < s.sizeBytes ? v : s),
      undefined,
    );
    if (smallest) {
      const names = opts.hist.length ? opts.hist : smallest.comparison!.worst.slice(0, 1).map((t) => t.name);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(smallest.file)];
      try {
        for (const n of names) data.histograms!.push({ ...(await weightHistogram(a, b, n)), variant: smallest.label });
      } finally {
        await a.close();
        await b.close();
      }
    }
  } else {
    for (const p of variantPaths) {
      log(`comparing ${p}`);
      const [a, b] = [await FileSource.open(refPath), await FileSource.open(p)];
      const v: ReportVariant = { label: label(p), file: p, sizeBytes: b.size };
      try {
        v.comparison = await compareOnnx(a, b, {
          openExternalA: (l) => FileSource.open(join(dirname(refPath), l)),
          openExternalB: (l) => FileSource.open(join(dirname(p), l)),
        });
      } finally {
        await a.close();
        await b.close();
      }
      if (opts.eval || opts.inputs) {
        log(`eval of ${p}`);
        v.onnxEval = await evalOnnx({
          model: p,
          ref: refPath,
          inputs: opts.inputs,
          labels: opts.labels,
          pixels: (opts.pixels ?? 'unit') as PixelScaling,
          limit: posInt(opts.limit, '--limit'),
          threads,
        });
      }
      data.variants.push(v);
    }
  }
  return data;
}
