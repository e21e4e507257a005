// The worker thread of the quantize pool: takes chunks of the slab the pool shares with it (see
// runChunks) until none is left, then reports its earliest failure, if any.
import { parentPort } from 'node:worker_threads';
import { runChunks, type SlabPart } from './row-job.js';

export interface SlabMessage {
  parts: SlabPart[];
  counter: Int32Array;
}

parentPort!.on('message', (m: SlabMessage) => {
  parentPort!.postMessage(runChunks(m.parts, m.counter));
});
