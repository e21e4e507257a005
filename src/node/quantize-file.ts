// Node entry: quantize one GGUF file (or a split model, through its first shard) into one GGUF, or
// with --keep-split one per shard, through atomic outputs (temp file + rename), so a failed or
// interrupted run leaves no partial output. Slabs run on Node's worker threads (all cores unless
// opts.threads says otherwise) unless opts.executor names another executor.
import { open, type FileHandle } from 'node:fs/promises';
import { checkRange } from '../io/source.js';
import { FileFormatError, LowbitError } from '../errors.js';
import { parseFileType } from '../plan/file-types.js';
import { describeMissing, ggufInputFiles, refuseOutputOverInputs } from './output-guard.js';
import { openAtomicOutput, withAtomicOutput, type AtomicOutput } from './atomic-output.js';
import {
  outputShards,
  prepareQuantize,
  quantizeGguf,
  type ParsedGgufSource,
  type QuantizeOptions,
  type QuantizeSummary,
  type ReadIntoSource,
} from '../pipeline/quantize-gguf.js';
import { defaultThreads, nodeExecutor } from './workers.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { ConcatSource, mergeSplitHeaders, splitCount, splitPath, splitPaths } from '../io/gguf/split.js';
import type { QuantPlan } from '../plan/plan.js';

/** The input file, read straight into the pipeline's slab buffers (no allocation or copy per slab). */
class SlabFileSource implements ReadIntoSource {
  private constructor(
    readonly name: string,
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<SlabFileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new LowbitError(describeMissing(path, e), 'EIO', (e as NodeJS.ErrnoException).code);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new FileFormatError(path, 'not a regular file');
    }
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
      if (bytesRead === 0)
        throw new FileFormatError(this.name, `file shrank while reading (at byte ${offset + done} of ${this.size})`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * A GGUF input, its header read: one file, or a split model opened through its first shard (the
 * other shards found by llama.cpp's naming, read as one byte space). `paths`: every file read.
 */
export async function openGgufInput(
  path: string,
): Promise<{ src: ParsedGgufSource & ReadIntoSource; paths: string[] }> {
  const first = await SlabFileSource.open(path);
  const opened: SlabFileSource[] = [first];
  try {
    const head = await readGgufHeader(first);
    if (splitCount(head) <= 1) return { src: Object.assign(first, { gguf: head }), paths: [path] };
    const paths = splitPaths(head, path);
    const headers = [head];
    for (const p of paths.slice(1)) {
      let shard: SlabFileSource;
      try {
        shard = await SlabFileSource.open(p);
      } catch (e) {
        throw new FileFormatError(
          path,
          `shard ${opened.length + 1} of ${paths.length}, ${p}, cannot be opened (${describeMissing(p, e).slice(p.length + 2)})`,
        );
      }
      opened.push(shard);
      headers.push(await readGgufHeader(shard));
    }
    const joint = new ConcatSource(path, opened);
    return { src: Object.assign(joint, { gguf: mergeSplitHeaders(headers, joint) }), paths };
  } catch (e) {
    await Promise.all(opened.map((s) => s.close()));
    throw e;
  }
}

/**
 * --keep-split: the output files, named as llama-quantize names them from the output path (minus
 * a trailing .gguf): <prefix>-00001-of-0000N.gguf … (N = 1 for an input that is not split).
 */
export function keepSplitPaths(output: string, count: number): string[] {
  const prefix = output.endsWith('.gguf') ? output.slice(0, -'.gguf'.length) : output;
  return Array.from({ length: count }, (_, i) => splitPath(prefix, i, count));
}

/**
 * opts.fileType checked: a FileType from FILE_TYPES, or its name ('Q8_0'), taken as parseFileType
 * takes it; anything else is a LowbitError that says what to give (not "unknown ggml type undefined").
 */
function checkedOptions(fn: string, opts: QuantizeOptions): QuantizeOptions {
  const ft = (opts as { fileType?: unknown } | undefined)?.fileType;
  if (typeof ft === 'string') return { ...opts, fileType: parseFileType(ft) };
  if (
    ft &&
    typeof ft === 'object' &&
    typeof (ft as { id?: unknown }).id === 'number' &&
    typeof (ft as { defaultType?: unknown }).defaultType === 'number'
  )
    return opts;
  throw new LowbitError(
    `${fn}: options.fileType is required: a file type such as 'Q4_K_M' (or an entry of FILE_TYPES); quantizeFile(input, output, { type: 'Q4_K_M' }) takes llama-quantize's options by name`,
  );
}

/** The pipeline's options on Node: worker threads, all cores by default. */
export function withNodeExecutor(opts: QuantizeOptions): QuantizeOptions {
  return { ...opts, executor: opts.executor ?? nodeExecutor, threads: opts.threads ?? defaultThreads() };
}

export async function quantizeGgufFile(
  input: string,
  output: string,
  options: QuantizeOptions,
): Promise<QuantizeSummary & { outputs: string[] }> {
  const opts = withNodeExecutor(checkedOptions('quantizeGgufFile', options));
  // refused before the input is even parsed: every shard its name stands for, the imatrix, and
  // every --keep-split output (the shards found from the header are checked again once known)
  const extra = opts.imatrix?.provenance.file ? [opts.imatrix.provenance.file] : [];
  refuseOutputOverInputs(opts.keepSplit ? keepSplitPaths(output, ggufInputFiles(input).length) : [output], [
    ...ggufInputFiles(input),
    ...extra,
  ]);
  const { src, paths: shardPaths } = await openGgufInput(input);
  const paths = [...shardPaths, ...extra];
  try {
    if (!opts.keepSplit) {
      return {
        ...(await withAtomicOutput(output, (out) => quantizeGguf(src, out.sink, opts), { inputs: paths })),
        outputs: [output],
      };
    }
    const prep = await prepareQuantize(src, opts);
    const names = keepSplitPaths(output, outputShards(prep.file, prep.plan, opts).length);
    // every output is a temp file until all are written; then each is renamed into place
    const outs: AtomicOutput[] = [];
    try {
      for (const n of names) outs.push(await openAtomicOutput(n, { inputs: paths }));
      const summary = await quantizeGguf(
        src,
        outs.map((o) => o.sink),
        opts,
      );
      for (const o of outs) await o.commit();
      return { ...summary, outputs: names };
    } catch (e) {
      for (const o of outs) await o.abort();
      throw e;
    }
  } finally {
    await src.close();
  }
}

/** --dry-run: the plan only; reads nothing but the header. */
export async function planGgufFile(input: string, options: QuantizeOptions): Promise<QuantPlan> {
  const opts = checkedOptions('planGgufFile', options);
  const { src } = await openGgufInput(input);
  try {
    return (await prepareQuantize(src, opts)).plan;
  } finally {
    await src.close();
  }
}
