// Which scale each value of a tensor uses, as ONNX's QuantizeLinear defines it: per tensor one;
// per channel one per index of `axis`; per group blocks of `groupSize` consecutive indices along
// `axis`, one per block and per index of every other axis (scales shaped like x with dims[axis]
// replaced by ceil(dims[axis] / groupSize), row-major). Browser-safe.
import { LowbitError } from '../../errors.js';

export type Granularity = 'tensor' | 'channel' | 'group';

/** Where a quantized tensor's scales apply: the shape of the scales and the layout they follow. */
export interface ScaleLayout {
  /** shape of the scales (and zero points): [1] per tensor, [dims[axis]] per channel, dims with the axis in groups */
  scaleDims: number[];
  dims: number[];
  granularity: Granularity;
  axis: number;
  groupSize: number;
}

export interface GranularityOptions {
  granularity?: Granularity;
  /** row-major shape of x; default [x.length] */
  dims?: readonly number[];
  /** channel axis, or the axis groups run along; default 0 for 'channel', the last axis for 'group' */
  axis?: number;
  /** values per group along `axis` (granularity 'group') */
  groupSize?: number;
}

/** x viewed as [outer, D, inner] around `axis`, and the parameters' count and shape */
export interface ParamLayout {
  outer: number;
  D: number;
  inner: number;
  axis: number;
  groupSize: number;
  granularity: Granularity;
  dims: number[];
  scaleDims: number[];
  count: number;
}

export function paramLayout(n: number, opts: GranularityOptions): ParamLayout {
  const dims = [...(opts.dims ?? [n])];
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new LowbitError(`bad tensor shape [${dims.join(', ')}]`);
  if (dims.reduce((a, b) => a * b, 1) !== n)
    throw new LowbitError(`shape [${dims.join(', ')}] does not hold ${n} values`);
  const granularity = opts.granularity ?? 'tensor';
  if (granularity === 'tensor')
    return { outer: 1, D: 1, inner: n, axis: 0, groupSize: n, granularity, dims, scaleDims: [1], count: 1 };
  const rank = dims.length;
  let axis = opts.axis ?? (granularity === 'channel' ? 0 : rank - 1);
  if (axis < 0) axis += rank;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank)
    throw new LowbitError(`axis ${opts.axis} is outside a rank-${rank} tensor`);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const D = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (granularity === 'channel')
    return { outer, D, inner, axis, groupSize: 1, granularity, dims, scaleDims: [D], count: D };
  if (granularity !== 'group') throw new LowbitError(`unknown granularity "${String(granularity)}"`);
  const groupSize = opts.groupSize ?? 0;
  if (!Number.isInteger(groupSize) || groupSize < 1)
    throw new LowbitError(`group size must be a whole number ≥ 1, got ${opts.groupSize}`);
  const G = Math.ceil(D / groupSize);
  const scaleDims = dims.slice();
  scaleDims[axis] = G;
  return { outer, D, inner, axis, groupSize, granularity, dims, scaleDims, count: outer * G * inner };
}

/** Calls f(flat index, parameter index) for every value, in flat order. */
export function forEachParam(L: ParamLayout, f: (i: number, p: number) => void): void {
  if (L.granularity === 'tensor') {
    for (let i = 0; i < L.inner; i++) f(i, 0);
    return;
  }
  const G = L.granularity === 'group' ? Math.ceil(L.D / L.groupSize) : 0;
  let i = 0;
  for (let o = 0; o < L.outer; o++) {
    for (let c = 0; c < L.D; c++) {
      // per channel: the channel; per group: [o, block, inner] in the scales' row-major order
      const base = L.granularity === 'channel' ? c : (o * G + Math.floor(c / L.groupSize)) * L.inner;
      const step = L.granularity === 'channel' ? 0 : 1;
      for (let k = 0; k < L.inner; k++, i++) f(i, base + k * step);
    }
  }
}
