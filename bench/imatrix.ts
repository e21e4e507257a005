// `npm run bench -- --imatrix [--threads=1,2] [--runs=3] [--ctx=128] [--repeat=4]`: tokens/s of
// `lowbit imatrix` (the bundled CLI, as installed) against llama.cpp's own llama-imatrix
// (tools/build-llama-tools.sh) on brown-3m (F32), same text (test/fixtures/imatrix/calib.txt repeated
// --repeat times, all chunks), ctx and threads. Each run is a whole process (start-up and model load
// included, for both), timed by /usr/bin/time: wall clock, and CPU time (user + sys), which a busy
// shared machine disturbs far less. Median of interleaved runs; ratio = lowbit / llama-imatrix.
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Runs cmd under /usr/bin/time; returns wall and CPU seconds, and its stdout. */
function timed(cmd: string, args: string[]): { wall: number; cpu: number; stdout: string } {
  const p = spawnSync('/usr/bin/time', ['-f', 'LOWBIT_TIME %e %U %S', cmd, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const m = /LOWBIT_TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(p.stderr);
  if (p.status !== 0 || !m) throw new Error(`${cmd} failed: ${p.stderr.slice(-1500)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), stdout: p.stdout };
}

export async function runImatrixBench(args: string[]): Promise<void> {
  const threads = arg(args, 'threads', '1,2').split(',').map(Number);
  const runs = Number(arg(args, 'runs', '3'));
  const ctx = arg(args, 'ctx', '128');
  const repeat = Number(arg(args, 'repeat', '4'));
  let bin: string;
  try {
    bin = execFileSync('bash', [join(REPO, 'tools/build-llama-tools.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n')
      .pop()!;
  } catch {
    console.log('imatrix: llama-imatrix is not built (tools/build-llama-tools.sh failed): skipped');
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'lowbit-bench-imatrix-'));
  try {
    const model = join(tmp, 'brown-f32.gguf');
    execFileSync(process.execPath, [CLI, 'convert', 'hf', join(REPO, 'fixtures/brown-3m'), model], { stdio: 'ignore' });
    const text = join(tmp, 'calib.txt');
    const one = readFileSync(join(REPO, 'test/fixtures/imatrix/calib.txt'), 'utf8');
    writeFileSync(text, Array.from({ length: repeat }, () => one).join(''));
    let tokens = 0;
    console.log(
      `imatrix: lowbit imatrix vs llama-imatrix, brown-3m F32, calib.txt x${repeat}, ctx ${ctx}, all chunks; whole processes; median of ${runs}`,
    );
    console.log('threads  wall tok/s: lowbit  llama-imatrix  ratio  |  CPU tok/s: lowbit  llama-imatrix  ratio');
    for (const t of threads) {
      const w: number[][] = [[], []],
        c: number[][] = [[], []];
      for (let r = 0; r < runs; r++) {
        const a = timed(process.execPath, [
          CLI,
          'imatrix',
          model,
          '-f',
          text,
          '-o',
          join(tmp, 'l.gguf'),
          '--ctx',
          ctx,
          '--threads',
          String(t),
          '--json',
        ]);
        tokens = JSON.parse(a.stdout).run.tokens;
        const b = timed(join(bin, 'llama-imatrix'), [
          '-m',
          model,
          '-f',
          text,
          '-o',
          join(tmp, 'c.gguf'),
          '-c',
          ctx,
          '-t',
          String(t),
        ]);
        w[0]!.push(tokens / a.wall);
        w[1]!.push(tokens / b.wall);
        c[0]!.push(tokens / a.cpu);
        c[1]!.push(tokens / b.cpu);
      }
      const [wa, wb, ca, cb] = [median(w[0]!), median(w[1]!), median(c[0]!), median(c[1]!)];
      console.log(
        `${String(t).padStart(7)}  ${wa.toFixed(0).padStart(18)}  ${wb.toFixed(0).padStart(13)}  ${(wa / wb).toFixed(2).padStart(5)}  |  ${ca.toFixed(0).padStart(17)}  ${cb.toFixed(0).padStart(13)}  ${(ca / cb).toFixed(2).padStart(5)}`,
      );
    }
    console.log(`(${tokens} tokens per run)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
