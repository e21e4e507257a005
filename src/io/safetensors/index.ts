// safetensors: streamed reader (validated like the reference implementation), writer, shard sets.
export * from './dtypes.js';
export * from './reader.js';
export * from './writer.js';
export * from './sharded.js';
