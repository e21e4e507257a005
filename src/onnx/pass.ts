// The node-rewrite loop every weight-quantizing pass shares, in the manner of ONNX Runtime's
// quantizer (onnxruntime/python/tools/quantization: registry.py maps op types to operator classes,
// operators/base_operator.py is what each provides). A pass is a table of per-op handlers; for each
// node whose op type has a handler, the handler first decides (plan: a reason to keep the node in
// float, or what it will do and the bytes before/after), then rewrites it (emits its replacement
// nodes and initializers). The driver does the rest, once for all passes: walking the main graph and
// every subgraph with the constants each sees, node selection (--op-types, --exclude-nodes), the
// report, dry runs, new initializers, pruning what nothing reads any more, and opset imports.
// Browser-safe.
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { Namer, ensureOpset, inferElemTypes } from './graph.js';
import {
  forEachGraph,
  keepNode,
  newReport,
  nodeLabel,
  pruneAll,
  type NodeAction,
  type TransformReport,
} from './common.js';

/** What a handler will do to a node: the report row (without node and op, which the driver fills). */
export interface NodePlan {
  action: string;
  weight: string;
  shape: number[];
  bytesBefore: number;
  bytesAfter: number;
}

/** Everything a handler sees while its pass visits one graph. */
export interface PassContext<G = unknown> {
  model: ModelProto;
  graph: GraphProto;
  /** constants visible in this graph (its own initializers and the enclosing graphs') */
  inits: Map<string, TensorProto>;
  /** element types of the graph's values, as far as they are known */
  types: Map<string, number>;
  namer: Namer;
  /** the graph's new node list, in order: a rewrite appends its nodes here */
  out: NodeProto[];
  /** a new initializer (they are added to the main graph, so every subgraph sees them) */
  addInit(t: TensorProto): void;
  /** the pass's own state for this graph (e.g. activations already quantized) */
  local: G;
}

/**
 * One op type's quantizer. plan() returns null to pass the node through silently (not a node this
 * handler is about), a string to keep it in float with that reason (shown in the report), or its plan.
 * rewrite() runs only on real runs, with that plan, and appends the replacement to ctx.out.
 */
export interface OpHandler<P extends NodePlan = NodePlan, G = unknown> {
  plan(n: NodeProto, ctx: PassContext<G>): P | string | null;
  rewrite(n: NodeProto, plan: P, ctx: PassContext<G>): void;
}

/**
 * A pass's registry: its handlers by op type, each made from the pass's options (ONNX Runtime's
 * registry.py maps op types to operator classes per mode the same way). The driver runs the handler
 * registered for a node's op type; adding an op is writing its handler and one entry here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HandlerTable<O, G = unknown> = Readonly<Record<string, (o: O) => OpHandler<any, G>>>;

/** The handlers of a table, made from the pass's options. */
export function handlersOf<O, G>(table: HandlerTable<O, G>, o: O): PassSpec<G>['handlers'] {
  return Object.fromEntries(Object.entries(table).map(([op, make]) => [op, make(o)]));
}

/** Which nodes a pass may touch: ONNX Runtime's op_types_to_quantize and nodes_to_exclude. */
export interface NodeSelection {
  /** only these op types (default: every op type the pass has a handler for) */
  opTypes?: readonly string[];
  /** nodes left in float, by name (or by the label lowbit prints for unnamed nodes, e.g. MatMul#3) */
  excludeNodes?: readonly string[];
}

export interface PassSpec<G> extends NodeSelection {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  handlers: Readonly<Record<string, OpHandler<any, G>>>;
  dryRun?: boolean;
  /** per-graph state, made when the pass enters a graph */
  local?: () => G;
  /** prune unread initializers even when no node changed (the int8 passes always did) */
  alwaysPrune?: boolean;
  /** an opset import the rewritten graph needs when a node changed, e.g. ['com.microsoft', 1] */
  opset?: [string, number];
}

/** Runs a pass over the model (in place unless a dry run) and returns its report. */
export function runPass<G = undefined>(model: ModelProto, spec: PassSpec<G>): TransformReport {
  const top = model.graph!;
  const report = newReport();
  const namer = new Namer(top);
  const newInits: TensorProto[] = [];
  const select = selector(spec);
  let changed = 0;
  forEachGraph(top, spec.dryRun, (g, inits) => {
    const ctx: PassContext<G> = {
      model,
      graph: g,
      inits,
      types: inferElemTypes(g),
      namer,
      out: [],
      addInit: (t) => newInits.push(t),
      local: spec.local?.() as G,
    };
    g.node.forEach((n, idx) => {
      if (visitNode(n, idx, spec, select, ctx, report)) changed++;
    });
    if (!spec.dryRun) g.node = ctx.out;
  });
  if (!spec.dryRun && (changed || spec.alwaysPrune)) {
    top.initializer.push(...newInits);
    pruneAll(top);
  }
  if (!spec.dryRun && changed && spec.opset) ensureOpset(model, ...spec.opset);
  return report;
}

/** --op-types and --exclude-nodes: why a node with a handler is left alone, if it is. */
function selector(sel: NodeSelection): (n: NodeProto, label: string) => string | undefined {
  const onlyOps = sel.opTypes ? new Set(sel.opTypes) : undefined;
  const excluded = new Set(sel.excludeNodes ?? []);
  return (n, label) => {
    if (onlyOps && !onlyOps.has(n.opType)) return 'not in --op-types';
    if (excluded.has(label) || (n.name && excluded.has(n.name))) return 'excluded by --exclude-nodes';
    return undefined;
  };
}

/**
 * One node: the handler registered for its op type (none for other domains) plans it, the report
 * records the plan or why it was kept, and on real runs the handler rewrites it. True if rewritten.
 */
function visitNode<G>(
  n: NodeProto,
  idx: number,
  spec: PassSpec<G>,
  select: (n: NodeProto, label: string) => string | undefined,
  ctx: PassContext<G>,
  report: TransformReport,
): boolean {
  const out = ctx.out;
  // own keys only: an op type such as "constructor" is not a handler
  const h = !n.domain && Object.hasOwn(spec.handlers, n.opType) ? spec.handlers[n.opType] : undefined;
  if (!h) {
    out.push(n);
    return false;
  }
  const label = nodeLabel(n, idx);
  const keep = keepNode(report, out, n, label);
  const deselected = select(n, label);
  if (deselected) {
    keep(deselected);
    return false;
  }
  const p = h.plan(n, ctx);
  if (p === null) {
    out.push(n);
    return false;
  }
  if (typeof p === 'string') {
    keep(p);
    return false;
  }
  report.actions.push(reportRow(n, label, p));
  if (spec.dryRun) {
    out.push(n);
    return false;
  }
  h.rewrite(n, p, ctx);
  return true;
}

function reportRow(n: NodeProto, label: string, p: NodePlan): NodeAction {
  return {
    node: label,
    op: n.opType,
    action: p.action,
    weight: p.weight,
    shape: p.shape,
    bytesBefore: p.bytesBefore,
    bytesAfter: p.bytesAfter,
  };
}
