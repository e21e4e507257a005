// --imatrix FILE on Node: the file read and filtered as llama-quantize does (src/plan/options.ts).
import { FileSource } from './file-io.js';
import { imatrixInput } from '../plan/options.js';
import type { ImatrixInput } from '../pipeline/quantize-gguf.js';

export async function loadImatrix(
  path: string,
  include: readonly string[],
  exclude: readonly string[],
): Promise<ImatrixInput | undefined> {
  const src = await FileSource.open(path);
  try {
    return await imatrixInput(src, include, exclude);
  } finally {
    await src.close();
  }
}
