// Initializer-by-initializer comparison of two ONNX models (A the reference). Float initializers
// (FLOAT, FLOAT16, BFLOAT16, DOUBLE) compare directly; a weight W that B holds quantized is found by
// ONNX Runtime's and lowbit's naming and dequantized:
//   W_quantized + W_scale [+ W_zero_point]   (int8/uint8, per tensor or per channel:
//                                             q - zp) · scale, the channel axis from the consumer:
//                                             DequantizeLinear's axis, 0 for Conv, last for MatMul)
//   W_quantized (INT4/UINT4) + W_scale [+ W_zero_point]
//                                            (QDQ block-wise int4: DequantizeLinear with block_size)
//   W_Q4 + W_scales [+ W_zero_points]        (MatMulNBits 4-bit blocks along K, or
//                                             GatherBlockQuantized 4-bit blocks along a table's rows)
//   W_Bnb4 + W_absmax                        (MatMulBnb4 NF4 blocks along K of the transposed weight)
//   W_bias, W_reshaped, W_beta               (biases the rewrites moved: Gemm's into MatMulNBits,
//                                             Conv's reshaped to [1, M, 1, 1], Gemm's times beta)
// Browser-safe. Whole models are decoded in memory (protobuf); external data through `open`.
import type { ByteSource } from '../io/source.js';
import { readModel, loadExternalData } from '../io/onnx/model.js';
import { DT, dtName, elemBits, numElements, tensorToFloat32, tensorToInts } from '../io/onnx/tensor.js';
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { dequantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { dequantizeNf4 } from '../formats/scalar/nf4.js';
import { ErrorAccumulator } from './error-stats.js';
import type { GgufComparison, TensorComparison } from './compare-gguf.js';

const FLOATS = new Set<number>([DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.DOUBLE]);

export interface OnnxCompareOptions {
  /** resolvers for external data files of A and B (by location); without them external tensors fail */
  openExternalA?: (location: string) => Promise<ByteSource>;
  openExternalB?: (location: string) => Promise<ByteSource>;
  worstCount?: number;
}

interface Resolved {
  values: Float32Array;
  type: string;
  bits: number;
}

/** The main graph's constants: initializers, and Constant nodes' tensors (which lowbit's quantizer turns into initializers) */
function inits(m: ModelProto): Map<string, TensorProto> {
  const out = new Map((m.graph?.initializer ?? []).map((t) => [t.name, t]));
  for (const n of m.graph?.node ?? []) {
    const a = n.attribute[0];
    if (
      n.opType === 'Constant' &&
      !n.domain &&
      n.attribute.length === 1 &&
      a?.name === 'value' &&
      a.t &&
      n.output[0] &&
      !out.has(n.output[0])
    )
      out.set(n.output[0], a.t);
  }
  return out;
}

/** The first node reading `name`, in the main graph or any subgraph. */
function consumer(m: ModelProto, name: string): NodeProto | undefined {
  const find = (nodes: NodeProto[]): NodeProto | undefined => {
    for (const n of nodes) {
      if (n.input.includes(name)) return n;
      for (const a of n.attribute) {
        const hit = (a.g && find(a.g.node)) || a.graphs.map((g) => find(g.node)).find((x) => x);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  return find(m.graph?.node ?? []);
}

/** Suffixes of B's initializers that stand for A's weight W (see the header). */
const SUFFIXES = [
  '',
  '_quantized',
  '_scale',
  '_zero_point',
  '_Q4',
  '_scales',
  '_zero_points',
  '_Bnb4',
  '_absmax',
  '_bias',
  '_reshaped',
  '_beta',
];

/** INT4/UINT4 values, two per byte, low nibble first */
function unpack4(t: TensorProto, n: number): Int8Array {
  const raw = t.rawData;
  const out = new Int8Array(n);
  const signed = t.dataType === DT.INT4;
  for (let i = 0; i < n; i++) {
    const v = (raw[i >> 1]! >> ((i & 1) * 4)) & 15;
    out[i] = signed && v >= 8 ? v - 16 : v;
  }
  return out;
}

/** QDQ block-wise int4: [K, N] codes, [blocks, N] scales (and zero points) down axis 0 in blocks of block_size. */
function dequantizeQdq4(
  b: ModelProto,
  q: TensorProto,
  s: TensorProto,
  zt: TensorProto | undefined,
  dims: number[],
): Resolved | string {
  const node = consumer(b, q.name);
  if (node?.opType !== 'DequantizeLinear' || dims.length !== 2)
    return `a ${dtName(q.dataType)} weight without its DequantizeLinear`;
  const bs = intAttr(node, 'block_size', 0),
    axis = intAttr(node, 'axis', 1);
  const [K, N] = dims as [number, number];
  const blocks = bs ? Math.ceil(K / bs) : 0;
  const sv = tensorToFloat32(s);
  if (!bs || axis !== 0 || sv.length !== blocks * N)
    return `DequantizeLinear of ${dtName(q.dataType)} (axis ${axis}, block_size ${bs}) does not match [${K}, ${N}]`;
  if (q.rawData.length * 2 < K * N)
    return `${dtName(q.dataType)} data too short (external or typed fields are not read)`;
  const qv = unpack4(q, K * N),
    zv = zt ? unpack4(zt, blocks * N) : undefined;
  const out = new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    const bi = Math.floor(k / bs);
    for (let c = 0; c < N; c++)
      out[k * N + c] = Math.fround((qv[k * N + c]! - (zv ? zv[bi * N + c]! : 0)) * sv[bi * N + c]!);
  }
  const bits = (K * N * 4 + sv.length * elemBits(s.dataType) + (zt ? blocks * N * 4 : 0)) / (K * N);
  return { values: out, type: `${dtName(q.dataType)} block ${bs} (DequantizeLinear)`, bits };
}

function intAttr(n: NodeProto, name: string, dflt: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : dflt;
}

/** [rows, cols] row-major → [cols, rows] */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]!;
  return out;
}

/** B's version of A's float weight `name` with A's dims, or a reason it has none comparable. */
function resolveB(
  b: ModelProto,
  binits: Map<string, TensorProto>,
  name: string,
  dims: number[],
  transBInA = false,
): Resolved | string | undefined {
  const n = dims.reduce((x, y) => x * y, 1);
  const direct = binits.get(name);
  if (direct && FLOATS.has(direct.dataType)) {
    if (direct.dims.map(Number).join() !== dims.join())
      return `shapes differ: [${dims.join(', ')}] vs [${direct.dims.join(', ')}]`;
    return { values: tensorToFloat32(direct), type: dtName(direct.dataType), bits: elemBits(direct.dataType) };
  }
  const q = binits.get(`${name}_quantized`),
    s = binits.get(`${name}_scale`);
  if (q && s) {
    // a Gemm weight with transB=1 is quantized transposed, as the [K, N] B of MatMulInteger
    const qd = q.dims.map(Number);
    if (qd.join() !== dims.join()) {
      if (dims.length === 2 && qd.join() === [dims[1], dims[0]].join()) {
        const r = resolveB(b, binits, name, qd);
        return typeof r === 'object'
          ? { ...r, values: transpose(r.values, qd[0]!, qd[1]!), type: `${r.type}, transposed` }
          : r;
      }
      return `quantized shape [${q.dims.join(', ')}] differs from [${dims.join(', ')}]`;
    }
    if (q.dataType === DT.INT4 || q.dataType === DT.UINT4)
      return dequantizeQdq4(b, q, s, binits.get(`${name}_zero_point`), dims);
    if (q.dataType !== DT.INT8 && q.dataType !== DT.UINT8)
      return `quantized as ${dtName(q.dataType)}: only INT8/UINT8/INT4/UINT4 are dequantized`;
    const qv = tensorToInts(q),
      sv = tensorToFloat32(s);
    const zt = binits.get(`${name}_zero_point`);
    const zv = zt ? tensorToInts(zt) : new Array<number>(sv.length).fill(0);
    let axis = -1;
    if (sv.length !== 1) {
      const c = consumer(b, q.name);
      axis =
        c?.opType === 'DequantizeLinear' ? intAttr(c, 'axis', 1) : c && /^Conv/.test(c.opType) ? 0 : dims.length - 1;
      if (axis < 0) axis += dims.length;
      if (dims[axis] !== sv.length || zv.length !== sv.length)
        return `${sv.length} scales do not fit axis ${axis} of [${dims.join(', ')}]`;
    }
    const inner = axis < 0 ? 1 : dims.slice(axis + 1).reduce((x, y) => x * y, 1);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = axis < 0 ? 0 : Math.floor(i / inner) % sv.length;
      out[i] = Math.fround((qv[i]! - zv[c]!) * sv[c]!);
    }
    const extra = sv.length * elemBits(s.dataType) + (zt ? zv.length * elemBits(zt.dataType) : 0);
    return {
      values: out,
      type: `${dtName(q.dataType)} ${axis < 0 ? 'per-tensor' : `per-channel (axis ${axis})`}`,
      bits: 8 + extra / n,
    };
  }
  const q4 = binits.get(`${name}_Q4`),
    s4 = binits.get(`${name}_scales`);
  if (q4 && s4) {
    const node = consumer(b, q4.name);
    if (node?.opType === 'GatherBlockQuantized')
      return dequantizeGather(node, q4, s4, binits.get(`${name}_zero_points`), dims);
    if (!node || node.opType !== 'MatMulNBits' || dims.length !== 2)
      return 'a 4-bit weight without its MatMulNBits node';
    const [K, N] = dims as [number, number];
    if (intAttr(node, 'K', -1) === N && intAttr(node, 'N', -1) === K && K !== N) {
      // from a Gemm with transB=1: B was [N, K]
      const r = resolveB(b, binits, name, [N, K]);
      return typeof r === 'object' ? { ...r, values: transpose(r.values, N, K), type: `${r.type}, transposed` } : r;
    }
    const bs = intAttr(node, 'block_size', 0),
      bitsAttr = intAttr(node, 'bits', 4);
    if (bitsAttr !== 4 || !bs || intAttr(node, 'K', -1) !== K || intAttr(node, 'N', -1) !== N)
      return `MatMulNBits attributes (bits ${bitsAttr}, K, N, block_size) do not match [${K}, ${N}]`;
    const blocks = Math.ceil(K / bs);
    const data = q4.rawData.length ? q4.rawData : new Uint8Array(0);
    const zt = binits.get(`${name}_zero_points`);
    const scales = tensorToFloat32(s4);
    if (data.length !== N * blocks * (bs / 2) || scales.length !== N * blocks)
      return 'MatMulNBits data sizes do not match its attributes';
    const zp = zt ? Uint8Array.from(tensorToInts(zt)) : undefined;
    if (zp && zp.length !== N * Math.ceil(blocks / 2)) return 'MatMulNBits zero points do not match its attributes';
    const values = dequantizeBlockwise4({ data, scales, zeroPoints: zp, blocks }, K, N, bs);
    const bits = data.length * 8 + scales.length * elemBits(s4.dataType) + (zp?.length ?? 0) * 8;
    return { values, type: `MatMulNBits 4-bit, block ${bs}${zp ? ', asymmetric' : ''}`, bits: bits / n };
  }
  const nf = binits.get(`${name}_Bnb4`),
    absmax = binits.get(`${name}_absmax`);
  if (nf && absmax) return dequantizeBnb4(b, nf, absmax, dims, transBInA);
  // a bias a rewrite moved under a new name, same values (or times Gemm's beta)
  for (const suffix of ['_bias', '_reshaped', '_beta']) {
    const t = binits.get(name + suffix);
    if (t && FLOATS.has(t.dataType) && numElements(t.dims) === n)
      return {
        values: tensorToFloat32(t),
        type: `${dtName(t.dataType)} (as ${name}${suffix})`,
        bits: elemBits(t.dataType),
      };
  }
  return direct ? `B holds it as ${dtName(direct.dataType)} with no scale to dequantize it` : undefined;
}

