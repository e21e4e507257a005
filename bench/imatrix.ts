// `npm run bench -- --imatrix [--threads=1,2] [--runs=3] [--ctx=128] [--repeat=4] [--chunks=N] [--model=brown|small]
// [--llama=DIR]`: tokens/s of `lowbit imatrix` (the bundled CLI, as installed) against llama.cpp's own
// llama-imatrix (tools/build-llama-tools.sh), the same llama-imatrix running node-llama-cpp's prebuilt CPU
// kernels (the ones lowbit runs: this separates the two tools from the two compilations of ggml), lowbit
// running llama-imatrix's own libraries instead (LOWBIT_LLAMA_LIB_DIR: the same kernels the other way
// round), and with --llama=DIR another build's llama-imatrix. The model: brown-3m (F32, default), or
// --model=small, the bench's synthetic 137M-weight Llama (bench/synthetic.ts; F32, 32000-token vocabulary),
// where the model's work outweighs start-up; same text (test/fixtures/imatrix/calib.txt repeated --repeat
// times; all chunks, or the first --chunks), ctx and threads. Each run is a whole process (start-up and
// model load included, for both), timed by /usr/bin/time: wall clock, and CPU time (user + sys), which a
// busy shared machine disturbs far less. Median of interleaved runs; ratio = lowbit / other.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { ensureSyntheticModel } from './synthetic.js';

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
function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { wall: number; cpu: number; stdout: string } {
  const p = spawnSync('/usr/bin/time', ['-f', 'LOWBIT_TIME %e %U %S', cmd, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env,
  });
  const m = /LOWBIT_TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(p.stderr);
  if (p.status !== 0 || !m) throw new Error(`${cmd} failed: ${p.stderr.slice(-1500)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), stdout: p.stdout };
}

/**
 * A folder that makes llama.cpp's own llama-imatrix (built from the same source) run
 * node-llama-cpp's prebuilt `haswell` CPU kernels, lowbit's default, instead of its own build's:
 * libggml-cpu.so.0 is that library (it needs libggml-base.so, the build's own). Null when absent.
 */
function prebuiltKernelsDir(bin: string, tmp: string): string | null {
  const req = createRequire(join(REPO, 'package.json'));
  let lib: string;
  try {
    lib = join(dirname(req.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64', 'libggml-cpu-haswell.so');
  } catch {
    return null;
  }
  if (!existsSync(lib) || !existsSync(join(bin, 'libggml-base.so.0'))) return null;
  const dir = join(tmp, 'prebuilt-kernels');
  mkdirSync(dir);
  symlinkSync(lib, join(dir, 'libggml-cpu.so.0'));
  symlinkSync(join(bin, 'libggml-base.so.0'), join(dir, 'libggml-base.so'));
  return dir;
}

interface Contender {
  name: string;
  cmd: string;
  args: (t: number) => string[];
  env?: NodeJS.ProcessEnv;
  /** a lowbit run: its ratio is against this contender (default: the llama-imatrix rows' ratio is lowbit's against them) */
  against?: number;
  /** the matrix it writes, and the contender whose matrix must be the same bytes (same kernels) */
  out?: string;
  sameAs?: number;
}

export async function runImatrixBench(args: string[]): Promise<void> {
  const threads = arg(args, 'threads', '1,2').split(',').map(Number);
  const runs = Number(arg(args, 'runs', '3'));
  const ctx = arg(args, 'ctx', '128');
  const repeat = Number(arg(args, 'repeat', '4'));
  // --llama=DIR: also time the llama-imatrix of another build of the same source (e.g. a default,
  // GGML_NATIVE=ON one)
  const other = arg(args, 'llama', '');
  const which = arg(args, 'model', 'brown');
  const chunks = arg(args, 'chunks', '');
  if (which !== 'brown' && which !== 'small') throw new Error(`--model=${which}: brown or small`);
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
    let model = join(tmp, 'brown-f32.gguf');
    if (which === 'small') model = await ensureSyntheticModel('small');
    else
      execFileSync(process.execPath, [CLI, 'convert', 'hf', join(REPO, 'fixtures/brown-3m'), model], {
        stdio: 'ignore',
      });
    const chunkArgs = chunks ? ['--chunks', chunks] : [];
    const text = join(tmp, 'calib.txt');
    const one = readFileSync(join(REPO, 'test/fixtures/imatrix/calib.txt'), 'utf8');
    writeFileSync(text, Array.from({ length: repeat }, () => one).join(''));
    const llamaArgs = (out: string) => (t: number) => [
      '-m',
      model,
      '-f',
      text,
      '-o',
      join(tmp, out),
      '-c',
      ctx,
      '-t',
      String(t),
      ...chunkArgs,
    ];
    const lowbitArgs = (out: string) => (t: number) => [
      CLI,
      'imatrix',
      model,
      '-f',
      text,
      '-o',
      join(tmp, out),
      '--ctx',
      ctx,
      '--threads',
      String(t),
      '--json',
      ...chunkArgs,
    ];
    const contenders: Contender[] = [
      { name: 'lowbit', cmd: process.execPath, args: lowbitArgs('l.gguf'), out: 'l.gguf' },
      { name: 'llama-imatrix', cmd: join(bin, 'llama-imatrix'), args: llamaArgs('c.gguf'), out: 'c.gguf' },
    ];
    const pre = prebuiltKernelsDir(bin, tmp);
    if (pre)
      contenders.push({
        name: 'llama-imatrix on the prebuilt haswell kernels',
        cmd: join(bin, 'llama-imatrix'),
        args: llamaArgs('p.gguf'),
        env: { ...process.env, LD_LIBRARY_PATH: pre },
        out: 'p.gguf',
        sameAs: 0,
      });
    contenders.push({
      name: "lowbit on llama-imatrix's own libraries",
      cmd: process.execPath,
      args: lowbitArgs('ol.gguf'),
      env: { ...process.env, LOWBIT_LLAMA_LIB_DIR: bin },
      against: 1,
      out: 'ol.gguf',
      sameAs: 1,
    });
    if (other)
      contenders.push({
        name: `llama-imatrix of ${other}`,
        cmd: join(other, 'llama-imatrix'),
        args: llamaArgs('o.gguf'),
      });
    let tokens = 0;
    console.log(
      `imatrix: lowbit imatrix vs llama-imatrix, ${which === 'small' ? 'synthetic 137M Llama' : 'brown-3m'} F32, calib.txt x${repeat}, ctx ${ctx}, ${chunks ? `${chunks} chunks` : 'all chunks'}; whole processes; median of ${runs} interleaved; ratio = lowbit / other`,
    );
    for (const t of threads) {
      const wall = contenders.map((): number[] => []),
        cpu = contenders.map((): number[] => []);
      for (let r = 0; r < runs; r++) {
        for (const [i, c] of contenders.entries()) {
          const m = timed(c.cmd, c.args(t), c.env);
          if (i === 0) tokens = JSON.parse(m.stdout).run.tokens;
          wall[i]!.push(m.wall);
          cpu[i]!.push(m.cpu);
        }
      }
      for (const [i, c] of contenders.entries()) {
        const w = tokens / median(wall[i]!),
          u = tokens / median(cpu[i]!);
        // ratio = lowbit / llama-imatrix: lowbit's row against the llama-imatrix row, or a lowbit row against its `against`
        const [a, b] = c.against !== undefined ? [i, c.against] : [0, i];
        const r = (x: number[][]) => (tokens / median(x[a]!) / (tokens / median(x[b]!))).toFixed(2);
        const show = i > 0;
        console.log(
          `  ${t} thread${t > 1 ? 's' : ''}  ${c.name.padEnd(46)} wall ${w.toFixed(0).padStart(6)} tok/s${show ? ` (ratio ${r(wall)})` : '             '}   CPU ${u.toFixed(0).padStart(6)} tok/s${show ? ` (ratio ${r(cpu)})` : ''}`,
        );
      }
    }
    for (const c of contenders) {
      if (c.sameAs === undefined || !c.out) continue;
      const o = contenders[c.sameAs]!;
      const same = Buffer.compare(readFileSync(join(tmp, c.out)), readFileSync(join(tmp, o.out!))) === 0;
      console.log(`  ${c.name} and ${o.name} (same kernels): ${same ? 'byte-identical matrices' : 'matrices DIFFER'}`);
    }
    console.log(`(${tokens} tokens per run)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
