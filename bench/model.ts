// Whole-model quantization: wall time and peak RSS of `lowbit quantize` (compiled dist/, in a child
// process, worker threads included) against llama.cpp's llama_model_quantize (libllama through
// koffi, in a child process) on synthetic llama-shaped F32 models (bench/synthetic.ts), per file
// type and thread count. Runs alternate between the two tools so a load change hits both alike;
// medians are reported with the load average around each configuration, and the first lowbit output
// of each configuration is compared byte for byte with llama.cpp's.
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSyntheticModel, MODEL_SHAPES, modelWeights } from './synthetic.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ModelBenchOptions {
  sizes: string[];
  types: string[];
  threads: number[];
  runs: number;
  /** runs for the large model (it takes minutes per run under load) */
  largeRuns: number;
  llama: boolean;
  /** where the JSON results go */
  jsonPath: string;
  /** print JSON on stdout instead of the table */
  json: boolean;
}

interface Run {
  seconds: number;
  rssMB: number;
  load1: number;
}

export interface ModelBenchResult {
  model: string;
  modelGB: number;
  weights: number;
  type: string;
  threads: number;
  lowbit: Run[];
  llama: Run[];
  /** llama.cpp's child measured around the llama_model_quantize call only (no node/koffi start-up) */
  llamaCallSeconds: number[];
  lowbitMedian: number;
  llamaMedian: number | null;
  lowbitRssMB: number;
  llamaRssMB: number | null;
  /** lowbit's first output equals llama.cpp's, byte for byte (null: not compared) */
  identical: boolean | null;
  loadBefore: string;
  loadAfter: string;
}

export function parseModelArgs(args: readonly string[]): ModelBenchOptions {
  const val = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const list = (k: string, d: string) =>
    (val(k) ?? d)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    sizes: list('sizes', 'small,large'),
    types: list('types', 'Q8_0,Q4_0,Q4_K_M,Q6_K'),
    threads: list('threads', '1,2').map(Number),
    runs: Number(val('runs') ?? 3),
    largeRuns: Number(val('large-runs') ?? val('runs') ?? 3),
    llama: !args.includes('--no-llama'),
    jsonPath: val('json-out') ?? join(os.tmpdir(), 'lowbit-bench', `results-models-${stamp}.json`),
    json: args.includes('--json'),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Runs a command under /usr/bin/time -v; wall seconds measured here, peak RSS (KiB → MB) from time. */
function timed(cmd: string[], cwd: string): { seconds: number; rssMB: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'LOWBIT_BENCH_RSS %M', ...cmd], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}):\n${r.stderr.slice(-4000)}`);
  const m = /LOWBIT_BENCH_RSS (\d+)/.exec(r.stderr);
  return { seconds, rssMB: m ? Number(m[1]) / 1024 : NaN, stdout: r.stdout };
}

/** Byte-for-byte equality of two files, streamed. */
function sameFile(a: string, b: string): boolean {
  if (statSync(a).size !== statSync(b).size) return false;
  const fa = openSync(a, 'r'),
    fb = openSync(b, 'r');
  try {
    const ba = Buffer.allocUnsafe(1 << 24),
      bb = Buffer.allocUnsafe(1 << 24);
    for (let pos = 0; ;) {
      const na = readSync(fa, ba, 0, ba.length, pos);
      const nb = readSync(fb, bb, 0, bb.length, pos);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
      pos += na;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}-${os.arch()}`;
}

