// Tensor-by-tensor comparison of two GGUF files (any ggml types: each side is dequantized with the
// registry's codecs, exactly as ggml's to_float does). Streams row chunks from both files, so memory
// stays bounded by the chunk size whatever the model size. Browser-safe: works over ByteSources.
import type { ByteSource } from '../io/source.js';
import { readGgufHeader, readTensorRows, type GgufFile, type GgufTensorInfo } from '../io/gguf/reader.js';
import { codecByTypeId } from '../formats/registry.js';
import { bestObjectiveWeights } from '../formats/encoder.js';
import type { GgmlTypeInfo } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import { ErrorAccumulator, type ErrorStats } from './error-stats.js';
import { Histogram, distinctValues, type HistogramData } from './histogram.js';

export interface TensorComparison {
  name: string;
  /** ggml order: dims[0] is the row length */
  dims: number[];
  typeA: string;
  typeB: string;
  bitsPerWeightA: number;
  bitsPerWeightB: number;
  /** B measured against A (A is the reference) */
  stats: ErrorStats;
  /**
   * B made with `--encoder best` (quantize.encoder) from a float A: the RMSE ggml's own encoder
   * gets at B's type on the same weights (no imatrix: plain squared error), to show what best saved
   */
  ggmlRmse?: number;
  /**
   * the share of weighted squared error --encoder best saved against ggml's own encoding, with
   * the weights best judges by (sqrt(σ² + x²) per row; no imatrix here)
   */
  bestSaved?: number;
}

export interface GgufComparison {
  a: { name: string; sizeBytes: number; tensorCount: number };
  b: { name: string; sizeBytes: number; tensorCount: number };
  tensors: TensorComparison[];
  /** all compared elements together, and weights-weighted average bits per weight of each side */
  total: ErrorStats & { bitsPerWeightA: number; bitsPerWeightB: number; elements: number };
  /** lowest SQNR first */
  worst: TensorComparison[];
  onlyInA: string[];
  onlyInB: string[];
  /** tensors present in both that could not be compared, with why */
  skipped: { name: string; reason: string }[];
}

export interface CompareOptions {
  /** floats per chunk read from each file (default 1M: a few MiB of memory) */
  chunkElements?: number;
  /** how many tensors the worst list holds */
  worstCount?: number;
  onProgress?: (done: number, total: number, tensor: string) => void;
}

export function bitsPerWeight(t: GgmlTypeInfo): number {
  return (t.typeSize * 8) / t.blockSize;
}

const isFloat = (id: number) => id === 0 || id === 1 || id === 30;

function typeLabel(t: GgmlTypeInfo): string {
  return codecByTypeId(t.id)?.name ?? t.ggmlName.toUpperCase();
}

/** Why a tensor pair cannot be compared, or undefined when it can. */
function incomparable(ta: GgufTensorInfo, tb: GgufTensorInfo): string | undefined {
  if (ta.dims.join() !== tb.dims.join()) return `shapes differ: [${ta.dims.join(', ')}] vs [${tb.dims.join(', ')}]`;
  for (const t of [ta, tb]) {
    if (!codecByTypeId(t.type.id)) return `no dequantizer for type ${t.type.ggmlName}`;
  }
  return undefined;
}

/** Dequantized rows [first, first + n) of a tensor. */
async function readFloatRows(
  src: ByteSource,
  file: GgufFile,
  t: GgufTensorInfo,
  first: number,
  n: number,
  out: Float32Array,
): Promise<Float32Array> {
  const bytes = await readTensorRows(src, file, t, first, n);
  const dst = out.subarray(0, n * t.rowLength);
  codecByTypeId(t.type.id)!.dequantize(bytes, dst, n * t.rowLength);
  return dst;
}

/** Streams one tensor pair through `visit(a, b)` in row chunks of about chunkElements floats. */
export async function forEachChunk(
  srcA: ByteSource,
  fa: GgufFile,
  ta: GgufTensorInfo,
  srcB: ByteSource,
  fb: GgufFile,
  tb: GgufTensorInfo,
  chunkElements: number,
  visit: (a: Float32Array, b: Float32Array) => void,
): Promise<void> {
  const rowsPer = Math.max(1, Math.floor(chunkElements / Math.max(1, ta.rowLength)));
  const cap = Math.min(rowsPer, ta.nRows) * ta.rowLength;
  const bufA = new Float32Array(cap),
    bufB = new Float32Array(cap);
  for (let r = 0; r < ta.nRows; r += rowsPer) {
    const n = Math.min(rowsPer, ta.nRows - r);
    visit(await readFloatRows(srcA, fa, ta, r, n, bufA), await readFloatRows(srcB, fb, tb, r, n, bufB));
  }
}

