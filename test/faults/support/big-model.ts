// A synthetic F32 llama GGUF big enough (~140 MB) that a quantize run is still going when a test
// signals it, truncates its input or fills its disk. Written once under os.tmpdir() (shared by the
// fault test files; a temp name + rename keeps parallel writers apart) with cheap deterministic
// weights, and a helper that spawns the CLI and waits on its progress instead of sleeping.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgufWriter } from '../../../src/io/gguf/writer.js';
import { FileSink } from '../../../src/node/file-io.js';
import { GGML_TYPE } from '../../../src/formats/ggml-types.js';
import { gv } from '../../../src/io/gguf/metadata.js';
import { syntheticLlama } from '../../pipeline/synthetic-model.js';

const N_EMBD = 1024,
  N_FF = 4096,
  N_LAYER = 2,
  N_VOCAB = 32;
export const BIG_MODEL = join(tmpdir(), `lowbit-faults-f32-${N_EMBD}x${N_FF}x${N_LAYER}-v1.gguf`);

/** The model's path, writing it first when it is not there yet. */
export async function bigModel(): Promise<string> {
  if (existsSync(BIG_MODEL)) return BIG_MODEL;
  // metadata from the small synthetic model, dimensions raised; tensors written one at a time
  const small = syntheticLlama({ nLayer: N_LAYER, nEmbd: 64, nFf: 128, nVocab: N_VOCAB, weightType: GGML_TYPE.F32 });
  const metadata = new Map(small.metadata);
  metadata.set('llama.embedding_length', gv.u32(N_EMBD));
  metadata.set('llama.feed_forward_length', gv.u32(N_FF));
  metadata.set('llama.rope.dimension_count', gv.u32(N_EMBD / 4));
  metadata.set('general.file_type', gv.u32(0));
  const shapes = small.tensors.map((t) => ({
    name: t.name,
    shape: t.shape.map((d) => (d === 64 ? N_EMBD : d === 128 ? N_FF : d)),
  }));
  const tmp = `${BIG_MODEL}.${process.pid}.partial`;
  const fh = await open(tmp, 'w');
  try {
    const w = await GgufWriter.begin(new FileSink(fh), {
      metadata,
      tensors: shapes.map((s) => ({ name: s.name, dims: s.shape, type: GGML_TYPE.F32 })),
    });
    let seed = 1;
    for (const s of shapes) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const f = new Float32Array(n);
      // a cheap pseudo-random sequence (xorshift), small weights
      let x = seed++ * 0x9e3779b9;
      for (let i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        f[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.1;
      }
      await w.writeTensorData(s.name, new Uint8Array(f.buffer));
    }
    await w.finish();
  } finally {
    await fh.close();
  }
  renameSync(tmp, BIG_MODEL);
  return BIG_MODEL;
}

/** A legacy llama2.c checkpoint of the same size class (dim 1024, hidden 4096, 2 layers), for convert runs. */
export async function bigLlama2c(): Promise<string> {
  const path = join(tmpdir(), 'lowbit-faults-llama2c-1024x4096x2-v1.bin');
  if (existsSync(path)) return path;
  const dim = 1024,
    hidden = 4096,
    layers = 2,
    heads = 8,
    vocab = 32,
    seq = 16;
  const floats = vocab * dim + layers * (2 * dim + 4 * dim * dim + 3 * hidden * dim) + dim + seq * (dim / heads);
  const header = new Int32Array([dim, hidden, layers, heads, heads, vocab, seq]);
  const w = new Float32Array(floats);
  let x = 0x2545f491;
  for (let i = 0; i < floats; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.1;
  }
  const tmp = `${path}.${process.pid}.partial`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(new Uint8Array(header.buffer));
    await fh.write(new Uint8Array(w.buffer));
  } finally {
    await fh.close();
  }
  renameSync(tmp, path);
  return path;
}

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** resolves with the exit code (or 128 + signal number for a signal death, as a shell reports it) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the CLI from source; `wrap` runs it under another program (prlimit). */
export function spawnCli(args: string[], wrap: string[] = [], env?: NodeJS.ProcessEnv): Running {
  const cmd = wrap.length ? wrap[0]! : process.execPath;
  const argv = [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), '--import', 'tsx', MAIN, ...args];
  const child = spawn(cmd, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '',
    err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Temp files lowbit's atomic output makes for `target` (".<name>.lowbit-tmp-<pid>-<hex>"). */
export function tempsFor(dir: string, name: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith(`.${name}.lowbit-tmp-`));
}

/**
 * Waits until the run's temp output in `dir` holds at least `bytes` (the run is then mid-way: the
 * header and some tensor data are written), polling; fails if the process ends first.
 */
export async function waitForTemp(
  run: Running,
  dir: string,
  name: string,
  bytes: number,
  timeoutMs = 240_000,
): Promise<string> {
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  const t0 = Date.now();
  for (;;) {
    for (const f of tempsFor(dir, name)) {
      try {
        if (statSync(join(dir, f)).size >= bytes) return join(dir, f);
      } catch {
        /* renamed or removed meanwhile */
      }
    }
    if (ended) throw new Error(`the run ended before its temp output reached ${bytes} bytes: ${run.stderr()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`no temp output of ${bytes} bytes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
