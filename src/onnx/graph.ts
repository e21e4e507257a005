// Small helpers over ONNX graphs: building nodes and attributes, finding initializers,
// unique names, opset lookups and element-type inference. Browser-safe.
import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType as DT,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../io/onnx/proto/onnx_pb.js';

export type AttrValue =
  number | string | number[] | TensorProto | { float: number } | { floats: number[] } | { graph: GraphProto };

export function attr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'number') return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) });
  if (typeof v === 'string')
    return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return create(AttributeProtoSchema, { name, type: AT.INTS, ints: v.map((x) => BigInt(x)) });
  if ('float' in v) return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: v.float });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: v.floats });
  if ('graph' in v) return create(AttributeProtoSchema, { name, type: AT.GRAPH, g: v.graph });
  return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: v });
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain = '',
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    input: inputs,
    output: outputs,
    name,
    domain,
    attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
  });
}

export function getAttr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}
export function attrInt(n: NodeProto, name: string, dflt: number): number {
  const a = getAttr(n, name);
  return a ? Number(a.i) : dflt;
}
export function attrFloat(n: NodeProto, name: string, dflt: number): number {
  const a = getAttr(n, name);
  return a ? a.f : dflt;
}

/** Names in use anywhere in the graph (values and nodes), to mint new ones that do not collide. */
export class Namer {
  private used = new Set<string>();
  constructor(g: GraphProto) {
    this.add(g);
  }
  /** a graph's names, its subgraphs' included (new top-level names must not shadow inner ones) */
  private add(g: GraphProto): void {
    for (const n of g.node) {
      this.used.add(n.name);
      n.input.forEach((x) => this.used.add(x));
      n.output.forEach((x) => this.used.add(x));
      for (const a of n.attribute) {
        if (a.g) this.add(a.g);
        a.graphs.forEach((sg) => this.add(sg));
      }
    }
    for (const t of g.initializer) this.used.add(t.name);
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) this.used.add(v.name);
  }
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

export function initializerMap(g: GraphProto): Map<string, TensorProto> {
  const m = new Map<string, TensorProto>();
  for (const t of g.initializer) m.set(t.name, t);
  // a graph input with the same name overrides the initializer at run time: not a constant
  for (const i of g.input) m.delete(i.name);
  return m;
}

/** Every graph of the model: the main graph, then each subgraph (If branches, Loop/Scan bodies) after the graph holding it. */
export function allGraphs(top: GraphProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  const collect = (g: GraphProto) => {
    graphs.push(g);
    for (const n of g.node)
      for (const a of n.attribute) {
        if (a.g) collect(a.g);
        a.graphs.forEach(collect);
      }
  };
  collect(top);
  return graphs;
}

/** Values a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope. */
export function outerScopeRefs(g: GraphProto): Set<string> {
  const refs = new Set<string>();
  const visit = (sub: GraphProto, outerDefined: Set<string>) => {
    const local = new Set<string>([...sub.input.map((v) => v.name), ...sub.initializer.map((t) => t.name)]);
    for (const n of sub.node) n.output.forEach((o) => local.add(o));
    for (const n of sub.node) {
      for (const x of n.input) if (x && !local.has(x)) refs.add(x);
      for (const a of n.attribute) {
        if (a.g) visit(a.g, local);
        for (const gg of a.graphs) visit(gg, local);
      }
    }
    for (const o of sub.output) if (!local.has(o.name)) refs.add(o.name);
    void outerDefined;
  };
  for (const n of g.node)
    for (const a of n.attribute) {
      if (a.g) visit(a.g, new Set());
      for (const gg of a.graphs) visit(gg, new Set());
    }
  return refs;
}

export function hasSubgraph(n: NodeProto): boolean {
  return n.attribute.some((a) => a.g || a.graphs.length);
}

export function opsetVersion(model: ModelProto, domain = ''): number {
  const o = model.opsetImport.find((x) => (x.domain === 'ai.onnx' ? '' : x.domain) === domain);
  return o ? Number(o.version) : 0;
}

export function ensureOpset(model: ModelProto, domain: string, version: number): void {
  const o = model.opsetImport.find((x) => x.domain === domain);
  if (o) {
    if (Number(o.version) < version) o.version = BigInt(version);
  } else model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
}

