// The quantize pipeline's executor in a browser: Web Workers running a script that answers each
// slab message with runChunks (the web app's row worker). Needs SharedArrayBuffer, i.e. a
// cross-origin isolated page (COOP/COEP headers, as `lowbit web` sends); without it, one thread.
import {
  RowWorkerPool,
  MIN_SHARED_ELEMENTS,
  singleThreadExecutor,
  type ExecutorFactory,
  type ThreadPort,
} from './executor.js';
import type { ChunksDone } from './row-job.js';

interface WebWorkerLike {
  postMessage(m: unknown): void;
  addEventListener(type: string, f: (e: any) => void): void;
  removeEventListener(type: string, f: (e: any) => void): void;
  terminate(): void;
}

/** True where workers can share slab buffers (SharedArrayBuffer and cross-origin isolation). */
export function canShareMemory(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown; Worker?: unknown };
  return typeof g.SharedArrayBuffer === 'function' && typeof g.Worker === 'function' && g.crossOriginIsolated !== false;
}

export function webThreadPort(w: WebWorkerLike): ThreadPort {
  return {
    postMessage: (m) => w.postMessage(m),
    listen(onMessage, onFailure) {
      const m = (e: MessageEvent) => onMessage(e.data as ChunksDone);
      const err = (e: ErrorEvent) => {
        e.preventDefault?.();
        onFailure(new Error(`quantize worker failed: ${e.message ?? 'error'}`));
      };
      const me = () => onFailure(new Error('quantize worker could not read a message'));
      w.addEventListener('message', m);
      w.addEventListener('error', err);
      w.addEventListener('messageerror', me);
      return () => {
        w.removeEventListener('message', m);
        w.removeEventListener('error', err);
        w.removeEventListener('messageerror', me);
      };
    },
    terminate: () => w.terminate(),
  };
}

/** Web Workers made from `workerUrl` (a module worker script running the row worker). */
export function webWorkerExecutor(workerUrl: string | URL): ExecutorFactory {
  if (!canShareMemory()) return singleThreadExecutor;
  const W = (globalThis as unknown as { Worker: new (u: string | URL, o?: object) => WebWorkerLike }).Worker;
  return (threads, minShared = MIN_SHARED_ELEMENTS) =>
    new RowWorkerPool(
      threads,
      () => webThreadPort(new W(workerUrl, { type: 'module', name: 'lowbit-rows' })),
      minShared,
    );
}
