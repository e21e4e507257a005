// Which kind of model file a byte source holds, by its first bytes (and, for ONNX, which has no
// magic, its name): what `inspect`, `compare`, `eval`, `report` and the web app dispatch on.
import type { ByteSource } from './source.js';
import { LowbitError } from '../errors.js';

export type FileKind = 'gguf' | 'onnx' | 'safetensors';

/** First bytes of a safetensors file: u64 header length (within the file), then '{'. */
export function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 9 || head[8] !== 0x7b) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(size - 8);
}

export async function fileKind(src: ByteSource): Promise<FileKind> {
  if (src.size >= 4) {
    const m = await src.read(0, Math.min(16, src.size));
    if (m[0] === 0x47 && m[1] === 0x47 && m[2] === 0x55 && m[3] === 0x46) return 'gguf';
    if (looksLikeSafetensors(m, src.size)) return 'safetensors';
  }
  if (/\.onnx$/i.test(src.name)) return 'onnx';
  throw new LowbitError(`${src.name}: neither GGUF (no GGUF magic), safetensors nor ONNX (.onnx)`);
}
