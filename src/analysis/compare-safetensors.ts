// Tensor-by-tensor comparison with safetensors checkpoints (A the reference), streamed in chunks
// of about a million values per side, in the same result shape as compareGguf (so the CLI's table
// and JSON are shared):
//  - safetensors vs safetensors: tensors matched by name, any float or integer dtype on each side.
//  - safetensors (a Hugging Face checkpoint) vs GGUF: names mapped through the converter's
//    HF → llama.cpp table, shapes reversed (ggml order), and for llama the Q/K rows permuted as the
//    converter permutes them, so a quantized GGUF is measured against its original checkpoint.
// Browser-safe.
import type { ByteSource } from '../io/source.js';
import type { SafetensorsSet } from '../io/safetensors/sharded.js';
import type { SafetensorsTensor } from '../io/safetensors/reader.js';
import { FLOAT_DECODABLE, SAFETENSORS_DTYPE_BITS, toFloat32 } from '../io/safetensors/dtypes.js';
import { readGgufHeader, readTensorRows, type GgufFile, type GgufTensorInfo } from '../io/gguf/reader.js';
import { metaInt, metaString } from '../io/gguf/metadata.js';
import { codecByTypeId } from '../formats/registry.js';
import { mapHfTensorName, permuteQK } from '../convert/hf/tensors.js';
import { ErrorAccumulator } from './error-stats.js';
import { bitsPerWeight, type CompareOptions, type GgufComparison, type TensorComparison } from './compare-gguf.js';

export interface NamedSet {
  /** shown as the file name */
  name: string;
  /** bytes on disk (all shards) */
  sizeBytes: number;
  set: SafetensorsSet;
}

const DEFAULT_CHUNK = 1 << 20;

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const dtypeBits = (t: SafetensorsTensor) => SAFETENSORS_DTYPE_BITS[t.dtype];

/** Values [first, first + n) of a safetensors tensor, as float32. */
async function readValues(set: SafetensorsSet, t: SafetensorsTensor, first: number, n: number): Promise<Float32Array> {
  const size = dtypeBits(t) / 8;
  return toFloat32(await set.readBytes(t.name, first * size, n * size), t.dtype);
}

function finish(
  a: { name: string; sizeBytes: number; tensorCount: number },
  b: { name: string; sizeBytes: number; tensorCount: number },
  tensors: TensorComparison[],
  total: ErrorAccumulator,
  onlyInA: string[],
  onlyInB: string[],
  skipped: { name: string; reason: string }[],
  worstCount = 10,
): GgufComparison {
  let bitsA = 0,
    bitsB = 0,
    elements = 0;
  for (const t of tensors) {
    const n = count(t.dims);
    bitsA += t.bitsPerWeightA * n;
    bitsB += t.bitsPerWeightB * n;
    elements += n;
  }
  const worst = [...tensors]
    .filter((t) => t.stats.sqnrDb !== Infinity)
    .sort((x, y) => x.stats.sqnrDb - y.stats.sqnrDb)
    .slice(0, worstCount);
  return {
    a,
    b,
    tensors,
    total: {
      ...total.result(),
      bitsPerWeightA: elements ? bitsA / elements : 0,
      bitsPerWeightB: elements ? bitsB / elements : 0,
      elements,
    },
    worst,
    onlyInA,
    onlyInB,
    skipped,
  };
}

export async function compareSafetensors(a: NamedSet, b: NamedSet, opts: CompareOptions = {}): Promise<GgufComparison> {
  const chunk = Math.max(1, opts.chunkElements ?? DEFAULT_CHUNK);
  const tensors: TensorComparison[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const total = new ErrorAccumulator();
  const pairs = a.set.tensors.filter((t) => b.set.has(t.name));
  let done = 0;
  for (const ta of pairs) {
    const tb = b.set.info(ta.name);
    opts.onProgress?.(done++, pairs.length, ta.name);
    if (ta.shape.join() !== tb.shape.join()) {
      skipped.push({ name: ta.name, reason: `shapes differ: [${ta.shape.join(', ')}] vs [${tb.shape.join(', ')}]` });
      continue;
    }
    const bad = [ta, tb].find((t) => !FLOAT_DECODABLE.has(t.dtype));
    if (bad) {
      skipped.push({ name: ta.name, reason: `no decoder for dtype ${bad.dtype}` });
      continue;
    }
    const acc = new ErrorAccumulator();
    const n = count(ta.shape);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      acc.add(await readValues(a.set, ta, i, m), await readValues(b.set, tb, i, m));
    }
    total.merge(acc);
    tensors.push({
      name: ta.name,
      dims: [...ta.shape],
      typeA: ta.dtype,
      typeB: tb.dtype,
      bitsPerWeightA: dtypeBits(ta),
      bitsPerWeightB: dtypeBits(tb),
      stats: acc.result(),
    });
  }
  opts.onProgress?.(pairs.length, pairs.length, '');
  const namesA = new Set(a.set.tensors.map((t) => t.name));
  return finish(
    { name: a.name, sizeBytes: a.sizeBytes, tensorCount: a.set.tensors.length },
    { name: b.name, sizeBytes: b.sizeBytes, tensorCount: b.set.tensors.length },
    tensors,
    total,
    a.set.tensors.filter((t) => !b.set.has(t.name)).map((t) => t.name),
    b.set.tensors.filter((t) => !namesA.has(t.name)).map((t) => t.name),
    skipped,
    opts.worstCount,
  );
}

