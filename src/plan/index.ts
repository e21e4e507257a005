// Quantization plans (browser-safe): llama.cpp's file types and per-tensor type rules.
export * from './file-types.js';
export * from './tensor-rules.js';
export * from './plan.js';
export * from './model-info.js';
export * from './metadata.js';
export * from './from-gguf.js';
export * from './kv-override.js';
export * from './prune.js';
export { refineChoice, type RefineOptions, type RefineResult, type RefineMove } from './refine.js';