export async function benchModels(
  o: ModelBenchOptions,
  log: (s: string) => void = console.log,
): Promise<ModelBenchResult[]> {
  const node = process.execPath;
  const cli = join(ROOT, 'dist', 'cli', 'bundle', 'main.js'); // the installed `lowbit` bin
  const child = join(ROOT, 'bench', 'llama-quantize-child.ts');
  const results: ModelBenchResult[] = [];
  let llamaBaseMB: number | null = null;
  if (o.llama) {
    llamaBaseMB = timed([node, '--import', 'tsx', child, '--noop'], ROOT).rssMB;
    log(
      `llama.cpp runner baseline (node + tsx + koffi + libllama loaded, nothing quantized): ${llamaBaseMB.toFixed(0)} MB RSS`,
    );
  }
  log(HEADER);
  for (const size of o.sizes) {
    const input = await ensureSyntheticModel(size);
    const modelGB = statSync(input).size / 1e9;
    const weights = modelWeights(MODEL_SHAPES[size]!);
    const dir = dirname(input);
    const runs = size === 'large' ? o.largeRuns : o.runs;
    for (const type of o.types) {
      for (const threads of o.threads) {
        const loadBefore = load();
        const r: ModelBenchResult = {
          model: `${size} (${MODEL_SHAPES[size]!.id})`,
          modelGB,
          weights,
          type,
          threads,
          lowbit: [],
          llama: [],
          llamaCallSeconds: [],
          lowbitMedian: 0,
          llamaMedian: null,
          lowbitRssMB: 0,
          llamaRssMB: null,
          identical: null,
          loadBefore,
          loadAfter: '',
        };
        const outL = join(dir, `out-lowbit-${process.pid}.gguf`);
        const outC = join(dir, `out-llama-${process.pid}.gguf`);
        for (let i = 0; i < runs; i++) {
          const l1 = os.loadavg()[0]!;
          const a = timed([node, cli, 'quantize', input, outL, '--type', type, '--threads', String(threads)], ROOT);
          r.lowbit.push({ seconds: a.seconds, rssMB: a.rssMB, load1: l1 });
          if (o.llama) {
            const l2 = os.loadavg()[0]!;
            const b = timed([node, '--import', 'tsx', child, input, outC, type, String(threads)], ROOT);
            r.llama.push({ seconds: b.seconds, rssMB: b.rssMB, load1: l2 });
            r.llamaCallSeconds.push((JSON.parse(b.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds);
            if (i === 0) r.identical = sameFile(outL, outC);
          }
          rmSync(outL, { force: true });
          rmSync(outC, { force: true });
        }
        r.loadAfter = load();
        r.lowbitMedian = median(r.lowbit.map((x) => x.seconds));
        r.lowbitRssMB = Math.max(...r.lowbit.map((x) => x.rssMB));
        if (o.llama) {
          r.llamaMedian = median(r.llamaCallSeconds);
          r.llamaRssMB = Math.max(...r.llama.map((x) => x.rssMB));
        }
        results.push(r);
        log(formatRow(r));
        writeFileSync(
          o.jsonPath,
          JSON.stringify(
            { machine: machine(), date: new Date().toISOString(), llamaRunnerBaselineMB: llamaBaseMB, results },
            null,
            2,
          ),
        );
      }
    }
  }
  return results;
}

export const HEADER =
  'model              type     thr  lowbit s  llama.cpp s  ratio  lowbit RSS  llama RSS  same  runs  load (1/5/15 before → after)';

export function formatRow(r: ModelBenchResult): string {
  const ratio = r.llamaMedian ? (r.lowbitMedian / r.llamaMedian).toFixed(2) : '-';
  return [
    `${r.model.split(' ')[0]} ${r.modelGB.toFixed(2)} GB`.padEnd(18),
    r.type.padEnd(8),
    String(r.threads).padStart(3),
    r.lowbitMedian.toFixed(2).padStart(9),
    (r.llamaMedian?.toFixed(2) ?? '-').padStart(12),
    ratio.padStart(6),
    `${r.lowbitRssMB.toFixed(0)} MB`.padStart(11),
    (r.llamaRssMB !== null ? `${r.llamaRssMB.toFixed(0)} MB` : '-').padStart(10),
    (r.identical === null ? '-' : r.identical ? 'yes' : 'NO').padStart(5),
    String(r.lowbit.length).padStart(5),
    ` ${r.loadBefore} → ${r.loadAfter}`,
  ].join(' ');
}

/** The model part of `npm run bench` (dist/ must be built). */
export async function runModelBench(args: readonly string[]): Promise<void> {
  const o = parseModelArgs(args);
  const quiet = o.json;
  const log = quiet ? () => {} : console.log;
  log(
    `whole-model quantize, ${o.sizes.join('+')} synthetic llama F32 models; lowbit = \`lowbit quantize\` (dist/cli/bundle/main.js) process wall time; ` +
      `llama.cpp = llama_model_quantize call time (its child's start-up excluded); medians of ${o.runs} runs (large model: ${o.largeRuns}); ` +
      'RSS = peak resident set of each child process (/usr/bin/time), worker threads included; ratio = lowbit / llama.cpp (≤ 1 is the target); same = outputs byte-identical',
  );
  const results = await benchModels(o, log);
  if (quiet) process.stdout.write(JSON.stringify({ machine: machine(), results }, null, 2) + '\n');
  else console.log(`results: ${o.jsonPath}`);
}
