// Importance matrices as llama-imatrix makes them: the engine-agnostic accumulator, the GGUF and
// legacy .dat writers / raw readers (for merging), and --show-statistics. Browser-safe.
export * from './collector.js';
export * from './file.js';
export * from './statistics.js';
export * from './hessian.js';
