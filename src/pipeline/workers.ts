// A pool of worker threads for quantizing. Each slab of rows is split into one contiguous row
// range per thread: one message out and one back per thread per slab, buffers shared through
// SharedArrayBuffer (nothing is copied, no per-block messages).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { runRowJob, type RowJob, type RowJobResult, type SlabBuffers } from './row-job.js';

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

/** Slabs smaller than this many elements run on the main thread: a worker round trip costs more. */
export const MIN_SHARED_ELEMENTS = 1 << 16;

export class RowWorkerPool {
  private readonly workers: Worker[] = [];

  constructor(readonly threads: number, private readonly minShared = MIN_SHARED_ELEMENTS) {}

  /** Workers start on the first slab big enough to share (with one thread, none ever start). */
  private ensureWorkers(): void {
    if (this.threads > 1 && this.workers.length === 0) for (let i = 0; i < this.threads; i++) this.workers.push(startWorker());
  }

  /** Buffers for slabs: SharedArrayBuffer-backed when threads > 1. */
  alloc(bytes: number): ArrayBufferLike {
    return this.threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }

  /** Runs a slab split into equal row ranges; resolves with the first failure, if any, in row order. */
  async run(base: Omit<RowJob, 'rowStart' | 'rowEnd'>, nRows: number, buffers: SlabBuffers): Promise<RowJobResult> {
    // small slabs are not worth a round trip to the workers (the result is the same either way)
    if (this.threads < 2 || nRows < 2 || nRows * base.nPerRow < this.minShared) return runRowJob({ ...base, rowStart: 0, rowEnd: nRows }, buffers);
    this.ensureWorkers();
    const k = Math.min(this.workers.length, nRows);
    const per = Math.ceil(nRows / k);
    const results = await Promise.all(Array.from({ length: k }, (_, i) => {
      const job: RowJob = { ...base, rowStart: i * per, rowEnd: Math.min(nRows, (i + 1) * per) };
      return this.post(this.workers[i]!, job, buffers);
    }));
    return results.find((r) => !r.ok) ?? { ok: true };
  }

  private post(w: Worker, job: RowJob, buffers: SlabBuffers): Promise<RowJobResult> {
    return new Promise((resolve, reject) => {
      const onMessage = (r: RowJobResult) => { cleanup(); resolve(r); };
      const onError = (e: Error) => { cleanup(); reject(e); };
      const onExit = (code: number) => { cleanup(); reject(new Error(`quantize worker exited with code ${code}`)); };
      const cleanup = () => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage({ job, buffers });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