/** GatherBlockQuantized: a [V, H] table in 4-bit blocks along H (blockwise4 of the transposed table). */
function dequantizeGather(
  node: NodeProto,
  q: TensorProto,
  s: TensorProto,
  zt: TensorProto | undefined,
  dims: number[],
): Resolved | string {
  const bs = intAttr(node, 'block_size', 0),
    bitsAttr = intAttr(node, 'bits', 4);
  if (
    dims.length !== 2 ||
    bitsAttr !== 4 ||
    !bs ||
    intAttr(node, 'quantize_axis', 1) !== 1 ||
    intAttr(node, 'gather_axis', 0) !== 0
  ) {
    return `GatherBlockQuantized (bits ${bitsAttr}, block_size ${bs}) on [${dims.join(', ')}] is not a 4-bit row-blocked table`;
  }
  const [V, H] = dims as [number, number];
  const blocks = Math.ceil(H / bs);
  const scales = tensorToFloat32(s);
  const zp = zt ? Uint8Array.from(tensorToInts(zt)) : undefined;
  if (
    q.rawData.length !== V * blocks * (bs / 2) ||
    scales.length !== V * blocks ||
    (zp && zp.length !== V * Math.ceil(blocks / 2))
  )
    return 'GatherBlockQuantized data sizes do not match its attributes';
  const values = transpose(dequantizeBlockwise4({ data: q.rawData, scales, zeroPoints: zp, blocks }, H, V, bs), H, V);
  const bits = q.rawData.length * 8 + scales.length * elemBits(s.dataType) + (zp?.length ?? 0) * 8;
  return { values, type: `GatherBlockQuantized 4-bit, block ${bs}`, bits: bits / (V * H) };
}

