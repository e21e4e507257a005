// Node entry: quantize one GGUF file into another through an atomic output (temp file + rename), so
// a failed or interrupted run leaves no partial output.
import { open, type FileHandle } from 'node:fs/promises';
import { FileSource } from '../node/file-io.js';
import { checkRange } from '../io/source.js';
import { FileFormatError } from '../errors.js';
import { withAtomicOutput } from './atomic-output.js';
import { prepareQuantize, quantizeGguf, type QuantizeOptions, type QuantizeSummary, type ReadIntoSource } from './quantize-gguf.js';
import type { QuantPlan } from '../plan/plan.js';

/** The input file, read straight into the pipeline's slab buffers (no allocation or copy per slab). */
class SlabFileSource implements ReadIntoSource {
  private constructor(readonly name: string, private readonly fh: FileHandle, readonly size: number) {}

  static async open(path: string): Promise<SlabFileSource> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) { await fh.close(); throw new FileFormatError(path, 'not a regular file'); }
    return new SlabFileSource(path, fh, st.size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    await this.readInto(offset, buf);
    return buf;
  }

  async readInto(offset: number, dst: Uint8Array): Promise<void> {
    checkRange(this, offset, dst.length);
    for (let done = 0; done < dst.length;) {
      const { bytesRead } = await this.fh.read(dst, done, dst.length - done, offset + done);
      // the file shrank under us (another process truncated it): a clear error, not garbage
      if (bytesRead === 0) throw new FileFormatError(this.name, `file shrank while reading (at byte ${offset + done} of ${this.size})`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export async function quantizeGgufFile(input: string, output: string, opts: QuantizeOptions): Promise<QuantizeSummary> {
  const src = await SlabFileSource.open(input);
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
