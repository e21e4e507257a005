// The quantize pipeline's executor on Node: worker_threads running src/node/workers-thread.ts
// (the pool itself is platform-free: src/pipeline/executor.ts).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { RowWorkerPool, MIN_SHARED_ELEMENTS, type ExecutorFactory, type ThreadPort } from '../pipeline/executor.js';
import type { ChunksDone } from '../pipeline/row-job.js';

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

/** A worker_threads worker as the pool's ThreadPort. */
export function nodeThreadPort(w: Worker = startWorker()): ThreadPort {
  return {
    postMessage: (m) => w.postMessage(m),
    listen(onMessage, onFailure) {
      const m = (d: ChunksDone) => onMessage(d);
      const e = (err: Error) => onFailure(err);
      const x = (code: number) => onFailure(new Error(`quantize worker exited with code ${code}`));
      w.on('message', m);
      w.on('error', e);
      w.on('exit', x);
      return () => {
        w.off('message', m);
        w.off('error', e);
        w.off('exit', x);
      };
    },
    terminate: () => w.terminate(),
  };
}

/** Node's executor: threads-1 worker threads beside the calling one. */
export const nodeExecutor: ExecutorFactory = (threads, minShared = MIN_SHARED_ELEMENTS) =>
  new RowWorkerPool(threads, () => nodeThreadPort(), minShared);

/** The pool on worker threads (tests and tools construct it directly). */
export class NodeRowWorkerPool extends RowWorkerPool {
  constructor(threads: number, minShared = MIN_SHARED_ELEMENTS) {
    super(threads, () => nodeThreadPort(), minShared);
  }
}