/** Heads whose rows the converter permutes for this GGUF tensor (llama q/k), or 0. */
function permutedHeads(g: GgufFile, ggufName: string): number {
  const arch = metaString(g.metadata, 'general.architecture');
  if (arch !== 'llama') return 0;
  if (/\.attn_q\.(weight|bias)$/.test(ggufName)) return metaInt(g.metadata, 'llama.attention.head_count') ?? 0;
  if (/\.attn_k\.(weight|bias)$/.test(ggufName))
    return (
      metaInt(g.metadata, 'llama.attention.head_count_kv') ?? metaInt(g.metadata, 'llama.attention.head_count') ?? 0
    );
  return 0;
}

/**
 * A Hugging Face checkpoint (A) against a GGUF made from it (B). The rows compared are in GGUF
 * order: A's q/k rows go through the converter's permutation, a whole number of heads at a time.
 */
export async function compareSafetensorsGguf(
  a: NamedSet,
  srcB: ByteSource,
  opts: CompareOptions = {},
): Promise<GgufComparison> {
  const chunk = Math.max(1, opts.chunkElements ?? DEFAULT_CHUNK);
  const g = await readGgufHeader(srcB);
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const tensors: TensorComparison[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const onlyInA: string[] = [];
  const matched = new Set<string>();
  const total = new ErrorAccumulator();
  let done = 0;
  for (const ta of a.set.tensors) {
    opts.onProgress?.(done++, a.set.tensors.length, ta.name);
    const gname = mapHfTensorName(ta.name);
    const tb = gname ? byName.get(gname) : undefined;
    if (!gname || !tb) {
      onlyInA.push(ta.name);
      continue;
    }
    matched.add(tb.name);
    const label = `${ta.name} → ${tb.name}`;
    const why = incomparable(ta, tb, g, permutedHeads(g, tb.name));
    if (why) {
      skipped.push({ name: label, reason: why });
      continue;
    }
    const acc = new ErrorAccumulator();
    await forEachRowChunk(a.set, ta, srcB, g, tb, permutedHeads(g, tb.name), chunk, (x, y) => acc.add(x, y));
    total.merge(acc);
    tensors.push({
      name: label,
      dims: [...tb.dims],
      typeA: ta.dtype,
      typeB: codecByTypeId(tb.type.id)?.name ?? tb.type.ggmlName.toUpperCase(),
      bitsPerWeightA: dtypeBits(ta),
      bitsPerWeightB: bitsPerWeight(tb.type),
      stats: acc.result(),
    });
  }
  opts.onProgress?.(a.set.tensors.length, a.set.tensors.length, '');
  return finish(
    { name: a.name, sizeBytes: a.sizeBytes, tensorCount: a.set.tensors.length },
    { name: srcB.name, sizeBytes: srcB.size, tensorCount: g.tensors.length },
    tensors,
    total,
    onlyInA,
    g.tensors.filter((t) => !matched.has(t.name)).map((t) => t.name),
    skipped,
    opts.worstCount,
  );
}

function incomparable(ta: SafetensorsTensor, tb: GgufTensorInfo, g: GgufFile, heads: number): string | undefined {
  const want = [...ta.shape].reverse();
  const dims = [...tb.dims];
  while (dims.length > want.length && dims[dims.length - 1] === 1) dims.pop();
  if (want.join() !== dims.join())
    return `shapes differ: HF [${ta.shape.join(', ')}] is ggml [${want.join(', ')}], GGUF has [${tb.dims.join(', ')}]`;
  if (!FLOAT_DECODABLE.has(ta.dtype)) return `no decoder for dtype ${ta.dtype}`;
  if (!codecByTypeId(tb.type.id)) return `no dequantizer for type ${tb.type.ggmlName}`;
  const rows = ta.shape[0]!;
  if (heads && (rows % heads !== 0 || (rows / heads) % 2 !== 0))
    return `${rows} rows do not split into ${heads} heads of even size (${g.name})`;
  return undefined;
}

async function forEachRowChunk(
  set: SafetensorsSet,
  ta: SafetensorsTensor,
  srcB: ByteSource,
  g: GgufFile,
  tb: GgufTensorInfo,
  heads: number,
  chunk: number,
  visit: (a: Float32Array, b: Float32Array) => void,
): Promise<void> {
  const codec = codecByTypeId(tb.type.id)!;
  const rowLen = tb.rowLength;
  const vec = ta.shape.length === 1;
  const hd = heads ? ta.shape[0]! / heads : 0;
  // permuted matrices go by whole heads (the permutation stays inside a head); a vector is one row
  const unit = heads && !vec ? hd : 1;
  const rowsPer = Math.max(unit, Math.floor(chunk / Math.max(1, rowLen) / unit) * unit);
  const bufB = new Float32Array(Math.min(rowsPer, tb.nRows) * rowLen);
  for (let r = 0; r < tb.nRows; r += rowsPer) {
    const n = Math.min(rowsPer, tb.nRows - r);
    let x = await readValues(set, ta, r * rowLen, n * rowLen);
    if (heads) x = vec ? permuteQK(x, heads, ta.shape[0]!, 1) : permuteQK(x, n / hd, n, rowLen);
    const y = bufB.subarray(0, n * rowLen);
    codec.dequantize(await readTensorRows(srcB, g, tb, r, n), y, n * rowLen);
    visit(x, y);
  }
}
