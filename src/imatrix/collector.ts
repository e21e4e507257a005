// The importance-matrix accumulator of llama.cpp's llama-imatrix (tools/imatrix/imatrix.cpp,
// IMatrixCollector::collect_imatrix), engine-agnostic: an engine hands it the input activations of
// each matrix multiplication (src1 of MUL_MAT / MUL_MAT_ID, as float32 with byte strides) and, for
// mixture-of-experts multiplications, the routing ids. Per weight tensor it keeps the per-column sum
// of squared activations (float32, added row by row in the order llama-imatrix adds them, so the
// sums are the same floats) and the count of rows (per expert for MoE tensors).
// Browser-safe: no Node imports.
import { LowbitError } from '../errors.js';
import { byteOrder } from '../io/imatrix.js';
import { sumSqKernel, type SumSqKernel } from './sumsq.js';
import type { HessianAccumulator } from './hessian.js';

export { byteOrder };

export interface ImatrixEntry {
  /** sums of squares: n_mat (or n_expert) rows of ne0 columns */
  values: Float32Array;
  /** rows seen, one per matrix / expert (a single count for dense tensors) */
  counts: number[];
}

/** A strided float32 or int32 tensor as an engine hands it over: flat data, ne[4], strides in elements. */
export interface StridedView<T extends Float32Array | Int32Array> {
  data: T;
  /** element offset of element [0,0,0,0] in `data` */
  offset: number;
  ne: readonly [number, number, number, number];
  /** strides in elements (the engine's byte strides / 4) */
  nb: readonly [number, number, number, number];
}

/** Thrown when an activation sum becomes NaN or infinite; the runner names the chunk. */
export class NonFiniteActivationError extends LowbitError {
  constructor(readonly tensor: string) {
    super(`non-finite activations in ${tensor}`, 'ENONFINITE');
  }
}

export interface ImatrixCollectorOptions {
  /** tokens per chunk (llama-imatrix: n_ctx / n_parallel) */
  chunkSize: number;
  /** also collect output.weight (--process-output) */
  processOutput?: boolean;
  /** add with the JavaScript loop even where the WebAssembly SIMD kernel runs (same sums; for tests) */
  scalar?: boolean;
  /** also sum each dense weight's Σ x xᵀ (--encoder gptq) */
  hessian?: HessianAccumulator;
}

export class ImatrixCollector {
  readonly stats = new Map<string, ImatrixEntry>();
  readonly chunkSize: number;
  readonly processOutput: boolean;
  /** datasets of merged files, then this run's (llama-imatrix's m_datasets + prompt_file) */
  readonly datasets: string[] = [];
  /** chunks seen, as llama-imatrix counts them: max over tensors of count / chunk size */
  lastChunk = 0;
  private readonly kernel: SumSqKernel | null;
  readonly hessian: HessianAccumulator | null;

  constructor(opts: ImatrixCollectorOptions) {
    if (!(opts.chunkSize > 0)) throw new LowbitError(`imatrix chunk size must be > 0 (got ${opts.chunkSize})`);
    this.chunkSize = opts.chunkSize;
    this.processOutput = !!opts.processOutput;
    this.kernel = opts.scalar ? null : sumSqKernel();
    this.hessian = opts.hessian ?? null;
  }

  /**
   * The ask phase: llama-imatrix wants every MUL_MAT_ID, and MUL_MAT whose weight is a model tensor
   * (`blk.*`, `output.weight` with --process-output) with at least 16 F32 input rows.
   */
  wants(op: 'mul_mat' | 'mul_mat_id', weightName: string, src1Rows: number, src1IsF32: boolean): boolean {
    if (op === 'mul_mat_id') return true;
    if (src1Rows < 16 || !src1IsF32) return false;
    return weightName.startsWith('blk.') || (this.processOutput && weightName === 'output.weight');
  }