/**
 * MatMulBnb4: NF4 codes of the transposed [N, K] weight in blocks of block_size. A's [K, N] MatMul
 * weight is transposed back; a Gemm weight with transB (already [N, K]) is not.
 */
function dequantizeBnb4(
  b: ModelProto,
  q: TensorProto,
  absmax: TensorProto,
  dims: number[],
  transBInA: boolean,
): Resolved | string {
  const node = consumer(b, q.name);
  if (node?.opType !== 'MatMulBnb4' || dims.length !== 2) return 'an NF4 weight without its MatMulBnb4 node';
  const K = intAttr(node, 'K', -1),
    N = intAttr(node, 'N', -1),
    bs = intAttr(node, 'block_size', 0),
    qt = intAttr(node, 'quant_type', 1);
  if (qt !== 1) return `MatMulBnb4 quant_type ${qt} (FP4) is not decoded: only NF4`;
  const asIs = transBInA ? dims[0] === N && dims[1] === K : false;
  if (!bs || (!asIs && (dims[0] !== K || dims[1] !== N)))
    return `MatMulBnb4 attributes (K ${K}, N ${N}) do not match [${dims.join(', ')}]`;
  const am = tensorToFloat32(absmax);
  if (q.rawData.length !== Math.ceil((K * N) / 2) || am.length !== Math.ceil((K * N) / bs))
    return 'MatMulBnb4 data sizes do not match its attributes';
  const nk = dequantizeNf4({ data: q.rawData, absmax: am }, K * N, bs);
  const bits = q.rawData.length * 8 + am.length * elemBits(absmax.dataType);
  return { values: asIs ? nk : transpose(nk, N, K), type: `MatMulBnb4 NF4, block ${bs}`, bits: bits / (K * N) };
}

