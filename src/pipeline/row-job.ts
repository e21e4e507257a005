// One worker's share of a slab of rows: convert the source rows to float32, check them, quantize
// them with the registry codec, check the result. The same function runs inline (--threads 1) and
// in worker threads, over the same buffers, so output cannot depend on the thread count: every row
// is quantized on its own (ggml_quantize_chunk is row-independent), whoever does it.
import { codecByTypeId } from '../formats/registry.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { firstInvalid, firstNonFinite } from './validate.js';
import { FLOAT_TYPE_MAX, clampFinite } from '../formats/clamp.js';
import { scanFinite } from '../formats/wasm/kernels.js';
import type { FiniteScan } from '../formats/codec.js';
import { encoderQuantize, type EncoderName } from '../formats/encoder.js';
import { quantizeRowsGptq } from '../formats/gptq.js';

export interface RowJob {
  srcType: number;
  dstType: number;
  nPerRow: number;
  /** rows of the slab this job does: [rowStart, rowEnd), slab-relative */
  rowStart: number;
  rowEnd: number;
  /** the slab's first row within the tensor (for expert boundaries and error positions) */
  slabFirstRow: number;
  /** rows per expert matrix (ne[1]); the imatrix holds one nPerRow slice per expert */
  rowsPerExpert: number;
  /** reject NaN/Inf in the input */
  checkInput: boolean;
  /** --encoder best: lowbit's stronger search for the same format; gptq: GPTQ's compensation where the slab has its factor (default: ggml's own, byte-identical) */
  encoder?: EncoderName;
}

/** Buffers shared by all jobs of a slab (SharedArrayBuffer-backed when workers run). */
export interface SlabBuffers {
  /** raw source bytes of the slab's rows */
  src: Uint8Array;
  /** float32 scratch, nPerRow per row; null when the source is F32 (its rows are quantized in place) */
  f32: Float32Array | null;
  /** destination bytes of the slab's rows */
  dst: Uint8Array;
  /** nPerRow × experts importances, or null */
  imatrix: Float32Array | null;
  /** --encoder gptq: the tensor's U (nPerRow × nPerRow, src/formats/gptq.ts), or null/absent */
  gptqU?: Float64Array | null;
  /** with gptqU: each row's GPTQ loss is added here (one per slab row; the target search reads it) */
  gptqLoss?: Float64Array | null;
}

export type RowJobResult =
  /** clamped: finite values beyond the destination float type's range, set to its largest value */
  | { ok: true; clamped?: number }
  /** a non-finite input value at this element index within the tensor */
  | { ok: false; kind: 'input'; index: number }
  /** a quantized row whose scales are not finite (ggml_validate_row_data fails) */
  | { ok: false; kind: 'output'; row: number }
  | { ok: false; kind: 'error'; message: string };

