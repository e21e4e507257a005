// Which op types lowbit quantizes, by which pass, and which variant or flag selects it: the registry
// the variants are composed from (as ONNX Runtime's registry.py maps op types to operator classes per
// mode), and what `quantize` consults to say how weights it left in float could be quantized.
// Each pass's handlers by op type live beside it (INTEGER_OPS_HANDLERS in dynamic-int8.ts ...): a
// pass's ops are the keys of its table, so registering a handler there is all a new op needs.
// Browser-safe.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import type { TransformReport } from './common.js';
import type { OnnxQuantOptions, Variant } from './variants.js';
import { INTEGER_OPS_HANDLERS, quantizeDynamicInt8 } from './dynamic-int8.js';
import { MATMUL_NBITS_HANDLERS, quantizeMatMul4Bits } from './matmul-nbits.js';
import { GATHER_QUANTIZED_HANDLERS, quantizeEmbeddings } from './gather-quantized.js';
import { MATMUL_BNB4_HANDLERS, quantizeMatMulBnb4 } from './matmul-bnb4.js';
import { QDQ_INT4_HANDLERS, QDQ_INT8_HANDLERS, quantizeWeightOnly, type WeightOnlyOptions } from './weight-only.js';

export type PassId =
  'integer-ops' | 'matmul-nbits' | 'gather-block-quantized' | 'matmul-bnb4' | 'qdq-int8' | 'qdq-int4';

export interface PassInfo {
  id: PassId;
  /** op types it has a handler for */
  ops: readonly string[];
  /** how a user selects it, and the operators it writes */
  how: string;
  /** runs it on the model with a variant's options */
  run(model: ModelProto, variant: Variant, o: OnnxQuantOptions): TransformReport;
}

/** the options every pass takes: node selection and dry runs */
const common = (o: OnnxQuantOptions) => ({ dryRun: o.dryRun, opTypes: o.opTypes, excludeNodes: o.excludeNodes });

/** transformers.js's weight types: q8 ("quantized") has uint8 weights when the model has convolutions (what ConvInteger takes everywhere), int8 otherwise */
function integerOps(model: ModelProto, variant: Variant, o: OnnxQuantOptions): TransformReport {
  const hasConv = variant === 'q8' && model.graph!.node.some((n) => n.opType === 'Conv');
  const weightType = variant === 'uint8' || hasConv ? 'uint8' : 'int8';
  return quantizeDynamicInt8(model, {
    weightType,
    convWeightType: variant === 'int8' ? 'int8' : 'uint8',
    perChannel: o.perChannel,
    symmetric: o.symmetric ?? (o.asymmetric ? false : undefined),
    reduceRange: o.reduceRange,
    ...common(o),
  });
}

const weightOnly = (bits: WeightOnlyOptions['bits']) => (model: ModelProto, _v: Variant, o: OnnxQuantOptions) =>
  quantizeWeightOnly(model, {
    bits,
    perChannel: o.perChannel,
    blockSize: o.blockSize,
    asymmetric: o.asymmetric,
    ...common(o),
  });

export const PASSES: readonly PassInfo[] = [
  {
    id: 'integer-ops',
    ops: Object.keys(INTEGER_OPS_HANDLERS),
    how: '--type q8, int8 or uint8 (MatMulInteger/ConvInteger)',
    run: integerOps,
  },
  {
    id: 'matmul-nbits',
    ops: Object.keys(MATMUL_NBITS_HANDLERS),
    how: '--type q4 or q4f16 (MatMulNBits)',
    run: (model, _v, o) =>
      quantizeMatMul4Bits(model, {
        blockSize: o.blockSize,
        asymmetric: o.asymmetric,
        accuracyLevel: o.accuracyLevel,
        ...common(o),
      }),
  },
  {
    id: 'gather-block-quantized',
    ops: Object.keys(GATHER_QUANTIZED_HANDLERS),
    how: '--type q4 --embeddings (GatherBlockQuantized)',
    run: (model, _v, o) =>
      quantizeEmbeddings(model, { blockSize: o.blockSize, asymmetric: o.asymmetric, ...common(o) }),
  },
  {
    id: 'matmul-bnb4',
    ops: Object.keys(MATMUL_BNB4_HANDLERS),
    how: '--type bnb4 (MatMulBnb4)',
    run: (model, _v, o) => quantizeMatMulBnb4(model, { blockSize: o.blockSize ?? 64, ...common(o) }),
  },
  {
    id: 'qdq-int8',
    ops: Object.keys(QDQ_INT8_HANDLERS),
    how: '--weight-only int8 (DequantizeLinear)',
    run: weightOnly(8),
  },
  {
    id: 'qdq-int4',
    ops: Object.keys(QDQ_INT4_HANDLERS),
    how: '--weight-only int4 (block-wise DequantizeLinear, opset 21)',
    run: weightOnly(4),
  },
];

/** Ops with weights that no lowbit pass quantizes, and what does. */
const ELSEWHERE: Record<string, string> = {
  LSTM: "lowbit has no LSTM quantizer (ONNX Runtime's quantize_dynamic writes com.microsoft DynamicQuantizeLSTM)",
  GRU: 'lowbit has no GRU quantizer',
  RNN: 'lowbit has no RNN quantizer',
  ConvTranspose: "lowbit has no ConvTranspose quantizer (ONNX Runtime's static QDQ quantizer has one)",
  Attention: "lowbit has no com.microsoft Attention quantizer (ONNX Runtime's quantize_dynamic does)",
};

export function passInfo(id: PassId): PassInfo {
  return PASSES.find((p) => p.id === id)!;
}

/** The ways to quantize an op type's weights, or a sentence saying there is none. */
export function howToQuantize(op: string): string {
  const ways = PASSES.filter((p) => p.ops.includes(op)).map((p) => p.how);
  if (ways.length) return ways.join('; or ');
  return (Object.hasOwn(ELSEWHERE, op) && ELSEWHERE[op]) || `lowbit has no ${op} quantizer`;
}
