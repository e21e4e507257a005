// lowbit/node's `pipeline`: the core pipeline plus its Node pieces (files, worker threads).
export * from '../pipeline/index.js';
export * from './quantize-file.js';
export { nodeExecutor, nodeThreadPort, NodeRowWorkerPool, defaultThreads } from './workers.js';
