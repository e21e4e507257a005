// A pool of threads for quantizing. Each slab of rows is cut into chunks that the calling thread and
// threads-1 workers take from a shared atomic counter until none is left: one message out and one
// back per worker per slab, buffers shared through SharedArrayBuffer (nothing is copied, no
// per-block messages), and a thread the OS deschedules (a busy machine) delays one chunk, not a
// fixed share. Every row is quantized on its own, so who does which chunk cannot change the output.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { runChunks, runRowJob, type ChunksDone, type RowJob, type RowJobResult, type SlabBuffers, type SlabPart } from './row-job.js';
import type { SlabMessage } from './workers-thread.js';

/** A multi-part slab's outcome: clamped counts per part, or the first failure and its part. */
export type PartsResult = { ok: true; clamped: number[] } | { ok: false; part: number; result: RowJobResult };

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

// dist runs workers-thread.js. Under tsx (tests) this module is the .ts source, and a worker does
// not inherit tsx's loader hooks, so a tiny bootstrap registers tsx in the worker first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './workers-thread.ts' : './workers-thread.js', import.meta.url);

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  // resolved here, from this module, so the worker finds tsx whatever the working directory
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true });
}

/** Slabs smaller than this many elements run on the calling thread alone: a worker round trip costs more. */
export const MIN_SHARED_ELEMENTS = 1 << 16;

/** Elements per chunk (1 MiB of float32): dozens of chunks per slab, each long enough that taking it costs nothing. */
export const CHUNK_ELEMENTS = 1 << 18;

export class RowWorkerPool {
  private readonly workers: Worker[] = [];
  /** why a worker stopped (a failed start-up before its first job is reported to that job) */
  private readonly dead = new Map<Worker, Error>();

  constructor(readonly threads: number, private readonly minShared = MIN_SHARED_ELEMENTS) {}

  /** Whether a slab of this many rows and elements (all parts) would be shared with workers. */
  sharesSlab(nRows: number, nElements: number): boolean {
    return this.threads > 1 && nRows >= 2 && nElements >= this.minShared;
  }

  /**
   * Starts the workers now (their start-up then overlaps with header writing and the first read);
   * otherwise they start on the first slab big enough to share. With one thread none ever start.
   */
  start(): void {
    if (this.threads > 1 && this.workers.length === 0) {
      for (let i = 1; i < this.threads; i++) {
        const w = startWorker();
        w.on('error', (e: Error) => { if (!this.dead.has(w)) this.dead.set(w, e); });
        w.on('exit', (code: number) => { if (!this.dead.has(w)) this.dead.set(w, new Error(`quantize worker exited with code ${code}`)); });
        this.workers.push(w);
      }
    }
  }

  /** Buffers for slabs: SharedArrayBuffer-backed when threads > 1. */
  alloc(bytes: number): ArrayBufferLike {
    return this.threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }

  /** Runs one tensor's slab of rows in chunks on all threads; resolves with the first failure, if any, in row order. */
  async run(base: Omit<RowJob, 'rowStart' | 'rowEnd'>, nRows: number, buffers: SlabBuffers): Promise<RowJobResult> {
    const r = await this.runParts([{ base, nRows, buffers }]);
    return r.ok ? (r.clamped[0] ? { ok: true, clamped: r.clamped[0] } : { ok: true }) : r.result;
  }

  /**
   * Runs a slab of several tensors' rows (parts, in order) in chunks on all threads: one message
   * to each worker and one back for the whole slab. Resolves with the first failure in part and
   * row order, if any, else with the clamped count of each part.
   */
  async runParts(parts: readonly Omit<SlabPart, 'chunkRows'>[]): Promise<PartsResult> {
    const rows = parts.reduce((n, p) => n + p.nRows, 0);
    const elements = parts.reduce((n, p) => n + p.nRows * p.base.nPerRow, 0);
    // small slabs are not worth a round trip to the workers (the result is the same either way)
    if (!this.sharesSlab(rows, elements)) {
      const clamped: number[] = [];
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        const r = runRowJob({ ...p.base, rowStart: 0, rowEnd: p.nRows }, p.buffers);
        if (!r.ok) return { ok: false, part: i, result: r };
        clamped.push(r.clamped ?? 0);
      }
      return { ok: true, clamped };
    }
    this.start();
    // per part, at least two chunks per thread, so the counter can even out the threads' progress
    const shared: SlabPart[] = parts.map((p) => ({
      ...p, chunkRows: Math.max(1, Math.min(Math.floor(CHUNK_ELEMENTS / p.base.nPerRow), Math.ceil(p.nRows / (2 * this.threads)))),
    }));
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const msg: SlabMessage = { parts: shared, counter };
    const posted = this.workers.map((w) => this.post(w, msg));
    let mine: ChunksDone;
    try {
      mine = runChunks(shared, counter);
    } catch (e) {
      await Promise.allSettled(posted); // the workers still use the buffers: let them finish first
      throw e;
    }
    const all = [mine, ...(await Promise.all(posted))];
    const failures = all.flatMap((d) => (d.failure ? [d.failure] : []));
    if (failures.length) {
      const f = failures.reduce((a, b) => (b.chunk < a.chunk ? b : a));
      return { ok: false, part: f.part, result: f.result };
    }
    return { ok: true, clamped: shared.map((_, i) => all.reduce((n, d) => n + d.clamped[i]!, 0)) };
  }

  private post(w: Worker, msg: SlabMessage): Promise<ChunksDone> {
    return new Promise((resolve, reject) => {
      const died = this.dead.get(w);
      if (died) { reject(died); return; }
      const onMessage = (r: ChunksDone) => { cleanup(); resolve(r); };
      const onError = (e: Error) => { cleanup(); reject(e); };
      const onExit = (code: number) => { cleanup(); reject(new Error(`quantize worker exited with code ${code}`)); };
      const cleanup = () => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    const ws = [...this.workers];
    this.workers.length = 0;
    for (const w of ws) this.dead.set(w, new Error('quantize worker pool closed'));
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