  /**
   * MUL_MAT: `x` is src1 ([ne0, rows, ne2, ne3]); the weight has src0Ne2 × src0Ne3 matrices.
   * `inputKey` identifies the input tensor within the engine's current computation (tensors fed the
   * same input share one Σ x xᵀ when a HessianAccumulator is attached).
   */
  addDense(name: string, src0Ne2: number, src0Ne3: number, x: StridedView<Float32Array>, inputKey?: unknown): void {
    const [ne0, ne1, ne2, ne3] = x.ne;
    const [nb0, nb1, nb2, nb3] = x.nb;
    if (nb0 !== 1) throw new LowbitError(`${name}: activations are not contiguous in a row (stride ${nb0})`);
    const nMat = src0Ne2 * src0Ne3;
    if (this.hessian && nMat === 1) this.hessian.add(name, x, inputKey);
    let e = this.stats.get(name);
    if (e && e.counts.length > 1 && e.counts.every((c) => c === e!.counts[0])) e.counts.length = 1;
    if (!e) {
      e = { values: new Float32Array(ne0 * nMat), counts: [0] };
      this.stats.set(name, e);
    } else if (e.values.length !== ne0 * nMat) {
      throw new LowbitError(
        `inconsistent size for ${name} (${e.values.length} vs ${ne0 * nMat}): the matrices come from a different model`,
      );
    }
    const acc = e.values;
    const d = x.data;
    const fround = Math.fround;
    const kernel = this.kernel;
    for (let i3 = 0; i3 < ne3; i3++) {
      for (let i2 = 0; i2 < ne2; i2++) {
        const mat = (i3 % src0Ne3) * src0Ne2 + (i2 % src0Ne2);
        const a0 = mat * ne0;
        const b0 = x.offset + i2 * nb2 + i3 * nb3;
        if (kernel) {
          kernel.add(acc, a0, d, b0, ne0, ne1, nb1);
          continue;
        }
        for (let row = 0; row < ne1; row++) {
          const b = b0 + row * nb1;
          // float acc += float(x*x): x*x is exact in double, fround gives the float product, and
          // double rounding of a float + float sum is innocuous, so the stored float is C's
          for (let j = 0; j < ne0; j++) {
            const v = d[b + j]!;
            acc[a0 + j] = acc[a0 + j]! + fround(v * v);
          }
        }
      }
    }
    if (!allFinite(acc, 0, acc.length)) throw new NonFiniteActivationError(name);
    const add = (ne1 * ne2 * ne3) / nMat;
    for (let i = 0; i < e.counts.length; i++) {
      e.counts[i] = e.counts[i]! + add;
      this.noteCount(e.counts[i]!);
    }
  }

  /**
   * MUL_MAT_ID: `x` is src1 ([ne0, n_expert_used or 1, n_tokens]), `ids` the routing
   * ([n_expert_used, n_tokens], int32), nExperts the weight's ne[2].
   */
  addExperts(name: string, nExperts: number, x: StridedView<Float32Array>, ids: StridedView<Int32Array>): void {
    const [ne0, ne1, nTokens, ne3] = x.ne;
    if (x.nb[0] !== 1) throw new LowbitError(`${name}: activations are not contiguous in a row`);
    if (ne3 !== 1) throw new LowbitError(`${name}: activations have more than 3 dimensions`);
    if (ids.ne[1] !== nTokens) throw new LowbitError(`${name}: ${ids.ne[1]} routing rows for ${nTokens} tokens`);
    const nIds = ids.ne[0];
    let e = this.stats.get(name);
    if (e && e.counts.length === 1 && nExperts > 1) e.counts = new Array<number>(nExperts).fill(e.counts[0]!);
    if (!e) {
      e = { values: new Float32Array(ne0 * nExperts), counts: new Array<number>(nExperts).fill(0) };
      this.stats.set(name, e);
    } else if (e.values.length !== ne0 * nExperts) {
      throw new LowbitError(
        `inconsistent size for ${name} (${e.values.length} vs ${ne0 * nExperts}): the matrices come from a different model`,
      );
    } else if (e.counts.length !== nExperts) {
      throw new LowbitError(`inconsistent expert count for ${name} (${e.counts.length} vs ${nExperts})`);
    }
    const acc = e.values;
    const d = x.data;
    const fround = Math.fround;
    const touched = new Uint8Array(nExperts);
    for (let idx = 0; idx < nIds; idx++) {
      for (let row = 0; row < nTokens; row++) {
        const ex = ids.data[ids.offset + row * ids.nb[1] + idx * ids.nb[0]]!;
        if (!(ex >= 0 && ex < nExperts))
          throw new LowbitError(`${name}: expert id ${ex} out of range 0..${nExperts - 1}`);
        const i11 = idx % ne1;
        const b = x.offset + i11 * x.nb[1] + row * x.nb[2];
        const a0 = ex * ne0;
        e.counts[ex] = e.counts[ex]! + 1;
        touched[ex] = 1;
        for (let j = 0; j < ne0; j++) {
          const v = d[b + j]!;
          acc[a0 + j] = acc[a0 + j]! + fround(v * v);
        }
      }
    }
    for (let ex = 0; ex < nExperts; ex++)
      if (touched[ex] && !allFinite(acc, ex * ne0, (ex + 1) * ne0)) throw new NonFiniteActivationError(name);
    for (let ex = 0; ex < nExperts; ex++) this.noteCount(e.counts[ex]!);
  }

