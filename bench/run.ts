// `npm run bench [FORMAT…] [--no-build] [--no-imatrix] [--formats | --models | --imatrix] [--web]`: single-thread
// throughput per format against ggml, and whole-model quantization against llama.cpp (bench/model.ts,
// its own switches: --sizes=small,large --types=… --threads=1,2 --runs=3 --large-runs=…
// --no-llama --json --json-out=FILE) and, with --web, the web app against the CLI (bench/web.ts); the
// first two by default, the formats alone with --formats or
// format names, the models alone with --models. Builds dist/ first (the codecs are timed as users
// run them, compiled by tsc, not through tsx). Prints the machine, its load, medians and ratios.
// --imatrix alone: tokens/s of `lowbit imatrix` against llama-imatrix (bench/imatrix.ts; --threads=1,2 --runs=3).
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { benchFormats } from './formats.js';
import { runModelBench } from './model.js';
import { runWebBench } from './web.js';
import { runImatrixBench } from './imatrix.js';

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}-${os.arch()}`;
}

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
// --web alone runs the web app part only (bench/web.ts), --imatrix alone the imatrix part (bench/imatrix.ts)
const wantWeb = args.includes('--web');
const wantImatrix = args.includes('--imatrix');
const partOnly =
  (wantWeb || wantImatrix) && !args.includes('--formats') && !args.includes('--models') && only.length === 0;
const wantFormats = !partOnly && (args.includes('--formats') || !args.includes('--models'));
// naming formats asks for the format part only
const wantModels = !partOnly && (args.includes('--models') || (!args.includes('--formats') && only.length === 0));
if (!args.includes('--no-build')) {
  // tsc emits even when other parts of the tree have type errors; those are not the bench's concern
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.error) throw r.error;
  // the CLI as installed (bundled): the whole-model bench runs it
  const b = spawnSync(process.execPath, ['scripts/bundle-cli.mjs'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (b.error) throw b.error;
  if (b.status !== 0) throw new Error('bundling the CLI failed');
}
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
console.log(`machine: ${machine()}`);
console.log(`load average at start: ${load()}`);
if (wantFormats) {
  console.log(
    "single-thread throughput, MB/s of float32 per CPU-second (median of 5 interleaved rounds); ratio = lowbit / ggml reference C; ts = lowbit's TypeScript reference path",
  );
  const f = (v: number, w: number) => v.toFixed(1).padStart(w);
  const ratio = (a: number, b: number) => (a / b).toFixed(2).padStart(6);
  console.log(
    'format     quant lowbit     ts   ggml  ratio (ts)  | dequant lowbit     ts   ggml  ratio (ts)  | imatrix quant lowbit    ts   ggml  ratio (ts)',
  );
  for (const r of await benchFormats(only.length ? only : undefined, !args.includes('--no-imatrix'))) {
    let line =
      `${(r.name + (r.imatrixOnly ? '*' : '')).padEnd(8)} ${f(r.quantLowbit, 14)} ${f(r.quantTs, 6)} ${f(r.quantGgml, 6)} ${ratio(r.quantLowbit, r.quantGgml)} (${ratio(r.quantTs, r.quantGgml).trim()})` +
      `  | ${f(r.dequantLowbit, 14)} ${f(r.dequantTs, 6)} ${f(r.dequantGgml, 6)} ${ratio(r.dequantLowbit, r.dequantGgml)} (${ratio(r.dequantTs, r.dequantGgml).trim()})`;
    if (r.imatrix) {
      const m = r.imatrix;
      line += `  | ${f(m.quantLowbit, 20)} ${f(m.quantTs, 5)} ${f(m.quantGgml, 6)} ${ratio(m.quantLowbit, m.quantGgml)} (${ratio(m.quantTs, m.quantGgml).trim()})`;
    }
    console.log(line);
  }
  console.log('* needs an importance matrix (ggml asserts without one): its quantize figures are with one');
}
if (wantModels) await runModelBench(args);
if (wantWeb) await runWebBench(args);
if (wantImatrix) await runImatrixBench(args);
console.log(`load average at end: ${load()}`);
