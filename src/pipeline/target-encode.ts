// The target search's encoding step: a tensor's sampled rows quantized to every candidate type at
// once. On the run's executor (its worker threads) when it has more than one thread, else on the
// calling thread; either way each run of rows goes through the codec's own quantize with the
// importances of its expert, so the bytes (and every error computed from them) do not depend on
// the thread count, and equal quantizing the rows one by one (ggml's quantize is row-independent).
import { codecByTypeId } from '../formats/registry.js';
import { rowBytes } from '../formats/codec.js';
import { GGML_TYPE as T } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import type { RowExecutor } from './executor.js';
import type { SlabPart } from './row-job.js';
import { quantizeRowsGptq } from '../formats/gptq.js';

export interface SampledRows {
  /** the sampled rows as float32, n per row */
  w: Float32Array;
  n: number;
  /** the sampled rows' indexes in the tensor (ascending) */
  rows: readonly number[];
  rowsPerExpert: number;
  /** nPerRow × experts importances, or null */
  im: Float32Array | null;
}

const FLOAT_TYPES = new Set<number>([T.F32, T.F16, T.BF16]);

/** Runs of consecutive sampled rows in one expert: [first, end) sample indexes and the expert. */
function expertRuns(s: SampledRows): { first: number; end: number; expert: number }[] {
  const runs: { first: number; end: number; expert: number }[] = [];
  for (let i = 0; i < s.rows.length; i++) {
    const expert = Math.floor(s.rows[i]! / s.rowsPerExpert);
    const last = runs[runs.length - 1];
    if (last && last.expert === expert) last.end = i + 1;
    else runs.push({ first: i, end: i + 1, expert });
  }
  return runs;
}

/**
 * The sampled rows quantized to each type (types the registry has a codec for, whose block fits
 * the rows): type -> the rows' bytes, in sample order.
 */
export async function encodeSampled(
  s: SampledRows,
  types: readonly number[],
  executor?: RowExecutor,
): Promise<Map<number, Uint8Array>> {
  const { n } = s;
  const runs = expertRuns(s);
  const imOf = (expert: number) => (s.im ? s.im.subarray(expert * n, (expert + 1) * n) : null);
  const out = new Map<number, Uint8Array>();
  const pooled: number[] = [];
  const shared = !!executor && executor.threads > 1;
  for (const type of types) {
    const codec = codecByTypeId(type)!;
    // float outputs are clamped in place by the row job (cheap anyway): done here, on a copy-free path
    if (shared && !FLOAT_TYPES.has(type)) {
      pooled.push(type);
      continue;
    }
    const rb = rowBytes(codec, n);
    const q = new Uint8Array(s.rows.length * rb);
    for (const r of runs)
      codec.quantize(
        s.w.subarray(r.first * n, r.end * n),
        q.subarray(r.first * rb, r.end * rb),
        r.end - r.first,
        n,
        imOf(r.expert),
      );
    out.set(type, q);
  }
  if (!pooled.length) return out;
  const done = await encodeOnWorkers(s, runs, pooled, executor!, null);
  for (const [type, { q }] of done) out.set(type, q);
  return new Map(types.filter((t) => out.has(t)).map((t) => [t, out.get(t)!]));
}

/**
 * --encoder gptq: the sampled rows rounded by GPTQ with the tensor's factor u to each type (block
 * types with a codec), and each row's GPTQ loss: type -> bytes and losses, in sample order. On the
 * run's executor when it has more than one thread (rows are independent: the same bytes and losses
 * as on one).
 */
export async function encodeSampledGptq(
  s: SampledRows,
  types: readonly number[],
  u: Float64Array,
  executor?: RowExecutor,
): Promise<Map<number, { q: Uint8Array; loss: Float64Array }>> {
  const { n } = s;
  const runs = expertRuns(s);
  const imOf = (expert: number) => (s.im ? s.im.subarray(expert * n, (expert + 1) * n) : null);
  const out = new Map<number, { q: Uint8Array; loss: Float64Array }>();
  if (!executor || executor.threads <= 1) {
    for (const type of types) {
      const codec = codecByTypeId(type)!;
      const rb = rowBytes(codec, n);
      const q = new Uint8Array(s.rows.length * rb);
      const loss = new Float64Array(s.rows.length);
      for (const r of runs)
        quantizeRowsGptq(
          codec,
          null,
          s.w.subarray(r.first * n, r.end * n),
          q.subarray(r.first * rb, r.end * rb),
          r.end - r.first,
          n,
          imOf(r.expert),
          u,
          loss.subarray(r.first, r.end),
        );
      out.set(type, { q, loss });
    }
    return out;
  }
  const done = await encodeOnWorkers(s, runs, types, executor, u);
  for (const [type, { q, loss }] of done) out.set(type, { q, loss: loss! });
  return out;
}

/**
 * The sampled rows quantized to `types` on the executor's worker threads, one part per type and
 * expert run (its rows all take that expert's importances); with u, rounded by GPTQ with that
 * factor and each row's loss returned. The workers see shared memory only: the rows, importances
 * and factor are copied into it once.
 */
async function encodeOnWorkers(
  s: SampledRows,
  runs: readonly { first: number; end: number; expert: number }[],
  types: readonly number[],
  ex: RowExecutor,
  u: Float64Array | null,
): Promise<Map<number, { q: Uint8Array; loss: Float64Array | null }>> {
  const { n } = s;
  const w = new Float32Array(ex.alloc(s.w.byteLength));
  w.set(s.w);
  const imShared = s.im ? new Float32Array(ex.alloc(s.im.byteLength)) : null;
  if (imShared) imShared.set(s.im!);
  const uShared = u ? new Float64Array(ex.alloc(u.byteLength)) : null;
  if (uShared) uShared.set(u!);
  const out = new Map<number, { q: Uint8Array; loss: Float64Array | null }>();
  const parts: Omit<SlabPart, 'chunkRows'>[] = [];
  for (const type of types) {
    const rb = rowBytes(codecByTypeId(type)!, n);
    const q = new Uint8Array(ex.alloc(s.rows.length * rb));
    const loss = u ? new Float64Array(ex.alloc(s.rows.length * 8)) : null;
    out.set(type, { q, loss });
    for (const r of runs)
      parts.push({
        base: {
          srcType: T.F32,
          dstType: type,
          nPerRow: n,
          slabFirstRow: 0,
          rowsPerExpert: Number.MAX_SAFE_INTEGER,
          checkInput: false,
          ...(u ? { encoder: 'gptq' as const } : {}),
        },
        nRows: r.end - r.first,
        buffers: {
          src: new Uint8Array(w.buffer, r.first * n * 4, (r.end - r.first) * n * 4),
          f32: null,
          dst: q.subarray(r.first * rb, r.end * rb),
          imatrix: imShared ? imShared.subarray(r.expert * n, (r.expert + 1) * n) : null,
          ...(u ? { gptqU: uShared, gptqLoss: loss!.subarray(r.first, r.end) } : {}),
        },
      });
  }
  const res = await ex.runParts(parts);
  if (!res.ok) {
    const r = res.result;
    const why = r.ok
      ? ''
      : r.kind === 'error'
        ? r.message
        : r.kind === 'output'
          ? `a row's scales are not finite`
          : 'a non-finite value';
    throw new LowbitError(`target search: ${u ? 'GPTQ-encoding' : 'quantizing'} sampled rows failed: ${why}`);
  }
  return out;
}
