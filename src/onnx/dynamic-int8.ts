// Dynamic INT8 quantization (transformers.js's q8 / int8 / uint8): weights of MatMul, Gemm and Conv
// quantized ahead of time (ONNX Runtime's quantizer arithmetic, src/formats/scalar/affine.ts),
// activations quantized at run time by DynamicQuantizeLinear, products in MatMulInteger/ConvInteger,
// rescaled to float by the two scales — the IntegerOps form ONNX Runtime's quantize_dynamic writes.
// Before opset 11 (no DynamicQuantizeLinear) MatMul/Gemm become com.microsoft DynamicQuantizeMatMul
// and Conv reads a com.microsoft DequantizeLinear of its int8 weight.
import type { AttributeProto, ModelProto, NodeProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, int64Tensor, numElements, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor, type QuantizedTensor } from '../formats/scalar/affine.js';
import { node, opsetVersion } from './graph.js';
import { floatWeight, tensorBytes, type TransformReport } from './common.js';
import { handlersOf, runPass, type HandlerTable, type NodePlan, type OpHandler, type PassContext } from './pass.js';
import {
  addBias,
  addFloats,
  addInt8,
  baseName,
  emit,
  MS_DOMAIN,
  foldAlpha,
  gemmBias,
  gemmRefusal,
  productOutput,
  selection,
  transB,
  weightKN,
  type PassOptions,
} from './rewrite.js';

export interface DynamicInt8Options extends PassOptions {
  /** weight type for MatMul/Gemm ('int8' default) */
  weightType?: 'int8' | 'uint8';
  /** weight type for Conv: ONNX Runtime's CPU ConvInteger takes uint8 weights only */
  convWeightType?: 'int8' | 'uint8';
  perChannel?: boolean;
  /** default: symmetric for int8, asymmetric for uint8 (ONNX Runtime's defaults) */
  symmetric?: boolean;
  reduceRange?: boolean;
  /** skip weights smaller than this many elements */
  minElements?: number;
}

/** The options and the model's form: before opset 11 (no DynamicQuantizeLinear), the com.microsoft one. */
interface IntegerOpsConfig extends DynamicInt8Options {
  legacy: boolean;
}

/** activation -> its DynamicQuantizeLinear outputs (q, scale, zero point), made once per graph */
type Activations = Map<string, [string, string, string]>;
type Ctx = PassContext<Activations>;
type Int8Type = 'int8' | 'uint8';

interface Int8Plan extends NodePlan {
  /** weight dims as quantized ([K, N] for Gemm with transB undone) */
  wd: number[];
  wt: Int8Type;
  qt: QuantizedTensor;
  /** channels with their own scale (1 per tensor) */
  C: number;
}

/** What differs between the ops the pass quantizes: the rest of plan() is shared. */
interface IntegerOp {
  /** the weight to quantize, as float values and dims (after the op's own checks), or why not */
  weight(n: NodeProto, f: Float32Array, wd: number[], ctx: Ctx): { wf: Float32Array; wd: number[] } | string;
  /** the weights' own scales run along this axis of wd (output channels) */
  axis: number;
  weightType(o: IntegerOpsConfig): Int8Type;
  /** why quantized weights cannot be used, if they cannot */
  refuse?(qt: QuantizedTensor, o: IntegerOpsConfig): string | undefined;
  /** the operator the report names: before opset 11, and from 11 */
  forms: [string, string];
  rewrite(n: NodeProto, p: Int8Plan, ctx: Ctx, o: IntegerOpsConfig): void;
}

/** The shared plan: the weight checks, ONNX Runtime's quantization of it, and the report row. */
function planInt8(n: NodeProto, ctx: Ctx, o: IntegerOpsConfig, op: IntegerOp): Int8Plan | string | null {
  const wName = n.input[1];
  if (!wName) return null;
  const fw = floatWeight(n, ctx);
  if (typeof fw === 'string') return fw;
  if (fw.wd.reduce((a, b) => a * b, 1) < (o.minElements ?? 0)) return 'weight too small';
  const mw = op.weight(n, tensorToFloat32(fw.w), fw.wd, ctx);
  if (typeof mw === 'string') return mw;
  const { wf, wd } = mw;
  const wt = op.weightType(o);
  const symmetric = o.symmetric ?? wt === 'int8';
  const perChannel = !!o.perChannel;
  const qt = perChannel
    ? quantizePerChannel(wf, wd, op.axis, wt, symmetric, o.reduceRange)
    : quantizePerTensor(wf, wt, symmetric, o.reduceRange);
  const refusal = op.refuse?.(qt, o);
  if (refusal) return refusal;
  const C = perChannel ? wd[op.axis]! : 1;
  return {
    action: `${op.forms[o.legacy ? 0 : 1]} ${wt} ${perChannel ? 'per-channel' : 'per-tensor'}${symmetric ? ' symmetric' : ''}`,
    // (the input's name: a Constant node's tensor may carry another name in dry runs)
    weight: wName,
    shape: fw.wd,
    bytesBefore: tensorBytes(fw.w),
    bytesAfter: wf.length + C * 5,
    wd,
    wt,
    qt,
    C,
  };
}

