// Where the pipeline's slabs of rows are quantized: an executor. Each slab is cut into chunks that
// the calling thread and threads-1 workers take from a shared atomic counter until none is left:
// one message out and one back per worker per slab, buffers shared through SharedArrayBuffer
// (nothing is copied, no per-block messages), and a thread the OS deschedules (a busy machine)
// delays one chunk, not a fixed share. Every row is quantized on its own, so who does which chunk
// cannot change the output.
//
// The pool itself is platform-free: a worker is a ThreadPort, made by a spawn function. Node's
// worker_threads are in src/node/workers.ts, the browser's Web Workers in ./web-workers.ts; with
// no spawn function (or one thread) every slab runs on the calling thread.
import {
  runChunks,
  runRowJob,
  type ChunksDone,
  type RowJob,
  type RowJobResult,
  type SlabBuffers,
  type SlabMessage,
  type SlabPart,
} from './row-job.js';

/** A multi-part slab's outcome: clamped counts per part, or the first failure and its part. */
export type PartsResult = { ok: true; clamped: number[] } | { ok: false; part: number; result: RowJobResult };

/** What the pipeline needs from whatever runs its slabs. */
export interface RowExecutor {
  readonly threads: number;
  /** Whether a slab of this many rows and elements (all parts) would be shared with workers. */
  sharesSlab(nRows: number, nElements: number): boolean;
  /** Starts the workers now (otherwise on the first slab big enough to share). */
  start(): void;
  /** Buffers for slabs: shared with the workers when there are any. */
  alloc(bytes: number): ArrayBufferLike;
  /** Runs a slab of several tensors' rows; the first failure in part and row order, or the clamped counts. */
  runParts(parts: readonly Omit<SlabPart, 'chunkRows'>[]): Promise<PartsResult>;
  close(): Promise<void>;
}

/** Makes an executor for a run: `threads` threads in all (the caller's included). */
export type ExecutorFactory = (threads: number, minShared?: number) => RowExecutor;

/** One worker thread, whatever runs it (worker_threads, a Web Worker). */
export interface ThreadPort {
  postMessage(msg: SlabMessage): void;
  /** Listens for the worker's answers and its death (error, exit); returns the unsubscribe. */
  listen(onMessage: (d: ChunksDone) => void, onFailure: (e: Error) => void): () => void;
  terminate(): Promise<unknown> | void;
}

/** Slabs smaller than this many elements run on the calling thread alone: a worker round trip costs more. */
export const MIN_SHARED_ELEMENTS = 1 << 16;

/** Elements per chunk (1 MiB of float32): dozens of chunks per slab, each long enough that taking it costs nothing. */
export const CHUNK_ELEMENTS = 1 << 18;

export class RowWorkerPool implements RowExecutor {
  private readonly workers: ThreadPort[] = [];
  /** why a worker stopped (a failed start-up before its first job is reported to that job) */
  private readonly dead = new Map<ThreadPort, Error>();
  readonly threads: number;

  /** spawn: starts one worker; null runs everything on the calling thread (threads is then 1) */
  constructor(
    threads: number,
    private readonly spawn: (() => ThreadPort) | null,
    private readonly minShared = MIN_SHARED_ELEMENTS,
  ) {
    this.threads = spawn ? Math.max(1, Math.floor(threads)) : 1;
  }

  sharesSlab(nRows: number, nElements: number): boolean {
    return this.threads > 1 && nRows >= 2 && nElements >= this.minShared;
  }

  start(): void {
    if (this.threads > 1 && this.workers.length === 0) {
      for (let i = 1; i < this.threads; i++) {
        const w = this.spawn!();
        w.listen(
          () => {},
          (e) => {
            if (!this.dead.has(w)) this.dead.set(w, e);
          },
        );
        this.workers.push(w);
      }
    }
  }

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
      ...p,
      chunkRows: Math.max(
        1,
        Math.min(Math.floor(CHUNK_ELEMENTS / p.base.nPerRow), Math.ceil(p.nRows / (2 * this.threads))),
      ),
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

  private post(w: ThreadPort, msg: SlabMessage): Promise<ChunksDone> {
    return new Promise((resolve, reject) => {
      const died = this.dead.get(w);
      if (died) {
        reject(died);
        return;
      }
      const stop = w.listen(
        (r) => {
          stop();
          resolve(r);
        },
        (e) => {
          stop();
          reject(e);
        },
      );
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

/** Every slab on the calling thread: no workers, no shared memory (the browser without cross-origin isolation). */
export const singleThreadExecutor: ExecutorFactory = () => new RowWorkerPool(1, null);
