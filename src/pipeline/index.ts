// The quantize pipeline: GGUF in, GGUF out, equal to llama.cpp's llama_model_quantize, over an
// executor (the calling thread, Node's worker threads, Web Workers) and byte sources and sinks.
export * from './quantize-gguf.js';
export {
  RowWorkerPool,
  singleThreadExecutor,
  MIN_SHARED_ELEMENTS,
  CHUNK_ELEMENTS,
  type RowExecutor,
  type ExecutorFactory,
  type ThreadPort,
  type PartsResult,
} from './executor.js';
export { webWorkerExecutor, webThreadPort, canShareMemory } from './web-workers.js';
export { runChunks, runRowJob, type SlabMessage } from './row-job.js';
export { firstInvalid, firstNonFinite } from './validate.js';
