// `lowbit imatrix <model.gguf> -o imatrix.gguf`: llama-imatrix's job. The model runs in llama.cpp
// itself (node-llama-cpp's libllama through koffi); the collection, file formats and statistics are
// lowbit's core (src/imatrix). See src/node/imatrix.ts.
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { LowbitError } from '../../errors.js';
import { FileSource } from '../../node/file-io.js';
import { computeImatrixFile } from '../../node/imatrix.js';
import { ImatrixCollector } from '../../imatrix/collector.js';
import { readRawImatrix } from '../../imatrix/file.js';
import {
  computeStatistics,
  layerStatistics,
  sortStatistics,
  STAT_SORT_KEYS,
  type StatSortKey,
} from '../../imatrix/statistics.js';
import { onInterrupt } from '../interrupt.js';
import { table } from '../format.js';

interface ImatrixCliOptions {
  output?: string;
  text?: string;
  ctx?: string;
  chunks?: string;
  chunk?: string;
  threads?: string;
  batchSize?: string;
  parseSpecial?: boolean;
  processOutput?: boolean;
  ppl: boolean;
  outputFormat: string;
  outputFrequency?: string;
  saveFrequency?: string;
  inFile: string[];
  showStatistics?: string;
  sort?: string;
  json?: boolean;
  seed?: string;
}