/** Whether A reads `name` as the B of a Gemm with transB=1 (stored [N, K]). */
function gemmTransB(a: ModelProto, name: string): boolean {
  const n = consumer(a, name);
  return n?.opType === 'Gemm' && n.input[1] === name && intAttr(n, 'transB', 0) === 1;
}

export async function compareOnnx(
  srcA: ByteSource,
  srcB: ByteSource,
  opts: OnnxCompareOptions = {},
): Promise<GgufComparison> {
  const [a, b] = [await readModel(srcA), await readModel(srcB)];
  if (opts.openExternalA) await loadExternalData(a, opts.openExternalA, srcA.name);
  if (opts.openExternalB) await loadExternalData(b, opts.openExternalB, srcB.name);
  const ainits = inits(a),
    binits = inits(b);
  const tensors: TensorComparison[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const onlyInA: string[] = [];
  const used = new Set<string>();
  const total = new ErrorAccumulator();
  let bitsA = 0,
    bitsB = 0,
    elements = 0;
  for (const [name, t] of ainits) {
    if (!FLOATS.has(t.dataType)) {
      if (binits.has(name)) used.add(name);
      continue;
    }
    const dims = t.dims.map(Number);
    numElements(dims);
    const r = resolveB(b, binits, name, dims, gemmTransB(a, name));
    if (r === undefined) {
      onlyInA.push(name);
      continue;
    }
    for (const suffix of SUFFIXES) if (binits.has(name + suffix)) used.add(name + suffix);
    if (typeof r === 'string') {
      skipped.push({ name, reason: r });
      continue;
    }
    const acc = new ErrorAccumulator();
    acc.add(tensorToFloat32(t), r.values);
    total.merge(acc);
    const n = r.values.length,
      bw = elemBits(t.dataType);
    bitsA += bw * n;
    bitsB += r.bits * n;
    elements += n;
    tensors.push({
      name,
      dims,
      typeA: dtName(t.dataType),
      typeB: r.type,
      bitsPerWeightA: bw,
      bitsPerWeightB: r.bits,
      stats: acc.result(),
    });
  }
  const worst = [...tensors]
    .filter((t) => t.stats.sqnrDb !== Infinity)
    .sort((x, y) => x.stats.sqnrDb - y.stats.sqnrDb)
    .slice(0, opts.worstCount ?? 10);
  return {
    a: { name: srcA.name, sizeBytes: srcA.size, tensorCount: ainits.size },
    b: { name: srcB.name, sizeBytes: srcB.size, tensorCount: binits.size },
    tensors,
    total: {
      ...total.result(),
      bitsPerWeightA: elements ? bitsA / elements : 0,
      bitsPerWeightB: elements ? bitsB / elements : 0,
      elements,
    },
    worst,
    onlyInA,
    onlyInB: [...binits.keys()].filter((k) => !used.has(k) && !ainits.has(k)),
    skipped,
  };
}