/** The quantized weight, its scale(s) and zero point(s) as new initializers: their names. */
function weightInits(p: Int8Plan, scaleDims: number[], zpDims: number[], ctx: Ctx): [string, string, string] {
  const zps = p.qt.zeroPoints.subarray(0, numElements(zpDims));
  return [
    addInt8(ctx, `${p.weight}_quantized`, p.wt, p.wd, p.qt.q),
    addFloats(ctx, `${p.weight}_scale`, scaleDims, p.qt.scales),
    addInt8(ctx, `${p.weight}_zero_point`, p.wt, zpDims, zps),
  ];
}

/** x -> DynamicQuantizeLinear (once per activation) -> MatMulInteger/ConvInteger -> Cast -> × both scales */
function integerProduct(
  n: NodeProto,
  opType: string,
  attrs: AttributeProto[],
  [q, s, z]: [string, string, string],
  result: string,
  ctx: Ctx,
): void {
  const x = n.input[0]!,
    y = n.output[0]!,
    base = baseName(n);
  let act = ctx.local.get(x);
  if (!act) {
    act = [ctx.namer.fresh(`${x}_quantized`), ctx.namer.fresh(`${x}_scale`), ctx.namer.fresh(`${x}_zero_point`)];
    emit(ctx, 'DynamicQuantizeLinear', [x], [...act], `${x}_QuantizeLinear`);
    ctx.local.set(x, act);
  }
  const [xq, xs, xz] = act;
  const i32 = ctx.namer.fresh(`${y}_output_quantized`);
  emit(ctx, opType, [xq, q, xz, z], [i32], `${base}_quant`).attribute = attrs;
  const f = ctx.namer.fresh(`${y}_output_cast`);
  emit(ctx, 'Cast', [i32], [f], `${base}_cast`, { to: DT.FLOAT });
  const scale = ctx.namer.fresh(`${y}_scale_mul`);
  emit(ctx, 'Mul', [xs, s], [scale], `${base}_scales_mul`);
  emit(ctx, 'Mul', [f, scale], [result], `${base}_output_scale_mul`);
}

/** MatMul and Gemm: MatMulInteger (or DynamicQuantizeMatMul), then Gemm's bias times beta as an Add. */
function rewriteMatMul(gemm: boolean): IntegerOp['rewrite'] {
  return (n, p, ctx, o) => {
    const channels = o.perChannel ? [p.C] : [];
    const weight = weightInits(p, channels, channels, ctx);
    const bias = gemm ? n.input[2] : undefined;
    const product = productOutput(n, !!bias, ctx);
    // before opset 11: the fused com.microsoft form ONNX Runtime would make of the chain
    if (o.legacy)
      emit(ctx, 'DynamicQuantizeMatMul', [n.input[0]!, ...weight], [product], `${baseName(n)}_quant`, {}, MS_DOMAIN);
    else integerProduct(n, 'MatMulInteger', [], weight, product, ctx);
    if (bias) addBias(n, product, gemmBias(n, bias, ctx), ctx);
  };
}

