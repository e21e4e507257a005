// The FP16 pass (transformers.js's fp16, and the f16 half of q4f16): float initializers and the
// computation become FP16, graph inputs and outputs stay FP32 with Casts at the edges, ops on a block
// list (numerically fragile or without FP16 support) keep FP32 with Casts around them. Values
// outside FP16's range are clamped to ±65504 and counted. Browser-safe.
import { clone, create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  ModelProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../io/onnx/proto/onnx_pb.js';
import { DT, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { fp32ToFp16, fp16ToFp32 } from '../formats/half.js';
import { Namer, allGraphs, getAttr, hasSubgraph, inferElemTypes, node } from './graph.js';
import { newReport, nodeLabel, type TransformReport } from './common.js';

/** onnxconverter-common's default block list (ML ops, index/range ops) plus ops ONNX Runtime needs in FP32 */
export const DEFAULT_FP16_BLOCK_LIST = [
  'ArrayFeatureExtractor',
  'Binarizer',
  'CastMap',
  'CategoryMapper',
  'DictVectorizer',
  'FeatureVectorizer',
  'Imputer',
  'LabelEncoder',
  'LinearClassifier',
  'LinearRegressor',
  'Normalizer',
  'OneHotEncoder',
  'RandomUniformLike',
  'SVMClassifier',
  'SVMRegressor',
  'Scaler',
  'TreeEnsembleClassifier',
  'TreeEnsembleRegressor',
  'ZipMap',
  'NonMaxSuppression',
  'TopK',
  'RoiAlign',
  'Resize',
  'Range',
  'CumSum',
  'Min',
  'Max',
  'Upsample',
  // run-time quantization reads FP32 only
  'DynamicQuantizeLinear',
];

/** Inputs that the ONNX spec types as float32 whatever the data type (so they never become FP16). */
const FP32_SLOTS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };
const FP16_MAX = 65504;

function fp32Slot(n: NodeProto, i: number): boolean {
  return Object.hasOwn(FP32_SLOTS, n.opType) && FP32_SLOTS[n.opType]!.includes(i);
}

export interface Fp16Options {
  opBlockList?: string[];
  nodeBlockList?: string[];
  /** nodes reading constants beyond ±65504 stay FP32 (default); false clamps those constants instead */
  keepOutOfRangeFp32?: boolean;
  dryRun?: boolean;
}

export interface Fp16Report extends TransformReport {
  converted: number;
  clamped: number;
  /** which tensors had values clamped, and how many */
  clampedByTensor: { tensor: string; count: number }[];
  underflowed: number;
}

/** Which nodes stay FP32 and which are control flow whose bodies are converted as graphs of their own. */
interface Fp16Policy {
  blocked(n: NodeProto): boolean;
  container(n: NodeProto): boolean;
  readsOutOfRange(n: NodeProto): boolean;
}

/** What every graph's conversion shares. */
interface Fp16Pass {
  namer: Namer;
  report: Fp16Report;
  policy: Fp16Policy;
  /** initializers some FP16 consumer reads: stored in FP16 */
  wants16: Set<string>;
}

/** One graph being converted: value precisions, the new node list, and the Casts made so far. */
interface GraphState {
  pass: Fp16Pass;
  types: Map<string, number>;
  isFloat(x: string): boolean;
  /** the graph's outputs: they keep FP32 under their names */
  pinned: Set<string>;
  prec: Map<string, 16 | 32>;
  out: NodeProto[];
  /** FP16 twins of pinned values (an enclosing graph's too): read instead of casting back */
  alias16: Map<string, string>;
  /** x as FP16 or FP32: a Cast made once per value and precision */
  cast(x: string, to: 16 | 32): string;
}

export function convertToFp16(model: ModelProto, opts: Fp16Options = {}): Fp16Report {
  // a dry run converts a copy: the report is the same, the model untouched
  if (opts.dryRun) return convertToFp16(clone(ModelProtoSchema, model), { ...opts, dryRun: false });
  const top = model.graph!;
  const report: Fp16Report = { ...newReport(), converted: 0, clamped: 0, clampedByTensor: [], underflowed: 0 };
  const graphs = allGraphs(top);
  const policy = fp16Policy(opts, outOfRangeConstants(graphs));
  const pass: Fp16Pass = { namer: new Namer(top), report, policy, wants16: fp16Initializers(graphs, policy) };
  convertGraph(pass, top, new Map(), new Map(), new Map());
  report.notes.push(
    `FP16: ${report.converted} float values and weights in FP16, ${report.actions.length} node(s) kept FP32, inputs/outputs FP32`,
  );
  if (report.clamped) {
    const where = report.clampedByTensor.map((c) => `${c.tensor || '(unnamed)'}: ${c.count}`).join(', ');
    report.notes.push(`${report.clamped} value(s) outside FP16's range were clamped to ±${FP16_MAX} (${where})`);
  }
  if (report.underflowed) report.notes.push(`${report.underflowed} nonzero value(s) too small for FP16 became zero`);
  return report;
}

/**
 * Constants FP16 cannot hold (BatchNormalization variances, large biases...): clamping them would
 * change the model, so the nodes reading them stay FP32.
 */
function outOfRangeConstants(graphs: GraphProto[]): Set<string> {
  const outOfRange = new Set<string>();
  const tooBig = (t: TensorProto) =>
    t.dataType === DT.FLOAT && tensorToFloat32(t).some((v) => Number.isFinite(v) && Math.abs(v) > FP16_MAX);
  for (const g of graphs) {
    for (const t of g.initializer) if (tooBig(t)) outOfRange.add(t.name);
    for (const n of g.node)
      if (n.opType === 'Constant' && n.attribute[0]?.t && tooBig(n.attribute[0].t))
        n.output.forEach((o) => outOfRange.add(o));
  }
  return outOfRange;
}

function fp16Policy(opts: Fp16Options, outOfRange: Set<string>): Fp16Policy {
  const blockOps = new Set(opts.opBlockList ?? DEFAULT_FP16_BLOCK_LIST);
  const blockNodes = new Set(opts.nodeBlockList ?? []);
  const keepOutOfRange = opts.keepOutOfRangeFp32 ?? true;
  const readsOutOfRange = (n: NodeProto) =>
    keepOutOfRange && (n.input.some((x) => outOfRange.has(x)) || n.output.some((x) => outOfRange.has(x)));
  const standard = (n: NodeProto) => n.domain === '' || n.domain === 'ai.onnx';
  // If/Loop/Scan: their bodies are converted like graphs of their own, their outputs stay FP32
  const container = (n: NodeProto) => standard(n) && ['If', 'Loop', 'Scan'].includes(n.opType) && hasSubgraph(n);
  const blocked = (n: NodeProto) =>
    blockOps.has(n.opType) ||
    blockNodes.has(n.name) ||
    (hasSubgraph(n) && !container(n)) ||
    readsOutOfRange(n) ||
    !(standard(n) || n.domain === 'com.microsoft');
  return { blocked, container, readsOutOfRange };
}

/** Initializers some FP16 consumer reads (in any graph: branches read the main graph's weights). */
function fp16Initializers(graphs: GraphProto[], policy: Fp16Policy): Set<string> {
  const wants16 = new Set<string>();
  for (const g of graphs)
    for (const n of g.node) {
      if (policy.blocked(n) || policy.container(n)) continue;
      n.input.forEach((x, i) => {
        if (x && !fp32Slot(n, i)) wants16.add(x);
      });
    }
  return wants16;
}

/** Converts one graph (and, through its If/Loop/Scan nodes, their bodies) in place. */
function convertGraph(
  pass: Fp16Pass,
  g: GraphProto,
  outerTypes: Map<string, number>,
  outerPrec: Map<string, 16 | 32>,
  outerAlias: Map<string, string>,
): void {
  const types = inferElemTypes(g, outerTypes);
  const isFloat = (x: string) => types.get(x) === DT.FLOAT;
  // a graph's outputs keep FP32 under their names (the model's outputs; a branch's, matching its If)
  const pinned = new Set(g.output.map((o) => o.name));
  const prec = startingPrecisions(pass, g, isFloat, pinned, outerPrec);
  const out: NodeProto[] = [];
  const alias16 = new Map(outerAlias);
  const cast = castMaker(pass.namer, out, alias16);
  const st: GraphState = { pass, types, isFloat, pinned, prec, out, alias16, cast };
  g.node.forEach((n, idx) => (pass.policy.container(n) ? convertContainer(st, n) : convertNode(st, n, idx)));
  g.node = out;
  retypeValueInfo(g, prec);
  for (const [k, p] of prec) if (p === 16 && !outerPrec.has(k)) pass.report.converted++;
}

/** The graph's inputs in FP32, its float initializers in FP16 where an FP16 node reads them (converted here). */
function startingPrecisions(
  pass: Fp16Pass,
  g: GraphProto,
  isFloat: (x: string) => boolean,
  pinned: Set<string>,
  outerPrec: Map<string, 16 | 32>,
): Map<string, 16 | 32> {
  const prec = new Map(outerPrec);
  for (const i of g.input) if (isFloat(i.name)) prec.set(i.name, 32);
  const inputs = new Set(g.input.map((i) => i.name));
  for (const t of g.initializer) {
    if (t.dataType !== DT.FLOAT || inputs.has(t.name)) continue;
    if (pass.wants16.has(t.name) && !pinned.has(t.name)) {
      toFp16InPlace(t, pass.report);
      prec.set(t.name, 16);
    } else prec.set(t.name, 32);
  }
  return prec;
}

/** x as FP16 or FP32: a Cast appended to out, made once per value and precision (an FP16 twin read instead). */
function castMaker(namer: Namer, out: NodeProto[], alias16: Map<string, string>): GraphState['cast'] {
  const castOf = new Map<string, string>();
  return (x, to) => {
    if (to === 16 && alias16.has(x)) return alias16.get(x)!;
    const key = `${x}\u0000${to}`;
    let c = castOf.get(key);
    if (!c) {
      c = namer.fresh(`${x}_to_fp${to}`);
      out.push(node('Cast', [x], [c], namer.fresh(`${x}_Cast_fp${to}`), { to: to === 16 ? DT.FLOAT16 : DT.FLOAT }));
      castOf.set(key, c);
    }
    return c;
  };
}

/** value_info entries of values now FP16 say so. */
function retypeValueInfo(g: GraphProto, prec: Map<string, 16 | 32>): void {
  for (const v of g.valueInfo) {
    const tv = v.type?.value;
    if (tv?.case === 'tensorType' && tv.value.elemType === DT.FLOAT && prec.get(v.name) === 16)
      tv.value.elemType = DT.FLOAT16;
  }
}

/** If/Loop/Scan: FP32 in and out, their bodies converted as graphs of their own. */
function convertContainer(st: GraphState, n: NodeProto): void {
  const { prec, cast, types } = st;
  // its explicit inputs (Loop's initial values) match the body's declared FP32 inputs
  n.input.forEach((x, i) => {
    if (x && prec.get(x) === 16) n.input[i] = cast(x, 32);
  });
  // (a body casts outer FP32 values itself: reading the outer FP16 twins directly produced wrong
  // outputs under ONNX Runtime 1.30 in test/onnx/fp16.test.ts, cause not established)
  for (const a of n.attribute) {
    if (a.g) convertGraph(st.pass, a.g, types, prec, new Map());
    a.graphs.forEach((sg) => convertGraph(st.pass, sg, types, prec, new Map()));
  }
  n.output.forEach((o) => {
    if (o && st.isFloat(o)) prec.set(o, 32);
  });
  st.out.push(n);
}

/** Any other node: FP16 unless blocked (then FP32), with Casts where its inputs' precision differs. */
function convertNode(st: GraphState, n: NodeProto, idx: number): void {
  const { pass, prec, cast, out, isFloat } = st;
  const { policy, report, namer } = pass;
  const b = policy.blocked(n);
  if (b && n.output.some(isFloat))
    report.actions.push({
      node: nodeLabel(n, idx),
      op: n.opType,
      action: policy.readsOutOfRange(n) ? 'kept FP32: reads constants outside FP16 range' : 'kept FP32 (blocked)',
    });
  n.input.forEach((x, i) => {
    const have = x ? prec.get(x) : undefined;
    if (!have) return;
    const want = b || fp32Slot(n, i) ? 32 : 16;
    if (have !== want) n.input[i] = cast(x, want);
  });
  const floatOuts = n.output.filter((o) => o && isFloat(o));
  if (b || !floatOuts.length) {
    floatOuts.forEach((o) => prec.set(o, 32));
    out.push(n);
    return;
  }
  retypeAttrs(n, report);
  out.push(n);
  n.output.forEach((o, i) => {
    if (!o || !isFloat(o)) return;
    if (st.pinned.has(o)) {
      const a = namer.fresh(`${o}_fp16`);
      n.output[i] = a;
      st.alias16.set(o, a);
      out.push(node('Cast', [a], [o], namer.fresh(`${o}_Cast_fp32`), { to: DT.FLOAT }));
      prec.set(o, 32);
    } else prec.set(o, 16);
  });
}

function toFp16InPlace(t: TensorProto, report: Fp16Report): void {
  const f = tensorToFloat32(t);
  const bytes = new Uint8Array(f.length * 2);
  const dv = new DataView(bytes.buffer);
  const before = report.clamped;
  for (let i = 0; i < f.length; i++) {
    let v = f[i]!;
    if (v > FP16_MAX) {
      v = FP16_MAX;
      report.clamped++;
    } else if (v < -FP16_MAX) {
      v = -FP16_MAX;
      report.clamped++;
    }
    const h = fp32ToFp16(v);
    if (v !== 0 && fp16ToFp32(h) === 0) report.underflowed++;
    dv.setUint16(i * 2, h, true);
  }
  if (report.clamped > before) report.clampedByTensor.push({ tensor: t.name, count: report.clamped - before });
  const n = makeTensor(t.name, DT.FLOAT16, t.dims.map(Number), bytes);
  t.dataType = DT.FLOAT16;
  t.rawData = n.rawData;
  t.floatData = [];
}

/** Attributes that fix an output's type to float32 say float16 in an FP16 node. */
function retypeAttrs(n: NodeProto, report: Fp16Report): void {
  if (n.opType === 'Cast') {
    const a = getAttr(n, 'to');
    if (a && Number(a.i) === DT.FLOAT) a.i = BigInt(DT.FLOAT16);
  }
  for (const name of ['dtype']) {
    const a = getAttr(n, name);
    if (a && Number(a.i) === DT.FLOAT) a.i = BigInt(DT.FLOAT16);
  }
  for (const a of n.attribute) {
    if (a.t && a.t.dataType === DT.FLOAT) toFp16InPlace(a.t, report);
    if (n.opType === 'Constant' && (a.name === 'value_float' || a.name === 'value_floats')) {
      const vals = a.name === 'value_float' ? [a.f] : a.floats;
      const t = makeTensor(
        '',
        DT.FLOAT,
        a.name === 'value_float' ? [] : [vals.length],
        new Uint8Array(Float32Array.from(vals).buffer),
      );
      toFp16InPlace(t, report);
      n.attribute[n.attribute.indexOf(a)] = create(AttributeProtoSchema, { name: 'value', type: AT.TENSOR, t });
    }
  }
}
