// transformers.js's dtype variants, applied to an in-memory ModelProto. Browser-safe: the file edges
// live in quantize-file.ts.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { LowbitError } from '../errors.js';
import { DT } from '../io/onnx/tensor.js';
import { convertToFp16 } from './fp16.js';
import { nodeLabel, tensorBytes, type TransformReport } from './common.js';
import { howToQuantize, passInfo, type PassId } from './registry.js';
import { allGraphs } from './graph.js';

export const VARIANTS = ['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type Variant = (typeof VARIANTS)[number];

/** File-name suffix transformers.js looks for: onnx/<base><suffix>.onnx for pipeline(..., { dtype }) */
export const VARIANT_SUFFIX: Record<Variant, string> = {
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

export function isVariant(s: string): s is Variant {
  return (VARIANTS as readonly string[]).includes(s);
}

export function parseVariant(s: string): Variant {
  const v = s.toLowerCase() === 'quantized' ? 'q8' : s.toLowerCase();
  if (!isVariant(v)) throw new LowbitError(`unknown ONNX variant "${s}": use one of ${VARIANTS.join(', ')}`);
  return v;
}

export interface OnnxQuantOptions {
  perChannel?: boolean;
  /** int8 variants: symmetric weights (default: symmetric for int8, asymmetric for uint8) */
  symmetric?: boolean;
  reduceRange?: boolean;
  blockSize?: number;
  asymmetric?: boolean;
  accuracyLevel?: number;
  fp16BlockList?: string[];
  /**
   * QDQ weight-only instead of the variant's own operators: int8 (DequantizeLinear per tensor or per
   * channel) or int4 (block-wise DequantizeLinear, opset 21). The f16 variants still get the fp16 pass.
   */
  weightOnly?: 'int8' | 'int4';
  /** q4 variants: also embedding tables, as com.microsoft GatherBlockQuantized (not in ORT Web's WASM) */
  embeddings?: boolean;
  /** quantize only these op types (ONNX Runtime's op_types_to_quantize; default every op the variant handles) */
  opTypes?: string[];
  /** leave these nodes in FP32, by name (ONNX Runtime's nodes_to_exclude; fp16 variants: FP32 nodes) */
  excludeNodes?: string[];
  dryRun?: boolean;
}

/** Weights (float constants of rank 2 and up) a variant left in float, per op type that reads them. */
export interface UnquantizedWeights {
  op: string;
  count: number;
  bytes: number;
  /** what would quantize them (a variant, a flag), or that nothing in lowbit does */
  how: string;
  /** left out on purpose by --op-types or --exclude-nodes */
  deselected?: boolean;
}

export interface VariantReport extends TransformReport {
  /** the weight-quantizing variants' leftovers (absent for fp16, which quantizes nothing) */
  unquantized?: UnquantizedWeights[];
  /** bytes of all float weights in the input, for the share left in float */
  weightBytes?: number;
}

/** The quantizing passes a variant runs (fp16 is not one of them). */
export function variantPasses(variant: Variant, o: OnnxQuantOptions = {}): PassId[] {
  if (o.weightOnly) return variant === 'fp16' ? [] : [o.weightOnly === 'int4' ? 'qdq-int4' : 'qdq-int8'];
  switch (variant) {
    case 'q8':
    case 'int8':
    case 'uint8':
      return ['integer-ops'];
    case 'q4':
    case 'q4f16':
      return o.embeddings ? ['matmul-nbits', 'gather-block-quantized'] : ['matmul-nbits'];
    case 'bnb4':
      return ['matmul-bnb4'];
    case 'fp16':
      return [];
  }
}

/** Checks --op-types and --exclude-nodes against the variant and the model: typos are errors, not silent no-ops. */
function checkSelection(model: ModelProto, variant: Variant, o: OnnxQuantOptions): void {
  const passes = variantPasses(variant, o).map(passInfo);
  if (o.opTypes) {
    if (!passes.length)
      throw new LowbitError(
        `--op-types: ${variant} converts the whole graph to FP16; keep nodes FP32 with --exclude-nodes instead`,
        'EUSAGE',
      );
    const can = [...new Set(passes.flatMap((p) => p.ops))];
    for (const op of o.opTypes) {
      if (!can.includes(op))
        throw new LowbitError(
          `--op-types ${op}: ${o.weightOnly ? `--weight-only ${o.weightOnly}` : variant} quantizes ${can.join(', ')}; for ${op}: ${howToQuantize(op)}`,
          'EUSAGE',
        );
    }
  }
  if (o.excludeNodes?.length) {
    const names = new Set<string>();
    for (const g of allGraphs(model.graph!))
      g.node.forEach((n, i) => {
        names.add(nodeLabel(n, i));
        if (n.name) names.add(n.name);
      });
    const unknown = o.excludeNodes.filter((x) => !names.has(x));
    if (unknown.length)
      throw new LowbitError(
        `--exclude-nodes: no node named ${unknown.map((x) => `"${x}"`).join(', ')} in the model (lowbit quantize --dry-run lists the nodes)`,
        'EUSAGE',
      );
  }
}

/** Float weights of rank >= 2 (initializers and Constant nodes) and the op type of their first reader. */
function floatWeights(model: ModelProto): Map<string, { op: string; node: string; bytes: number }> {
  const out = new Map<string, { op: string; node: string; bytes: number }>();
  for (const g of allGraphs(model.graph!)) {
    const consts = [...g.initializer];
    for (const n of g.node)
      if (n.opType === 'Constant' && n.attribute[0]?.t && n.output[0])
        consts.push({ ...n.attribute[0].t, name: n.output[0] });
    const readers = new Map<string, { op: string; node: string }>();
    g.node.forEach((n, i) =>
      n.input.forEach((x) => {
        if (x && !readers.has(x)) readers.set(x, { op: n.opType, node: nodeLabel(n, i) });
      }),
    );
    for (const t of consts) {
      if ((t.dataType !== DT.FLOAT && t.dataType !== DT.FLOAT16) || t.dims.length < 2) continue;
      const r = readers.get(t.name);
      if (r && !out.has(t.name)) out.set(t.name, { ...r, bytes: tensorBytes(t) });
    }
  }
  return out;
}

function unquantized(
  before: Map<string, { op: string; node: string; bytes: number }>,
  r: TransformReport,
  o: OnnxQuantOptions,
): UnquantizedWeights[] {
  const done = new Set(r.actions.filter((a) => a.weight && !a.action.startsWith('kept')).map((a) => a.weight!));
  const by = new Map<string, UnquantizedWeights>();
  for (const [name, w] of before) {
    if (done.has(name)) continue;
    const deselected = (o.excludeNodes ?? []).includes(w.node) || !!(o.opTypes && !o.opTypes.includes(w.op));
    const key = `${w.op}${deselected ? ' (deselected)' : ''}`;
    const e = by.get(key) ?? {
      op: w.op,
      count: 0,
      bytes: 0,
      how: howToQuantize(w.op),
      ...(deselected ? { deselected } : {}),
    };
    e.count++;
    e.bytes += w.bytes;
    by.set(key, e);
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes);
}

export function quantizeOnnxModel(model: ModelProto, variant: Variant, o: OnnxQuantOptions = {}): VariantReport {
  checkSelection(model, variant, o);
  const quantizing = variantPasses(variant, o).length > 0;
  const before = quantizing ? floatWeights(model) : undefined;
  const report = applyVariant(model, variant, o);
  if (before) {
    report.unquantized = unquantized(before, report, o);
    report.weightBytes = [...before.values()].reduce((s, w) => s + w.bytes, 0);
  }
  return report;
}

/** --weight-only's own checks (after --op-types and --exclude-nodes are checked). */
function checkWeightOnly(variant: Variant, o: OnnxQuantOptions): void {
  if (!o.weightOnly) return;
  if (o.weightOnly !== 'int8' && o.weightOnly !== 'int4')
    throw new LowbitError(`--weight-only takes int8 or int4, not "${String(o.weightOnly)}"`, 'EUSAGE');
  if (variant === 'fp16')
    throw new LowbitError('--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16', 'EUSAGE');
}

/** The variant's quantizing passes from the registry, in order, then the FP16 pass for fp16 and q4f16. */
function applyVariant(model: ModelProto, variant: Variant, o: OnnxQuantOptions): VariantReport {
  checkWeightOnly(variant, o);
  const merged: VariantReport = { actions: [], notes: [] };
  const add = (r: TransformReport) => {
    merged.actions.push(...r.actions);
    merged.notes.push(...r.notes);
  };
  for (const id of variantPasses(variant, o)) add(passInfo(id).run(model, variant, o));
  if (variant === 'fp16' || variant === 'q4f16')
    add(convertToFp16(model, { opBlockList: o.fp16BlockList, nodeBlockList: o.excludeNodes, dryRun: o.dryRun }));
  return merged;
}
