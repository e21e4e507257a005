// The activations' second moments per weight tensor, Σ x xᵀ over every input row a matrix
// multiplication saw (the "Hessian" of the layer's squared output error, H = 2 Σ x xᵀ up to the
// factor): what `--encoder gptq` needs to compensate one column's rounding error with the columns
// still to be rounded (src/formats/gptq.ts). An importance matrix is its diagonal. Engine-agnostic
// (an engine hands the same activations it hands the imatrix collector), browser-safe.
//
// Tensors fed the same activations (a layer's q, k and v; its FFN gate and up) share one matrix:
// the engine passes an identity for each input, and a tensor whose input is the one the previous
// tensor just saw becomes that tensor's alias instead of summing the same products again.
import { LowbitError } from '../errors.js';
import type { StridedView } from './collector.js';
import { syrkKernel } from './syrk.js';

export interface Hessian {
  /** row length of the weight (ne0): the matrix is d × d */
  readonly d: number;
  /** Σ x xᵀ, upper triangle filled (row i, columns j ≥ i), float64 */
  readonly sum: Float64Array;
  /** input rows summed */
  rows: number;
}

export interface HessianOptions {
  /** which weight tensors to collect (default: every one the imatrix collector collects) */
  include?: (name: string) => boolean;
  /** refuse to grow beyond this many bytes of matrices (default: no limit; gptqPassGroups keeps each pass within a budget) */
  maxBytes?: number;
  /** sum with the JavaScript loop even where the WebAssembly SIMD kernel runs (the same doubles; for tests) */
  scalar?: boolean;
}

/** Matrices above this size are summed in JavaScript (the kernel's memory holds one matrix and its rows). */
const SYRK_MAX_BYTES = 1 << 30;

/** A weight tensor the imatrix collector hands dense activations for: its name and row length. */
export interface DenseWeight {
  name: string;
  d: number;
}

/**
 * Layers grouped, in file order, so that each group's matrices (d × d float64 per tensor, counted
 * without the sharing of q/k/v and gate/up: an upper bound) fit in `budget` bytes; a layer larger
 * than the budget is a group of its own. One calibration pass per group keeps the memory bounded
 * whatever the model's depth. Tensors outside `blk.N.` go with the group of their neighbours.
 */
export function gptqPassGroups(weights: readonly DenseWeight[], budget: number): string[][] {
  const groups: string[][] = [];
  let cur: string[] = [];
  let curBytes = 0;
  let layer: string | null = null;
  let layerNames: string[] = [];
  let layerBytes = 0;
  const closeLayer = () => {
    if (!layerNames.length) return;
    if (cur.length && curBytes + layerBytes > budget) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(...layerNames);
    curBytes += layerBytes;
    layerNames = [];
    layerBytes = 0;
  };
  for (const w of weights) {
    const l: string | null = /^blk\.(\d+)\./.exec(w.name)?.[1] ?? layer;
    if (l !== layer) {
      closeLayer();
      layer = l;
    }
    layerNames.push(w.name);
    layerBytes += w.d * w.d * 8;
  }
  closeLayer();
  if (cur.length) groups.push(cur);
  return groups;
}

export class HessianAccumulator {
  private readonly own = new Map<string, Hessian>();
  /** alias → the tensor whose matrix it shares */
  private readonly alias = new Map<string, string>();
  private last: { name: string; key: unknown; rows: number } | null = null;
  private bytes = 0;
  private readonly maxBytes: number;
  private row = new Float64Array(0);

  constructor(private readonly opts: HessianOptions = {}) {
    this.maxBytes = opts.maxBytes ?? Infinity;
  }

  /** The matrix of a weight tensor (its own or the one it shares), or null when none was collected. */
  get(name: string): Hessian | null {
    return this.own.get(this.alias.get(name) ?? name) ?? null;
  }

  /** Names of every tensor with a matrix. */
  names(): string[] {
    return [...this.own.keys(), ...this.alias.keys()].sort();
  }

  /** Bytes the matrices take. */
  get byteSize(): number {
    return this.bytes;
  }