export function runRowJob(job: RowJob, b: SlabBuffers): RowJobResult {
  const src = codecByTypeId(job.srcType);
  const dst = codecByTypeId(job.dstType);
  if (!src || !dst)
    return { ok: false, kind: 'error', message: `no codec for ggml type ${!src ? job.srcType : job.dstType}` };
  const n = job.nPerRow;
  const srcRowBytes = (n / src.type.blockSize) * src.type.typeSize;
  const dstRowBytes = (n / dst.type.blockSize) * dst.type.typeSize;
  const rows = job.rowEnd - job.rowStart;
  if (rows <= 0) return { ok: true };

  const srcBytes = b.src.subarray(job.rowStart * srcRowBytes, job.rowEnd * srcRowBytes);
  const isFloat = job.srcType === GGML_TYPE.F32 || job.srcType === GGML_TYPE.F16 || job.srcType === GGML_TYPE.BF16;
  if (job.checkInput && !isFloat) {
    // a quantized source (requantizing): its scales must be finite, as llama.cpp's loader checks
    for (let r = 0; r < rows; r++) {
      if (firstInvalid(job.srcType, srcBytes.subarray(r * srcRowBytes, (r + 1) * srcRowBytes)) >= 0) {
        return { ok: false, kind: 'input', index: (job.slabFirstRow + job.rowStart + r) * n };
      }
    }
  }
  // an F32 source is its own float32 rows (llama.cpp skips the conversion too): no copy
  let f32: Float32Array;
  if (job.srcType === GGML_TYPE.F32 && srcBytes.byteOffset % 4 === 0) {
    f32 = new Float32Array(srcBytes.buffer, srcBytes.byteOffset, rows * n);
  } else {
    if (!b.f32) return { ok: false, kind: 'error', message: 'no float32 scratch for a converted source' };
    f32 = b.f32.subarray(job.rowStart * n, job.rowEnd * n);
    src.dequantize(srcBytes, f32, rows * n);
  }
  // Finite values beyond F16's (BF16's) range: ggml's conversion makes them ±Inf and llama.cpp then
  // fails its own row validation. lowbit deliberately differs: clamped and counted (see formats/clamp.ts).
  const limit = FLOAT_TYPE_MAX[job.dstType];
  const clamped = limit === undefined ? 0 : clampFinite(f32, limit);

  // quantize in runs that stop at expert boundaries, each with its expert's importance slice
  const base = encoderQuantize(dst, job.encoder);
  const u = job.encoder === 'gptq' ? b.gptqU : null;
  // the slab row the run being quantized starts at (for the GPTQ loss output)
  let runRow = 0;
  const quantize: typeof base = u
    ? (x, out, nRows, nPerRow, im) =>
        quantizeRowsGptq(dst, null, x, out, nRows, nPerRow, im, u, b.gptqLoss?.subarray(runRow, runRow + nRows))
    : base;
  const quantizeRuns = (scan?: FiniteScan) => {
    for (let r = job.rowStart; r < job.rowEnd;) {
      const global = job.slabFirstRow + r;
      const expert = Math.floor(global / job.rowsPerExpert);
      const run = Math.min(job.rowEnd - r, job.rowsPerExpert - (global % job.rowsPerExpert));
      const im = b.imatrix ? b.imatrix.subarray(expert * n, (expert + 1) * n) : null;
      const fr = r - job.rowStart;
      runRow = r;
      quantize(
        f32.subarray(fr * n, (fr + run) * n),
        b.dst.subarray(r * dstRowBytes, (r + run) * dstRowBytes),
        run,
        n,
        im,
        scan,
      );
      r += run;
    }
  };
  if (job.checkInput && isFloat) {
    // NaN/Inf input: checked by the kernels as they read it (clamping keeps non-finite values
    // non-finite), else by a pass of its own; on a hit the output is discarded
    let nonfinite: boolean | null;
    try {
      nonfinite = scanFinite(f32, quantizeRuns);
    } catch (e) {
      // codecs refuse some non-finite rows themselves (where ggml aborts): the input error says more
      if (firstNonFinite(f32) < 0) throw e;
      nonfinite = true;
    }
    const i = nonfinite === false ? -1 : firstNonFinite(f32);
    if (i >= 0) return { ok: false, kind: 'input', index: (job.slabFirstRow + job.rowStart) * n + i };
  } else {
    quantizeRuns();
  }
  // one pass over the job's output; a failing block names its row. Float outputs are the values
  // themselves: with --allow-nonfinite (no input check) their NaN/Inf pass through as asked.
  const floatDst = job.dstType === GGML_TYPE.F32 || job.dstType === GGML_TYPE.F16 || job.dstType === GGML_TYPE.BF16;
  const bad =
    floatDst && !job.checkInput
      ? -1
      : firstInvalid(job.dstType, b.dst.subarray(job.rowStart * dstRowBytes, job.rowEnd * dstRowBytes));
  if (bad >= 0) {
    // bad counts values (float types, block size 1) or blocks
    return {
      ok: false,
      kind: 'output',
      row: job.slabFirstRow + job.rowStart + Math.floor(bad / (n / dst.type.blockSize)),
    };
  }
  return clamped ? { ok: true, clamped } : { ok: true };
}

/** One tensor's rows in a slab: its job description, row count, buffers and chunk size. */
export interface SlabPart {
  base: Omit<RowJob, 'rowStart' | 'rowEnd'>;
  nRows: number;
  chunkRows: number;
  buffers: SlabBuffers;
}

/** A slab shared with a worker: its parts and the counter its threads take chunk numbers from. */
export interface SlabMessage {
  parts: SlabPart[];
  counter: Int32Array;
}

/** What one thread did on a slab: its earliest failure (chunk index over all parts, part) and its clamped counts per part. */
export interface ChunksDone {
  failure: { chunk: number; part: number; result: RowJobResult } | null;
  clamped: number[];
}

/**
 * Runs chunks of a slab's parts (each part's rows in chunks of its chunkRows; chunks numbered over
 * all parts in order), taking the next chunk index from a shared counter until none is left: every
 * thread (the caller's and the workers') does this on the same slab, so a thread the OS leaves
 * unscheduled for a while holds up at most one chunk, not half the slab.
 */
export function runChunks(parts: readonly SlabPart[], counter: Int32Array): ChunksDone {
  const done: ChunksDone = { failure: null, clamped: parts.map(() => 0) };
  let part = 0;
  let first = 0; // index of the part's first chunk
  for (;;) {
    const c = Atomics.add(counter, 0, 1);
    // counter values only grow: the part of chunk c is this one or a later one
    let p = parts[part];
    while (p && c >= first + Math.ceil(p.nRows / p.chunkRows)) {
      first += Math.ceil(p.nRows / p.chunkRows);
      p = parts[++part];
    }
    if (!p) return done;
    const r0 = (c - first) * p.chunkRows;
    let result: RowJobResult;
    try {
      result = runRowJob({ ...p.base, rowStart: r0, rowEnd: Math.min(p.nRows, r0 + p.chunkRows) }, p.buffers);
    } catch (e) {
      result = { ok: false, kind: 'error', message: (e as Error)?.message ?? String(e) };
    }
    // a later failure of this thread is in a later chunk
    if (!result.ok) {
      if (!done.failure) done.failure = { chunk: c, part, result };
    } else if (result.clamped) done.clamped[part]! += result.clamped;
  }
}
