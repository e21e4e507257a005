// The worker thread of the quantize pool: runs row jobs on the slab buffers the pool shares with it.
import { parentPort } from 'node:worker_threads';
import { runRowJob, type RowJob, type SlabBuffers } from './row-job.js';

parentPort!.on('message', (m: { job: RowJob; buffers: SlabBuffers }) => {
  let result;
  try {
    result = runRowJob(m.job, m.buffers);
  } catch (e) {
    result = { ok: false, kind: 'error', message: (e as Error)?.message ?? String(e) };
  }
  parentPort!.postMessage(result);
});
