// A row worker of the page's quantize pool: takes chunks of each slab it is sent (runChunks, the
// same function Node's worker threads run) and answers with what it did.
import { runChunks, type SlabMessage } from '../../src/pipeline/row-job.js';

self.onmessage = (e: MessageEvent<SlabMessage>) => {
  (self as unknown as Worker).postMessage(runChunks(e.data.parts, e.data.counter));
};