/** Element types of values ("" = unknown), from graph inputs, initializers, value_info and per-op rules. */
export function inferElemTypes(g: GraphProto, outer?: Map<string, number>): Map<string, number> {
  // a subgraph sees the enclosing graphs' values
  const t = new Map<string, number>(outer ?? []);
  for (const v of g.input) {
    const tv = v.type?.value;
    if (tv?.case === 'tensorType' && tv.value.elemType) t.set(v.name, tv.value.elemType);
  }
  for (const i of g.initializer) t.set(i.name, i.dataType);
  const known = new Map<string, number>();
  [...g.valueInfo, ...g.output].forEach((v) => {
    const tv = v.type?.value;
    if (tv?.case === 'tensorType' && tv.value.elemType) known.set(v.name, tv.value.elemType);
  });
  for (const n of g.node) {
    const outs = outputTypes(n, (x) => t.get(x));
    n.output.forEach((o, i) => {
      const k = known.get(o) ?? outs[i];
      if (o && k) t.set(o, k);
    });
  }
  return t;
}

function subgraphOutputTypes(g: GraphProto | undefined, skip: number): (number | undefined)[] {
  if (!g) return [];
  return g.output
    .slice(skip)
    .map((o) => (o.type?.value.case === 'tensorType' ? o.type.value.value.elemType || undefined : undefined));
}

const BOOL_OPS = new Set([
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);
const I64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);

/** Output types an op fixes, given its first input's type. */
const BY_FIRST_INPUT = new Map<string, (in0: number | undefined) => (number | undefined)[]>([
  ['TopK', (x) => [x, DT.INT64]],
  ['Unique', (x) => [x, DT.INT64, DT.INT64, DT.INT64]],
  ['DynamicQuantizeLinear', () => [DT.UINT8, DT.FLOAT, DT.UINT8]],
  ['MatMulInteger', () => [DT.INT32]],
  ['ConvInteger', () => [DT.INT32]],
  ['MatMulNBits', (x) => [x]],
  ['LayerNormalization', (x) => [x, DT.FLOAT, DT.FLOAT]],
  ['BatchNormalization', (x) => [x, x, x]],
  ['Dropout', (x) => [x, DT.BOOL]],
  ['MaxPool', (x) => [x, DT.INT64]],
]);

function outputTypes(n: NodeProto, type: (x: string) => number | undefined): (number | undefined)[] {
  const in0 = n.input[0] ? type(n.input[0]) : undefined;
  if (n.domain && n.domain !== 'ai.onnx' && n.domain !== 'com.microsoft') return [];
  const dtypeAttr = (dflt: number) => {
    const a = getAttr(n, 'dtype');
    return a ? Number(a.i) : dflt;
  };
  const input = (i: number) => (n.input[i] ? type(n.input[i]) : undefined);
  switch (n.opType) {
    case 'Cast':
      return [attrInt(n, 'to', 0)];
    case 'CastLike':
    case 'Where':
      return [input(1)];
    case 'Constant':
      return constantType(n);
    case 'ConstantOfShape': {
      const a = getAttr(n, 'value');
      return [a?.t ? a.t.dataType : DT.FLOAT];
    }
    case 'EyeLike':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
      return [dtypeAttr(in0 ?? DT.FLOAT)];
    case 'RandomNormal':
    case 'RandomUniform':
      return [dtypeAttr(DT.FLOAT)];
    case 'Multinomial':
      return [dtypeAttr(DT.INT32)];
    case 'OneHot':
    case 'GatherBlockQuantized':
      return [input(2)];
    case 'DequantizeLinear':
      return [n.input[1] ? type(n.input[1]) : DT.FLOAT];
    case 'QuantizeLinear':
      return [n.input[2] ? type(n.input[2]) : DT.UINT8];
    // control flow: the body graph's declared output types (Loop's first body output is its condition)
    case 'If':
      return subgraphOutputTypes(getAttr(n, 'then_branch')?.g, 0);
    case 'Loop':
      return subgraphOutputTypes(getAttr(n, 'body')?.g, 1);
    case 'Scan':
      return subgraphOutputTypes(getAttr(n, 'body')?.g, 0);
  }
  const fixed = BY_FIRST_INPUT.get(n.opType);
  if (fixed) return fixed(in0);
  if (BOOL_OPS.has(n.opType)) return [DT.BOOL];
  if (I64_OPS.has(n.opType)) return [DT.INT64];
  // everything else keeps its first input's type (elementwise, shape, layout, reductions, Conv, MatMul...)
  return n.output.map(() => in0);
}

/** A Constant's type, from whichever value attribute it has. */
function constantType(n: NodeProto): number[] {
  const a = n.attribute[0];
  if (!a) return [];
  if (a.t) return [a.t.dataType];
  if (a.name === 'value_float' || a.name === 'value_floats') return [DT.FLOAT];
  if (a.name === 'value_int' || a.name === 'value_ints') return [DT.INT64];
  if (a.name === 'value_string' || a.name === 'value_strings') return [DT.STRING];
  return [];
}
