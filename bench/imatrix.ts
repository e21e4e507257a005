// `npm run bench -- --imatrix [--threads=1,2] [--runs=3] [--ctx=128]`: tokens/s of `lowbit imatrix`
// (the bundled CLI, as installed) against llama.cpp's own llama-imatrix (tools/build-llama-tools.sh)
// on brown-3m (F32) and test/fixtures/imatrix/calib.txt, same ctx, chunks and threads. Each run is a
// whole process (model load included, for both); median of interleaved runs; ratio = lowbit / llama.
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const REPO = new URL('..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/cli/bundle/main.js');

function arg(args: string[], name: string, def: string): string {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function runImatrixBench(args: string[]): Promise<void> {
  const threads = arg(args, 'threads', '1,2').split(',').map(Number);
  const runs = Number(arg(args, 'runs', '3'));
  const ctx = arg(args, 'ctx', '128');
  const chunks = arg(args, 'chunks', '16');
  const text = join(REPO, 'test/fixtures/imatrix/calib.txt');
  let bin: string;
  try {
    bin = execFileSync('bash', [join(REPO, 'tools/build-llama-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!;
  } catch {
    console.log('imatrix: llama-imatrix is not built (tools/build-llama-tools.sh failed): skipped');
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'lowbit-bench-imatrix-'));
  try {
    const model = join(tmp, 'brown-f32.gguf');
    execFileSync(process.execPath, [CLI, 'convert', 'hf', join(REPO, 'fixtures/brown-3m'), model], { stdio: 'ignore' });
    console.log(`imatrix: brown-3m F32, ${text.replace(REPO, '')}, ctx ${ctx}, ${chunks} chunks (${Number(ctx) * Number(chunks)} tokens), whole process timed, median of ${runs}`);
    console.log('threads  lowbit tok/s  llama-imatrix tok/s  ratio');
    for (const t of threads) {
      const lw: number[] = [], ll: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const a = spawnSync(process.execPath, [CLI, 'imatrix', model, '-f', text, '-o', join(tmp, 'l.gguf'), '--ctx', ctx, '--chunks', chunks, '--threads', String(t)], { encoding: 'utf8' });
        const t1 = performance.now();
        if (a.status !== 0) throw new Error(`lowbit imatrix failed: ${a.stderr}`);
        const b = spawnSync(join(bin, 'llama-imatrix'), ['-m', model, '-f', text, '-o', join(tmp, 'c.gguf'), '-c', ctx, '--chunks', chunks, '-t', String(t)], { encoding: 'utf8' });
        const t2 = performance.now();
        if (b.status !== 0) throw new Error(`llama-imatrix failed: ${b.stderr.slice(-1000)}`);
        const tokens = Number(ctx) * Number(chunks);
        lw.push((tokens / (t1 - t0)) * 1000);
        ll.push((tokens / (t2 - t1)) * 1000);
      }
      const a = median(lw), b = median(ll);
      console.log(`${String(t).padStart(7)}  ${a.toFixed(0).padStart(12)}  ${b.toFixed(0).padStart(19)}  ${(a / b).toFixed(2).padStart(5)}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