/** Conv: ConvInteger and its bias as an Add broadcast as [1, M, 1, 1]; before opset 11, a dequantized weight. */
function rewriteConv(n: NodeProto, p: Int8Plan, ctx: Ctx, o: IntegerOpsConfig): void {
  const { wd, C } = p;
  const ones = wd.slice(2).map(() => 1);
  if (o.legacy) {
    // int8 weights dequantized by com.microsoft DequantizeLinear, the convolution itself in float
    const channels = o.perChannel ? [C] : [];
    const weight = weightInits(p, channels, channels, ctx);
    const wDeq = ctx.namer.fresh(`${p.weight}_dequantized`);
    const attrs: Record<string, number> = o.perChannel ? { axis: 0 } : {};
    emit(ctx, 'DequantizeLinear', weight, [wDeq], `${p.weight}_DequantizeLinear`, attrs, MS_DOMAIN);
    const conv = node('Conv', [n.input[0]!, wDeq, ...n.input.slice(2)], [...n.output], n.name);
    conv.attribute = n.attribute;
    ctx.out.push(conv);
    return;
  }
  // ConvInteger takes one weight zero point; the scales broadcast over the output channels
  const weight = weightInits(p, o.perChannel ? [1, C, ...ones] : [], [], ctx);
  const bias = n.input[2];
  const product = productOutput(n, !!bias, ctx);
  integerProduct(n, 'ConvInteger', n.attribute, weight, product, ctx);
  if (!bias) return;
  const b = ctx.namer.fresh(`${bias}_reshaped`);
  const bt = ctx.inits.get(bias);
  if (bt) ctx.addInit(float32Tensor(b, [1, wd[0]!, ...ones], tensorToFloat32(bt)));
  else {
    // bias from a non-constant: reshape at run time
    const shape = ctx.namer.fresh(`${bias}_shape`);
    ctx.addInit(int64Tensor(shape, [wd.length], [1, -1, ...ones]));
    emit(ctx, 'Reshape', [bias, shape], [b], `${baseName(n)}_bias_reshape`);
  }
  addBias(n, product, b, ctx);
}

/** the MatMul/Gemm weight type (int8 by default) */
const matmulWeightType = (o: IntegerOpsConfig): Int8Type => o.weightType ?? 'int8';
const MATMUL_FORMS: [string, string] = ['DynamicQuantizeMatMul', 'MatMulInteger'];

const MATMUL: IntegerOp = {
  weight: (_n, f, wd) => (wd.length !== 2 ? `weight rank ${wd.length} (only 2-D weights)` : { wf: f, wd }),
  // one scale per output column (axis 1 of [K, N])
  axis: 1,
  weightType: matmulWeightType,
  forms: MATMUL_FORMS,
  rewrite: rewriteMatMul(false),
};

const GEMM: IntegerOp = {
  weight(n, f, wd, ctx) {
    if (wd.length !== 2) return `weight rank ${wd.length} (only 2-D weights)`;
    const refusal = gemmRefusal(n, ctx.inits, true);
    if (refusal) return refusal;
    const { wf, K, N } = weightKN(f, wd, transB(n));
    return { wf: foldAlpha(n, wf), wd: [K, N] };
  },
  axis: 1,
  weightType: matmulWeightType,
  forms: MATMUL_FORMS,
  rewrite: rewriteMatMul(true),
};

const CONV: IntegerOp = {
  weight: (_n, f, wd) => (wd.length < 3 ? 'unusual Conv weight rank' : { wf: f, wd }),
  // one scale per output channel (axis 0)
  axis: 0,
  // ONNX Runtime's CPU ConvInteger takes uint8 weights only
  weightType: (o) => o.convWeightType ?? 'uint8',
  // ConvInteger takes only a scalar weight zero point: per-channel Conv needs them all equal
  refuse: (qt, o) =>
    o.perChannel && !o.legacy && !qt.zeroPoints.every((z) => z === qt.zeroPoints[0])
      ? 'per-channel ConvInteger needs one zero point (use symmetric)'
      : undefined,
  forms: ['DequantizeLinear+Conv', 'ConvInteger'],
  rewrite: rewriteConv,
};

function integerOpsHandler(op: IntegerOp): (o: IntegerOpsConfig) => OpHandler<Int8Plan, Activations> {
  return (o) => ({
    plan: (n, ctx) => planInt8(n, ctx, o, op),
    rewrite: (n, p, ctx) => op.rewrite(n, p, ctx, o),
  });
}

/** The integer-ops pass's handlers, by op type (ONNX Runtime's IntegerOpsRegistry). */
export const INTEGER_OPS_HANDLERS: HandlerTable<IntegerOpsConfig, Activations> = {
  MatMul: integerOpsHandler(MATMUL),
  Gemm: integerOpsHandler(GEMM),
  Conv: integerOpsHandler(CONV),
};

export function quantizeDynamicInt8(model: ModelProto, opts: DynamicInt8Options = {}): TransformReport {
  // DynamicQuantizeLinear is opset 11; MatMulInteger/ConvInteger 10
  const legacy = opsetVersion(model) < 11;
  return runPass<Activations>(model, {
    handlers: handlersOf(INTEGER_OPS_HANDLERS, { ...opts, legacy }),
    ...selection(opts),
    local: () => new Map(),
    alwaysPrune: true,
    opset: legacy ? ['com.microsoft', 1] : undefined,
  });
}
