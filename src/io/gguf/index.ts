// GGUF: read (browser and Node, over ByteSource) and write (streaming, over ByteSink).
export * from './constants.js';
export * from './metadata.js';
export * from './reader.js';
export * from './writer.js';
