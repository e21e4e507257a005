// The worker thread of the quantize pool: takes chunks of the slab the pool shares with it (see
// runChunks) until none is left, then reports its earliest failure, if any.
import { parentPort } from 'node:worker_threads';
import { runChunks, type RowJob, type SlabBuffers } from './row-job.js';

export interface SlabMessage {
  base: Omit<RowJob, 'rowStart' | 'rowEnd'>;
  nRows: number;
  chunkRows: number;
  counter: Int32Array;
  buffers: SlabBuffers;
}

parentPort!.on('message', (m: SlabMessage) => {
  parentPort!.postMessage(runChunks(m.base, m.nRows, m.chunkRows, m.counter, m.buffers));
});