  private noteCount(count: number): void {
    const n = Math.floor(count / this.chunkSize);
    if (n > this.lastChunk) this.lastChunk = n;
  }

  /**
   * Adds a matrix read from a file (llama-imatrix's load_imatrix): GGUF sums and counts as they are;
   * legacy files' (sum/count)·ncall scaled back by the chunk size. Sizes must agree with what is
   * already here: the first tensor that differs is named.
   */
  merge(file: RawImatrix): void {
    for (const [name, entry] of file.entries) {
      let e = this.stats.get(name);
      if (file.legacy) {
        if (!e) {
          e = { values: new Float32Array(entry.sums.length), counts: [0] };
          this.stats.set(name, e);
        } else if (e.values.length !== entry.sums.length) {
          throw mismatch(name, entry.sums.length, e.values.length);
        }
        const cs = Math.fround(this.chunkSize);
        for (let j = 0; j < entry.sums.length; j++) e.values[j] = e.values[j]! + Math.fround(entry.sums[j]! * cs);
        for (let j = 0; j < e.counts.length; j++) e.counts[j] = e.counts[j]! + entry.counts[0]! * this.chunkSize;
      } else {
        const nval = entry.sums.length,
          ncounts = entry.counts.length;
        if (!e) {
          e = { values: new Float32Array(nval), counts: [] };
          this.stats.set(name, e);
        } else if (e.values.length !== nval) {
          throw mismatch(name, nval, e.values.length);
        }
        if (e.counts.length === 0) e.counts = new Array<number>(ncounts).fill(0);
        else if (e.counts.length === 1 && ncounts > 1) e.counts = new Array<number>(ncounts).fill(e.counts[0]!);
        else if (e.counts.length !== ncounts)
          throw new LowbitError(
            `cannot merge: ${name} has ${ncounts} expert counts here and ${e.counts.length} before: the matrices come from different models`,
          );
        for (let j = 0; j < nval; j++) e.values[j] = e.values[j]! + entry.sums[j]!;
        for (let j = 0; j < ncounts; j++) e.counts[j] = e.counts[j]! + entry.counts[j]!;
      }
    }
    this.datasets.push(...file.datasets);
    let max = 0;
    for (const e of this.stats.values()) for (const c of e.counts) if (c > max) max = c;
    this.lastChunk = Math.floor(max / this.chunkSize);
  }

  /** Entry names in llama-imatrix's save order (std::sort of std::string: bytewise). */
  sortedNames(): string[] {
    return [...this.stats.keys()].sort(byteOrder);
  }
}

function mismatch(name: string, a: number, b: number): LowbitError {
  return new LowbitError(
    `cannot merge: ${name} has ${a} values here and ${b} before: the matrices come from different models`,
  );
}

/** An imatrix file as stored: raw sums and counts (GGUF), or legacy (sum/count)·ncall with counts [ncall]. */
export interface RawImatrix {
  readonly legacy: boolean;
  readonly entries: Map<string, { sums: Float32Array; counts: number[] }>;
  readonly datasets: string[];
  readonly chunkCount: number;
  readonly chunkSize: number;
}

function allFinite(a: Float32Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    if (v - v !== 0) return false;
  }
  return true;
}