  /**
   * One multiplication's input rows `x` ([ne0, rows, ne2, ne3], row-contiguous) for weight `name`.
   * `inputKey` identifies the input tensor within the current computation (any value; undefined:
   * never shared).
   */
  add(name: string, x: StridedView<Float32Array>, inputKey?: unknown): void {
    if (this.opts.include && !this.opts.include(name)) return;
    const [d, ne1, ne2, ne3] = x.ne;
    const rows = ne1 * ne2 * ne3;
    const aliasOf = this.alias.get(name);
    if (aliasOf !== undefined) {
      // its input must still be the one the tensor it shares with just saw
      if (!this.last || this.last.name !== aliasOf || this.last.key !== inputKey || this.last.rows !== rows)
        throw new LowbitError(
          `${name}: its input is no longer the one ${aliasOf} just saw; the activations' matrices cannot be shared`,
        );
      return;
    }
    let h = this.own.get(name);
    if (!h) {
      const prev = this.last;
      if (
        prev &&
        inputKey !== undefined &&
        prev.key === inputKey &&
        prev.rows === rows &&
        this.own.get(prev.name)?.d === d
      ) {
        this.alias.set(name, prev.name);
        return;
      }
      const bytes = d * d * 8;
      if (this.bytes + bytes > this.maxBytes)
        throw new LowbitError(
          `the activations' correlation matrices need more than ${(this.maxBytes / 2 ** 30).toFixed(1)} GiB at ${name}: too large a model for --encoder gptq here`,
        );
      h = { d, sum: new Float64Array(d * d), rows: 0 };
      this.own.set(name, h);
      this.bytes += bytes;
    } else if (h.d !== d) {
      throw new LowbitError(`${name}: activations of ${d} columns, earlier ${h.d}`);
    }
    const k = this.opts.scalar || d * d * 8 > SYRK_MAX_BYTES ? null : syrkKernel();
    if (k) {
      // every row as float64, padded with zero rows to a multiple of four, summed in the kernel
      const n = Math.ceil(rows / 4) * 4;
      const r = this.rowScratch(n * d);
      gather(x, r);
      r.fill(0, rows * d, n * d);
      k.add(h.sum, d, r, n);
    } else {
      accumulate(h.sum, d, x, this.rowScratch(4 * d));
    }
    h.rows += rows;
    this.last = { name, key: inputKey, rows };
  }

  private rowScratch(n: number): Float64Array {
    if (this.row.length < n) this.row = new Float64Array(n);
    return this.row;
  }
}

/** Every row of x, contiguous, as float64. */
function gather(x: StridedView<Float32Array>, out: Float64Array): void {
  const [d, ne1, ne2, ne3] = x.ne;
  let o = 0;
  for (let i3 = 0; i3 < ne3; i3++)
    for (let i2 = 0; i2 < ne2; i2++)
      for (let i1 = 0; i1 < ne1; i1++) {
        const b = x.offset + i1 * x.nb[1] + i2 * x.nb[2] + i3 * x.nb[3];
        for (let j = 0; j < d; j++) out[o++] = x.data[b + j]!;
      }
}

/**
 * sum[i·d + j] += Σ_rows x_i x_j for j ≥ i, four rows at a time (a quarter of the passes over sum);
 * the reference the WebAssembly kernel (src/imatrix/syrk.ts) matches double for double.
 */
function accumulate(sum: Float64Array, d: number, x: StridedView<Float32Array>, r: Float64Array): void {
  const [, ne1, ne2, ne3] = x.ne;
  const data = x.data;
  const starts: number[] = [];
  for (let i3 = 0; i3 < ne3; i3++)
    for (let i2 = 0; i2 < ne2; i2++)
      for (let i1 = 0; i1 < ne1; i1++) starts.push(x.offset + i1 * x.nb[1] + i2 * x.nb[2] + i3 * x.nb[3]);
  for (let s = 0; s < starts.length; s += 4) {
    const m = Math.min(4, starts.length - s);
    for (let k = 0; k < 4; k++) {
      const o = k < m ? starts[s + k]! : -1;
      for (let j = 0; j < d; j++) r[k * d + j] = o < 0 ? 0 : data[o + j]!;
    }
    for (let i = 0; i < d; i++) {
      const a0 = r[i]!,
        a1 = r[d + i]!,
        a2 = r[2 * d + i]!,
        a3 = r[3 * d + i]!;
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const hi = i * d;
      for (let j = i; j < d; j++)
        sum[hi + j] = sum[hi + j]! + a0 * r[j]! + a1 * r[d + j]! + a2 * r[2 * d + j]! + a3 * r[3 * d + j]!;
    }
  }
}