function int(v: string | undefined, what: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new LowbitError(`${what} must be an integer >= ${min}, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('imatrix')
    .description(
      'compute an importance matrix as llama-imatrix does, running the model in llama.cpp; merge matrices; show their statistics',
    )
    .argument('[model]', 'GGUF model llama.cpp runs (any type; F32/F16/BF16 gives the matrix of the source weights)')
    .option('-o, --output <file>', 'output matrix (GGUF, or .dat with --output-format dat)')
    .option('-f, --text <file>', 'calibration text (default: documents the model itself writes, seeded)')
    .option('--ctx <n>', 'tokens per chunk', '512')
    .option('--chunks <n>', 'at most this many chunks')
    .option('--chunk <k>', 'skip the first k chunks of the text', '0')
    .option('--threads <n>', 'CPU threads for llama.cpp (default: the cores, at most 4)')
    .option('--batch-size <n>', 'logical batch: chunks decoded together, as llama-imatrix (-b)', '2048')
    .option('--parse-special', 'tokenize special-token text as special tokens (llama-imatrix --parse-special)')
    .option('--process-output', 'also collect output.weight')
    .option('--no-ppl', 'do not compute the running perplexity')
    .option('--output-format <gguf|dat>', 'GGUF (default) or the legacy .dat', 'gguf')
    .option('--output-frequency <n>', 'save the matrix every n chunks (each save atomic)', '10')
    .option('--save-frequency <n>', 'also keep a copy <output>.at_<chunk> every n chunks', '0')
    .option(
      '--in-file <file>',
      'matrix to merge (repeatable; weighted by its counts); without a model only merges',
      (v: string, a: string[]) => [...a, v],
      [] as string[],
    )
    .option('--show-statistics <file>', 'print per-tensor statistics of a matrix and exit')
    .option('--sort <key>', `statistics order: ${STAT_SORT_KEYS.join(', ')} (default: tensor kind, then Σ)`)
    .option(
      '--seed <n>',
      'seed of the generated calibration documents (default 2: never the documents `lowbit eval` judges by default, seed 1)',
      '2',
    )
    .option('--json', 'print JSON')
    .action(async (model: string | undefined, o: ImatrixCliOptions) => {
      if (o.showStatistics !== undefined) return showStatistics(o.showStatistics, o);
      if (!o.output) throw new LowbitError('imatrix needs -o <output>');
      const format = o.outputFormat.toLowerCase();
      if (format !== 'gguf' && format !== 'dat')
        throw new LowbitError(`--output-format must be gguf or dat, got '${o.outputFormat}'`, 'EUSAGE');
      if (!model && !o.inFile.length) throw new LowbitError('imatrix needs a model (or --in-file matrices to merge)');
      if (!model && o.text !== undefined) throw new LowbitError('--text needs a model to run', 'EUSAGE');
      const ctx = int(o.ctx, '--ctx')!;
      const quiet = !!o.json;
      const err = (s: string) => {
        if (!quiet) process.stderr.write(s);
      };
      const tty = !quiet && process.stderr.isTTY;
      const ui: { bar: SingleBar | null } = { bar: null };
      const state = { chunk: 0, chunks: 0, saved: 0, savedPath: '', pending: 0, pendingSince: 0 };
      const stop = onInterrupt(() => {
        ui.bar?.stop();
        // a save renamed into place just now counts even if its callback has not run yet
        if (state.pending && existsSync(o.output!) && statSync(o.output!).mtimeMs >= state.pendingSince - 5) {
          state.saved = state.pending;
          state.savedPath = o.output!;
        }
        return `at chunk ${state.chunk} of ${state.chunks}; ${state.saved ? `${state.savedPath} holds the last complete save (${state.saved} chunks)` : `${o.output} was not written`}`;
      });
      const pplLine: string[] = [];
      try {
        const r = await computeImatrixFile({
          model,
          output: o.output,
          format,
          textFile: o.text,
          mergeOnly: !model,
          inFiles: o.inFile,
          ctx,
          chunks: int(o.chunks, '--chunks'),
          firstChunk: int(o.chunk, '--chunk', 0),
          threads: int(o.threads, '--threads'),
          batch: int(o.batchSize, '--batch-size'),
          parseSpecial: o.parseSpecial,
          processOutput: o.processOutput,
          perplexity: o.ppl,
          outputFrequency: int(o.outputFrequency, '--output-frequency', 0),
          saveFrequency: int(o.saveFrequency, '--save-frequency', 0),
          seed: int(o.seed, '--seed', 0),
          onGenerate: () => err('no --text: the model writes its own calibration documents (seeded) ...\n'),
          onStart: (i) => {
            state.chunks = i.chunks;
            err(`model: ${model} (${i.description}); llama.cpp CPU backend ${i.cpuBackend}\n`);
            if (i.ctxTrain > 0 && i.ctx > i.ctxTrain)
              err(
                `warning: the model was trained on ${i.ctxTrain}-token contexts; chunks of ${i.ctx} go beyond that (as llama-imatrix warns)\n`,
              );
            if (i.quantized)
              err(
                `note: the model's weights are quantized (${i.quantized}): allowed, as llama-imatrix allows it, but the matrix describes the quantized model's activations; compute it on the F32/F16/BF16 model when you have it\n`,
              );
            err(
              `text: ${i.text}: ${i.tokens} tokens; ${i.chunks} chunks of ${i.ctx}, ${i.sequencesPerBatch} per batch\n`,
            );
            if (tty) {
              ui.bar = new SingleBar(
                {
                  format: 'imatrix [{bar}] {value}/{total} chunks  {tps} tok/s  ETA {eta_formatted}  ppl {ppl}',
                  hideCursor: true,
                  stream: process.stderr,
                  etaBuffer: 4,
                },
                Presets.shades_classic,
              );
              ui.bar.start(i.chunks, 0, { tps: '-', ppl: '-' });
            }
          },
          onChunk: (p) => {
            state.chunk = p.chunk;
            if (o.ppl) pplLine.push(`[${p.chunk}]${p.ppl.toFixed(4)},`);
            ui.bar?.update(p.chunk, {
              tps: (p.tokensDone / p.seconds).toFixed(0),
              ppl: Number.isNaN(p.ppl) ? '-' : p.ppl.toFixed(4),
            });
          },
          onSaveStart: (path, chunks) => {
            if (path === o.output) {
              state.pending = chunks;
              state.pendingSince = Date.now();
            }
          },
          onSave: (path, chunks) => {
            if (path === o.output) {
              state.saved = chunks;
              state.savedPath = path;
              state.pending = 0;
            }
          },
        });
        ui.bar?.stop();
        ui.bar = null;
        if (quiet) {
          process.stdout.write(
            JSON.stringify(
              { ...r, run: r.run && { ...r.run, ppl: nanNull(r.run.ppl), pplError: nanNull(r.run.pplError) } },
              null,
              2,
            ) + '\n',
          );
          return;
        }
        const out: string[] = [];
        if (pplLine.length) out.push(pplLine.join(''));
        if (r.run && o.ppl && Number.isFinite(r.run.ppl))
          out.push(`Final estimate: PPL = ${r.run.ppl.toFixed(4)} +/- ${r.run.pplError.toFixed(5)}`);
        if (r.run)
          out.push(
            `${r.run.tokens} tokens in ${r.run.seconds.toFixed(2)} s (${r.run.tokensPerSecond.toFixed(0)} tokens/s)`,
          );
        out.push(
          `wrote ${r.output} (${format === 'dat' ? 'legacy .dat' : 'GGUF'}): ${r.entries} tensors, ${r.chunks} chunks of ${r.chunkSize}; datasets: ${r.datasets.join(', ') || '-'}`,
        );
        process.stdout.write(out.join('\n') + '\n');
      } finally {
        ui.bar?.stop();
        stop();
      }
    });
}

function nanNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

async function showStatistics(file: string, o: ImatrixCliOptions): Promise<void> {
  const key = (o.sort ?? 'default') as StatSortKey | 'default';
  if (key !== 'default' && !STAT_SORT_KEYS.includes(key as StatSortKey))
    throw new LowbitError(`--sort must be one of ${STAT_SORT_KEYS.join(', ')}, got '${o.sort}'`, 'EUSAGE');
  const src = await FileSource.open(file);
  let raw;
  try {
    raw = await readRawImatrix(src);
  } finally {
    await src.close();
  }
  const c = new ImatrixCollector({ chunkSize: int(o.ctx, '--ctx') ?? 512 });
  c.merge(raw);
  const rows = sortStatistics(computeStatistics(c.stats), key);
  if (!rows.length) throw new LowbitError(`${file}: no tensor has data to compute statistics on`);
  const layers = layerStatistics(rows);
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        { file, chunks: raw.chunkCount, chunkSize: raw.chunkSize, datasets: raw.datasets, tensors: rows, layers },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const n = (x: number, d: number) => x.toFixed(d);
  process.stdout.write(
    `statistics of ${file} (${rows.length} tensors; ${raw.chunkCount} chunks${raw.chunkSize ? ` of ${raw.chunkSize}` : ''}; over the mean squared activations per column)\n\n`,
  );
  process.stdout.write(
    table(
      ['layer', 'tensor', 'Σ(act²)', 'min', 'max', 'mean', 'std', 'active', 'N', 'entropy', 'E norm', 'ZD', 'cos sim'],
      rows.map((s) => [
        s.layer < 0 ? '-' : String(s.layer),
        s.name,
        n(s.sum, 2),
        n(s.min, 4),
        n(s.max, 4),
        n(s.mean, 2),
        n(s.std, 2),
        `${n(s.active * 100, 2)}%`,
        String(s.elements),
        n(s.entropy, 4),
        `${n(s.entropyNorm * 100, 2)}%`,
        `${n(s.zd * 100, 2)}%`,
        n(s.cossim, 4),
      ]),
    ) + '\n\n',
  );
  process.stdout.write(
    `per layer (weighted by columns)\n\n${table(
      ['layer', 'μΣ(act²)', 'μZD', 'μ cos sim'],
      layers.map((l) => [String(l.layer), n(l.sum, 2), `${n(l.zd * 100, 4)}%`, n(l.cossim, 4)]),
    )}\n`,
  );
}
