// Shared bits of the graph transforms: a report of what was done, weight lookups, and removing
// initializers that no node reads any more. Browser-safe.
import type { GraphProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, numElements } from '../io/onnx/tensor.js';
import { allGraphs, initializerMap, outerScopeRefs } from './graph.js';
import type { PassContext } from './pass.js';

export interface NodeAction {
  node: string;
  op: string;
  /** what happens to it, e.g. "MatMulInteger int8 per-channel" or "kept: weight is not a constant" */
  action: string;
  weight?: string;
  shape?: number[];
  /** weight bytes before and after */
  bytesBefore?: number;
  bytesAfter?: number;
}

export interface TransformReport {
  actions: NodeAction[];
  notes: string[];
}

export function newReport(): TransformReport {
  return { actions: [], notes: [] };
}

export function dimsOf(t: TensorProto): number[] {
  return t.dims.map(Number);
}

export function isFloatInit(t: TensorProto | undefined): t is TensorProto {
  return !!t && t.dataType === DT.FLOAT;
}

export function nodeLabel(n: NodeProto, i: number): string {
  return n.name || `${n.opType}#${i}`;
}

/** A transform's way to pass a node through unchanged, recording why it was not quantized. */
export function keepNode(
  report: TransformReport,
  out: NodeProto[],
  n: NodeProto,
  label: string,
): (why: string) => void {
  return (why) => {
    report.actions.push({ node: label, op: n.opType, action: `kept FP32: ${why}` });
    out.push(n);
  };
}

/** Drops initializers nothing reads any more (and their IR<4-style graph-input declarations). */
export function pruneInitializers(g: GraphProto): void {
  const used = new Set<string>();
  for (const n of g.node) n.input.forEach((x) => used.add(x));
  g.output.forEach((o) => used.add(o.name));
  outerScopeRefs(g).forEach((x) => used.add(x));
  const removed = new Set(g.initializer.filter((t) => !used.has(t.name)).map((t) => t.name));
  if (!removed.size) return;
  g.initializer = g.initializer.filter((t) => !removed.has(t.name));
  g.input = g.input.filter((v) => !removed.has(v.name));
  g.valueInfo = g.valueInfo.filter((v) => !removed.has(v.name));
}

export function tensorBytes(t: TensorProto): number {
  return Math.ceil((numElements(t.dims) * bitsOf(t.dataType)) / 8);
}

function bitsOf(dt: number): number {
  return dt === DT.FLOAT || dt === DT.INT32
    ? 32
    : dt === DT.FLOAT16
      ? 16
      : dt === DT.INT64 || dt === DT.DOUBLE
        ? 64
        : dt === DT.INT4 || dt === DT.UINT4
          ? 4
          : 8;
}

/**
 * Constant nodes holding tensors become initializers (exporters such as paddle2onnx store every weight
 * as a Constant), so weight-quantizing passes find them. Same values, same names: the graph computes
 * the same. Returns how many moved.
 */
export function hoistConstants(g: GraphProto): number {
  const outputs = new Set(g.output.map((o) => o.name));
  let moved = 0;
  g.node = g.node.filter((n) => {
    const a = n.attribute[0];
    if (
      n.opType !== 'Constant' ||
      n.domain ||
      n.attribute.length !== 1 ||
      a?.name !== 'value' ||
      !a.t ||
      !n.output[0] ||
      outputs.has(n.output[0])
    )
      return true;
    a.t.name = n.output[0];
    g.initializer.push(a.t);
    moved++;
    return false;
  });
  return moved;
}

/**
 * Visits the main graph and every subgraph (If branches, Loop/Scan bodies: optimum's merged decoders
 * keep all their MatMuls there) with the constants visible in each: its own initializers and those of
 * the enclosing graphs. Constant-node weights are hoisted first (not on dry runs, where they are only
 * looked up). Subgraphs are visited before their parent's nodes change.
 */
export function forEachGraph(
  top: GraphProto,
  dryRun: boolean | undefined,
  visit: (g: GraphProto, inits: Map<string, TensorProto>) => void,
): void {
  const walk = (g: GraphProto, outer: Map<string, TensorProto>) => {
    if (!dryRun) hoistConstants(g);
    const inits = new Map(outer);
    // a subgraph's own inputs shadow outer names
    for (const i of g.input) inits.delete(i.name);
    for (const [k, v] of initializerMap(g)) inits.set(k, v);
    if (dryRun)
      for (const n of g.node)
        if (n.opType === 'Constant' && n.attribute[0]?.t && n.output[0]) inits.set(n.output[0], n.attribute[0].t);
    for (const n of g.node)
      for (const a of n.attribute) {
        if (a.g) walk(a.g, inits);
        a.graphs.forEach((sg) => walk(sg, inits));
      }
    visit(g, inits);
  };
  walk(top, new Map());
}

/** pruneInitializers on every subgraph, then on the graph holding it */
export function pruneAll(top: GraphProto): void {
  allGraphs(top).reverse().forEach(pruneInitializers);
}

/** [rows, cols] row-major -> [cols, rows] */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = x[r * cols + c]!;
  return o;
}

/**
 * The checks every weight handler starts with: the weight (input 1) is a float32 constant and the
 * activation is float32 (when its type is known). The weight and its dims, or why not.
 */
export function floatWeight(n: NodeProto, ctx: PassContext<unknown>): { w: TensorProto; wd: number[] } | string {
  const w = ctx.inits.get(n.input[1]!);
  if (!isFloatInit(w)) return 'weight is not a float32 constant';
  const a = ctx.types.get(n.input[0]!);
  if (a !== undefined && a !== DT.FLOAT) return 'input is not float32';
  return { w, wd: dimsOf(w) };
}

/** floatWeight, and the weight is 2-D (MatMul's and Gemm's). */
export function matmulWeight(n: NodeProto, ctx: PassContext<unknown>): { w: TensorProto; wd: number[] } | string {
  const fw = floatWeight(n, ctx);
  if (typeof fw === 'string' || fw.wd.length === 2) return fw;
  return `weight rank ${fw.wd.length} (only 2-D weights)`;
}