export async function compareGguf(
  srcA: ByteSource,
  srcB: ByteSource,
  opts: CompareOptions = {},
): Promise<GgufComparison> {
  const chunk = opts.chunkElements ?? 1 << 20;
  const [fa, fb] = [await readGgufHeader(srcA), await readGgufHeader(srcB)];
  const bestEncoded = fb.metadata.get('quantize.encoder')?.value === 'best';
  const byNameB = new Map(fb.tensors.map((t) => [t.name, t]));
  const namesA = new Set(fa.tensors.map((t) => t.name));
  const tensors: TensorComparison[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const total = new ErrorAccumulator();
  let bitsA = 0,
    bitsB = 0,
    elements = 0;
  const pairs = fa.tensors.filter((t) => byNameB.has(t.name));
  let done = 0;
  for (const ta of pairs) {
    const tb = byNameB.get(ta.name)!;
    opts.onProgress?.(done++, pairs.length, ta.name);
    const why = incomparable(ta, tb);
    if (why) {
      skipped.push({ name: ta.name, reason: why });
      continue;
    }
    const acc = new ErrorAccumulator();
    // --encoder best files: ggml's own encoding of A at B's type, for the error best saved
    const codecB = codecByTypeId(tb.type.id)!;
    const ggml =
      bestEncoded && isFloat(ta.type.id) && !isFloat(tb.type.id) && ta.rowLength % codecB.type.blockSize === 0
        ? new ErrorAccumulator()
        : null;
    let weB = 0,
      weG = 0;
    const wRow = new Float32Array(ta.rowLength);
    await forEachChunk(srcA, fa, ta, srcB, fb, tb, chunk, (a, b) => {
      acc.add(a, b);
      if (ggml) {
        const n = ta.rowLength;
        const q = new Uint8Array((a.length / codecB.type.blockSize) * codecB.type.typeSize);
        const y = new Float32Array(a.length);
        codecB.quantize(a, q, a.length / n, n, null);
        codecB.dequantize(q, y, a.length);
        ggml.add(a, y);
        for (let r = 0; r * n < a.length; r++) {
          bestObjectiveWeights(a.subarray(r * n, (r + 1) * n), null, wRow);
          for (let j = 0; j < n; j++) {
            const i = r * n + j;
            weB += wRow[j]! * (a[i]! - b[i]!) ** 2;
            weG += wRow[j]! * (a[i]! - y[i]!) ** 2;
          }
        }
      }
    });
    total.merge(acc);
    const bwA = bitsPerWeight(ta.type),
      bwB = bitsPerWeight(tb.type);
    bitsA += bwA * ta.nElements;
    bitsB += bwB * tb.nElements;
    elements += ta.nElements;
    tensors.push({
      name: ta.name,
      dims: [...ta.dims],
      typeA: typeLabel(ta.type),
      typeB: typeLabel(tb.type),
      bitsPerWeightA: bwA,
      bitsPerWeightB: bwB,
      stats: acc.result(),
      ...(ggml ? { ggmlRmse: ggml.result().rmse, bestSaved: weG > 0 ? 1 - weB / weG : 0 } : {}),
    });
  }
  opts.onProgress?.(pairs.length, pairs.length, '');
  const worst = [...tensors]
    .filter((t) => t.stats.sqnrDb !== Infinity)
    .sort((x, y) => x.stats.sqnrDb - y.stats.sqnrDb)
    .slice(0, opts.worstCount ?? 10);
  return {
    a: { name: srcA.name, sizeBytes: srcA.size, tensorCount: fa.tensors.length },
    b: { name: srcB.name, sizeBytes: srcB.size, tensorCount: fb.tensors.length },
    tensors,
    total: {
      ...total.result(),
      bitsPerWeightA: elements ? bitsA / elements : 0,
      bitsPerWeightB: elements ? bitsB / elements : 0,
      elements,
    },
    worst,
    onlyInA: fa.tensors.filter((t) => !byNameB.has(t.name)).map((t) => t.name),
    onlyInB: fb.tensors.filter((t) => !namesA.has(t.name)).map((t) => t.name),
    skipped,
  };
}

export interface WeightHistogram {
  tensor: string;
  typeA: string;
  typeB: string;
  /** original (A) and dequantized (B) weights over the same bins */
  a: HistogramData;
  b: HistogramData;
  /** the values one block of B decodes to (its first block with the widest range): the levels its codes land on */
  blockLevels: { value: number; count: number }[];
  blockIndex: number;
}

/**
 * Histograms of one tensor in both files on shared bins, plus the exact levels of one block of B.
 * Two passes over the tensor (range, then counts), still in bounded chunks.
 */
export async function weightHistogram(
  srcA: ByteSource,
  srcB: ByteSource,
  tensor: string,
  bins = 200,
  chunkElements = 1 << 20,
): Promise<WeightHistogram> {
  const [fa, fb] = [await readGgufHeader(srcA), await readGgufHeader(srcB)];
  const bestEncoded = fb.metadata.get('quantize.encoder')?.value === 'best';
  const ta = fa.tensors.find((t) => t.name === tensor),
    tb = fb.tensors.find((t) => t.name === tensor);
  if (!ta || !tb) throw new LowbitError(`tensor '${tensor}' is not in both files`);
  const why = incomparable(ta, tb);
  if (why) throw new LowbitError(`tensor '${tensor}': ${why}`);
  let lo = Infinity,
    hi = -Infinity;
  const block = tb.type.blockSize > 1 ? tb.type.blockSize : 32;
  let bestRange = -1,
    bestBlock = 0,
    bestLevels: { value: number; count: number }[] = [];
  let seen = 0;
  await forEachChunk(srcA, fa, ta, srcB, fb, tb, chunkElements, (a, b) => {
    for (const arr of [a, b])
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    for (let s = 0; s + block <= b.length; s += block) {
      let mn = Infinity,
        mx = -Infinity;
      for (let i = s; i < s + block; i++) {
        const v = b[i]!;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      if (mx - mn > bestRange) {
        bestRange = mx - mn;
        bestBlock = (seen + s) / block;
        bestLevels = distinctValues(b.subarray(s, s + block));
      }
    }
    seen += b.length;
  });
  if (!(lo <= hi) || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 0;
  }
  const ha = new Histogram(lo, hi, bins),
    hb = new Histogram(lo, hi, bins);
  await forEachChunk(srcA, fa, ta, srcB, fb, tb, chunkElements, (a, b) => {
    ha.add(a);
    hb.add(b);
  });
  return {
    tensor,
    typeA: typeLabel(ta.type),
    typeB: typeLabel(tb.type),
    a: ha.data(),
    b: hb.data(),
    blockLevels: bestLevels.sort((x, y) => x.value - y.value),
    blockIndex: bestBlock,
  };
}
