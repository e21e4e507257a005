// Initializer-by-initializer comparison of two ONNX models (A the reference). Float initializers
// (FLOAT, FLOAT16, BFLOAT16, DOUBLE) compare directly; a weight W that B holds quantized is found by
// ONNX Runtime's and lowbit's naming and dequantized:
//   W_quantized + W_scale [+ W_zero_point]   (int8/uint8, per tensor or per channel:
//                                             q - zp) · scale, the channel axis from the consumer:
//                                             DequantizeLinear's axis, 0 for Conv, last for MatMul)
//   W_Q4 + W_scales [+ W_zero_points]        (MatMulNBits 4-bit blocks along K)
// Browser-safe. Whole models are decoded in memory (protobuf); external data through `open`.
import type { ByteSource } from '../io/source.js';
import { readModel, loadExternalData } from '../io/onnx/model.js';
import { DT, dtName, elemBits, numElements, tensorToFloat32, tensorToInts } from '../io/onnx/tensor.js';
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { dequantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { ErrorAccumulator } from './error-stats.js';
import type { GgufComparison, TensorComparison } from './compare-gguf.js';

const FLOATS = new Set<number>([DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.DOUBLE]);

export interface OnnxCompareOptions {
  /** resolvers for external data files of A and B (by location); without them external tensors fail */
  openExternalA?: (location: string) => Promise<ByteSource>;
  openExternalB?: (location: string) => Promise<ByteSource>;
  worstCount?: number;
}

interface Resolved { values: Float32Array; type: string; bits: number }

function inits(m: ModelProto): Map<string, TensorProto> {
  return new Map((m.graph?.initializer ?? []).map((t) => [t.name, t]));
}

function consumer(m: ModelProto, name: string): NodeProto | undefined {
  return m.graph?.node.find((n) => n.input.includes(name));
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
function resolveB(b: ModelProto, binits: Map<string, TensorProto>, name: string, dims: number[]): Resolved | string | undefined {
  const n = dims.reduce((x, y) => x * y, 1);
  const direct = binits.get(name);
  if (direct && FLOATS.has(direct.dataType)) {
    if (direct.dims.map(Number).join() !== dims.join()) return `shapes differ: [${dims.join(', ')}] vs [${direct.dims.join(', ')}]`;
    return { values: tensorToFloat32(direct), type: dtName(direct.dataType), bits: elemBits(direct.dataType) };
  }
  const q = binits.get(`${name}_quantized`), s = binits.get(`${name}_scale`);
  if (q && s) {
    // a Gemm weight with transB=1 is quantized transposed, as the [K, N] B of MatMulInteger
    const qd = q.dims.map(Number);
    if (qd.join() !== dims.join()) {
      if (dims.length === 2 && qd.join() === [dims[1], dims[0]].join()) {
        const r = resolveB(b, binits, name, qd);
        return typeof r === 'object' ? { ...r, values: transpose(r.values, qd[0]!, qd[1]!), type: `${r.type}, transposed` } : r;
      }
      return `quantized shape [${q.dims.join(', ')}] differs from [${dims.join(', ')}]`;
    }
    if (q.dataType !== DT.INT8 && q.dataType !== DT.UINT8) return `quantized as ${dtName(q.dataType)}: only INT8/UINT8 are dequantized`;
    const qv = tensorToInts(q), sv = tensorToFloat32(s);
    const zt = binits.get(`${name}_zero_point`);
    const zv = zt ? tensorToInts(zt) : new Array<number>(sv.length).fill(0);
    let axis = -1;
    if (sv.length !== 1) {
      const c = consumer(b, q.name);
      axis = c?.opType === 'DequantizeLinear' ? intAttr(c, 'axis', 1) : c && /^Conv/.test(c.opType) ? 0 : dims.length - 1;
      if (axis < 0) axis += dims.length;
      if (dims[axis] !== sv.length || zv.length !== sv.length) return `${sv.length} scales do not fit axis ${axis} of [${dims.join(', ')}]`;
    }
    const inner = axis < 0 ? 1 : dims.slice(axis + 1).reduce((x, y) => x * y, 1);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = axis < 0 ? 0 : Math.floor(i / inner) % sv.length;
      out[i] = Math.fround((qv[i]! - zv[c]!) * sv[c]!);
    }
    const extra = sv.length * 32 + (zt ? zv.length * elemBits(zt.dataType) : 0);
    return { values: out, type: `${dtName(q.dataType)} ${axis < 0 ? 'per-tensor' : `per-channel (axis ${axis})`}`, bits: 8 + extra / n };
  }
  const q4 = binits.get(`${name}_Q4`), s4 = binits.get(`${name}_scales`);
  if (q4 && s4) {
    const node = consumer(b, q4.name);
    if (!node || node.opType !== 'MatMulNBits' || dims.length !== 2) return 'a 4-bit weight without its MatMulNBits node';
    const [K, N] = dims as [number, number];
    if (intAttr(node, 'K', -1) === N && intAttr(node, 'N', -1) === K && K !== N) {
      // from a Gemm with transB=1: B was [N, K]
      const r = resolveB(b, binits, name, [N, K]);
      return typeof r === 'object' ? { ...r, values: transpose(r.values, N, K), type: `${r.type}, transposed` } : r;
    }
    const bs = intAttr(node, 'block_size', 0), bitsAttr = intAttr(node, 'bits', 4);
    if (bitsAttr !== 4 || !bs || intAttr(node, 'K', -1) !== K || intAttr(node, 'N', -1) !== N) return `MatMulNBits attributes (bits ${bitsAttr}, K, N, block_size) do not match [${K}, ${N}]`;
    const blocks = Math.ceil(K / bs);
    const data = q4.rawData.length ? q4.rawData : new Uint8Array(0);
    const zt = binits.get(`${name}_zero_points`);
    const scales = tensorToFloat32(s4);
    if (data.length !== N * blocks * (bs / 2) || scales.length !== N * blocks) return 'MatMulNBits data sizes do not match its attributes';
    const zp = zt ? Uint8Array.from(tensorToInts(zt)) : undefined;
    if (zp && zp.length !== N * Math.ceil(blocks / 2)) return 'MatMulNBits zero points do not match its attributes';
    const values = dequantizeBlockwise4({ data, scales, zeroPoints: zp, blocks }, K, N, bs);
    const bytes = data.length + scales.length * 4 + (zp?.length ?? 0);
    return { values, type: `MatMulNBits 4-bit, block ${bs}${zp ? ', asymmetric' : ''}`, bits: (bytes * 8) / n };
  }
  return direct ? `B holds it as ${dtName(direct.dataType)} with no scale to dequantize it` : undefined;
}

export async function compareOnnx(srcA: ByteSource, srcB: ByteSource, opts: OnnxCompareOptions = {}): Promise<GgufComparison> {
  const [a, b] = [await readModel(srcA), await readModel(srcB)];
  if (opts.openExternalA) await loadExternalData(a, opts.openExternalA, srcA.name);
  if (opts.openExternalB) await loadExternalData(b, opts.openExternalB, srcB.name);
  const ainits = inits(a), binits = inits(b);
  const tensors: TensorComparison[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const onlyInA: string[] = [];
  const used = new Set<string>();
  const total = new ErrorAccumulator();
  let bitsA = 0, bitsB = 0, elements = 0;
  for (const [name, t] of ainits) {
    if (!FLOATS.has(t.dataType)) { if (binits.has(name)) used.add(name); continue; }
    const dims = t.dims.map(Number);
    numElements(dims);
    const r = resolveB(b, binits, name, dims);
    if (r === undefined) { onlyInA.push(name); continue; }
    for (const suffix of ['', '_quantized', '_scale', '_zero_point', '_Q4', '_scales', '_zero_points']) if (binits.has(name + suffix)) used.add(name + suffix);
    if (typeof r === 'string') { skipped.push({ name, reason: r }); continue; }
    const acc = new ErrorAccumulator();
    acc.add(tensorToFloat32(t), r.values);
    total.merge(acc);
    const n = r.values.length, bw = elemBits(t.dataType);
    bitsA += bw * n; bitsB += r.bits * n; elements += n;
    tensors.push({ name, dims, typeA: dtName(t.dataType), typeB: r.type, bitsPerWeightA: bw, bitsPerWeightB: r.bits, stats: acc.result() });
  }
  const worst = [...tensors].filter((t) => t.stats.sqnrDb !== Infinity).sort((x, y) => x.stats.sqnrDb - y.stats.sqnrDb).slice(0, opts.worstCount ?? 10);
  return {
    a: { name: srcA.name, sizeBytes: srcA.size, tensorCount: ainits.size },
    b: { name: srcB.name, sizeBytes: srcB.size, tensorCount: binits.size },
    tensors,
    total: { ...total.result(), bitsPerWeightA: elements ? bitsA / elements : 0, bitsPerWeightB: elements ? bitsB / elements : 0, elements },
    worst,
    onlyInA,
    onlyInB: [...binits.keys()].filter((k) => !used.has(k) && !ainits.has(k)),
    skipped,
  };
}
