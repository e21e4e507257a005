// Node entry: quantize one GGUF file into another through an atomic output (temp file + rename), so
// a failed or interrupted run leaves no partial output.
import { FileSource } from '../node/file-io.js';
import { withAtomicOutput } from './atomic-output.js';
import { prepareQuantize, quantizeGguf, type QuantizeOptions, type QuantizeSummary } from './quantize-gguf.js';
import type { QuantPlan } from '../plan/plan.js';

export async function quantizeGgufFile(input: string, output: string, opts: QuantizeOptions): Promise<QuantizeSummary> {
  const src = await FileSource.open(input);
  try {
    return await withAtomicOutput(output, (out) => quantizeGguf(src, out.sink, opts), { inputs: [input] });
  } finally {
    await src.close();
  }
}

/** --dry-run: the plan only; reads nothing but the header. */
export async function planGgufFile(input: string, opts: QuantizeOptions): Promise<QuantPlan> {
  const src = await FileSource.open(input);
  try {
    return (await prepareQuantize(src, opts)).plan;
  } finally {
    await src.close();
  }
}
