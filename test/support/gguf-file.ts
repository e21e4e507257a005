// Writes a whole GGUF file from metadata and tensors held in memory (test models made from another
// model: moe-model.ts, byteless-model.ts): a temp file beside `out`, renamed into place when complete.
import { open, rename } from 'node:fs/promises';
import { FileSink } from '../../src/node/file-io.js';
import { GgufWriter } from '../../src/io/gguf/writer.js';
import type { GgufValue } from '../../src/io/gguf/metadata.js';

export async function writeGgufFile(
  out: string,
  metadata: [string, GgufValue][],
  tensors: { name: string; dims: number[]; type: number; bytes: Uint8Array }[],
): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  const w = await GgufWriter.begin(new FileSink(fh), {
    metadata,
    tensors: tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type })),
  });
  for (const t of tensors) await w.writeTensorData(t.name, t.bytes);
  await w.finish();
  await fh.close();
  await rename(tmp, out);
}
