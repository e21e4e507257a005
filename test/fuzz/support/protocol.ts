// Messages between the fuzz harness and its parse worker.
export type ParserName = 'safetensors' | 'onnx' | 'llama2c' | 'llama2c-tokenizer' | 'imatrix';

export interface ParseRequest {
  parser: ParserName;
  name: string;
  bytes: Uint8Array;
  /** ONNX external data files by location */
  sidecars?: Record<string, Uint8Array>;
  /** llama2c tokenizer: the model's vocab size */
  vocabSize?: number;
}

export interface ParseResult {
  /** ok: parsed; format: FileFormatError; lowbit: another LowbitError; other: any other exception (a bug) */
  kind: 'ok' | 'format' | 'lowbit' | 'other';
  message?: string;
  summary?: Record<string, unknown>;
  /** the first read outside a file, or null */
  overreach?: string | null;
  bytesRead?: number;
  /** side files the parser asked to open (ONNX external data locations) */
  opened?: string[];
  largestRead?: number;
}
