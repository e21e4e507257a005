// The Node quantize pipeline: GGUF in, GGUF out, equal to llama.cpp's llama_model_quantize.
export * from './quantize-gguf.js';
export * from './quantize-file.js';
export { RowWorkerPool, defaultThreads, MIN_SHARED_ELEMENTS, CHUNK_ELEMENTS } from './workers.js';
export { firstInvalid, firstNonFinite } from './validate.js';
