// The worker thread of the quantize pool on Node: takes chunks of the slab the pool shares with it
// (see runChunks) until none is left, then reports its earliest failure, if any.
import { parentPort } from 'node:worker_threads';
import { runChunks, type SlabMessage } from '../pipeline/row-job.js';

parentPort!.on('message', (m: SlabMessage) => {
  parentPort!.postMessage(runChunks(m.parts, m.counter));
});
