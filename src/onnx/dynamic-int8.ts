// Dynamic INT8 quantization (transformers.js's q8 / int8 / uint8): weights of MatMul, Gemm and Conv
// quantized ahead of time (ONNX Runtime's quantizer arithmetic, src/formats/scalar/affine.ts),
// activations quantized at run time by DynamicQuantizeLinear, products in MatMulInteger/ConvInteger,
// rescaled to float by the two scales — the IntegerOps form ONNX Runtime's quantize_dynamic writes.
// Before opset 11 (no DynamicQuantizeLinear) MatMul/Gemm become com.microsoft DynamicQuantizeMatMul
// and Conv reads a com.microsoft DequantizeLinear of its int8 weight.
import type { ModelProto, NodeProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, int64Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor, type IntType, type QuantizedTensor } from '../formats/scalar/affine.js';
import { attrFloat, attrInt, node, opsetVersion } from './graph.js';
import { dimsOf, isFloatInit, tensorBytes, transpose, type TransformReport } from './common.js';
import { runPass, type NodePlan, type NodeSelection, type OpHandler, type PassContext } from './pass.js';

export interface DynamicInt8Options extends NodeSelection {
  /** weight type for MatMul/Gemm ('int8' default) */
  weightType?: 'int8' | 'uint8';
  /** weight type for Conv: ONNX Runtime's CPU ConvInteger takes uint8 weights only */
  convWeightType?: 'int8' | 'uint8';
  perChannel?: boolean;
  /** default: symmetric for int8, asymmetric for uint8 (ONNX Runtime's defaults) */
  symmetric?: boolean;
  reduceRange?: boolean;
  /** plan only: report what would happen, change nothing */
  dryRun?: boolean;
  /** skip weights smaller than this many elements */
  minElements?: number;
}

/** activation -> its DynamicQuantizeLinear outputs (q, scale, zero point), made once per graph */
type Activations = Map<string, [string, string, string]>;

interface Int8Plan extends NodePlan {
  /** weight dims as quantized ([K, N] for Gemm with transB undone) */
  wd: number[];
  wt: IntType;
  qt: QuantizedTensor;
  /** channels with their own scale (1 per tensor) */
  C: number;
}

/** MatMul, Gemm and Conv -> DynamicQuantizeLinear + MatMulInteger/ConvInteger (or the pre-opset-11 forms). */
export function integerOpsHandler(opts: DynamicInt8Options, legacy: boolean): OpHandler<Int8Plan, Activations> {
  return {
    plan(n, ctx) {
      const wName = n.input[1];
      if (!wName) return null;
      const w = ctx.inits.get(wName);
      if (!isFloatInit(w)) return 'weight is not a float32 constant';
      if (ctx.types.get(n.input[0]!) !== undefined && ctx.types.get(n.input[0]!) !== DT.FLOAT)
        return 'input is not float32';
      const wd = dimsOf(w);
      if (wd.reduce((a, b) => a * b, 1) < (opts.minElements ?? 0)) return 'weight too small';
      let wf = tensorToFloat32(w);
      const isConv = n.opType === 'Conv';
      if (isConv) {
        if (wd.length < 3) return 'unusual Conv weight rank';
      } else {
        if (wd.length !== 2) return `weight rank ${wd.length} (only 2-D weights)`;
        if (n.opType === 'Gemm') {
          if (attrInt(n, 'transA', 0)) return 'Gemm with transA';
          if (n.input[2] && !ctx.inits.has(n.input[2])) return 'Gemm bias is not a constant';
          const alpha = attrFloat(n, 'alpha', 1);
          if (attrInt(n, 'transB', 0)) {
            wf = transpose(wf, wd[0]!, wd[1]!);
            wd.reverse();
          }
          if (alpha !== 1) wf = wf.map((v) => Math.fround(v * alpha));
        }
      }
      const wt: IntType = isConv ? (opts.convWeightType ?? 'uint8') : (opts.weightType ?? 'int8');
      const symmetric = opts.symmetric ?? wt === 'int8';
      // MatMul/Gemm: one scale per output column (axis 1 of [K,N]); Conv: per output channel (axis 0)
      const axis = isConv ? 0 : 1;
      const perChannel = !!opts.perChannel;
      const qt = perChannel
        ? quantizePerChannel(wf, wd, axis, wt, symmetric, opts.reduceRange)
        : quantizePerTensor(wf, wt, symmetric, opts.reduceRange);
      const C = perChannel ? wd[axis]! : 1;
      // ConvInteger takes only a scalar weight zero point: per-channel Conv needs them all equal
      if (isConv && perChannel && !legacy && !qt.zeroPoints.every((z) => z === qt.zeroPoints[0])) {
        return 'per-channel ConvInteger needs one zero point (use symmetric)';
      }
      const form = legacy
        ? isConv
          ? 'DequantizeLinear+Conv'
          : 'DynamicQuantizeMatMul'
        : isConv
          ? 'ConvInteger'
          : 'MatMulInteger';
      return {
        action: `${form} ${wt} ${perChannel ? 'per-channel' : 'per-tensor'}${symmetric ? ' symmetric' : ''}`,
        weight: wName,
        shape: dimsOf(w),
        bytesBefore: tensorBytes(w),
        bytesAfter: wf.length + C * 5,
        wd,
        wt,
        qt,
        C,
      };
    },
    rewrite(n, p, ctx) {
      const { namer, addInit, out } = ctx;
      const { wd, qt, C } = p;
      const wName = p.weight;
      const isConv = n.opType === 'Conv';
      const perChannel = !!opts.perChannel;
      const qName = namer.fresh(`${wName}_quantized`);
      const qdt = p.wt === 'int8' ? DT.INT8 : DT.UINT8;
      addInit(
        makeTensor(
          qName,
          qdt,
          wd,
          Uint8Array.from(qt.q, (v) => v & 0xff),
        ),
      );
      const sName = namer.fresh(`${wName}_scale`);
      const zName = namer.fresh(`${wName}_zero_point`);
      const y = n.output[0]!;
      const base = n.name || y;
      if (legacy && isConv) {
        // int8 weights dequantized by com.microsoft DequantizeLinear, the convolution itself in float
        addInit(float32Tensor(sName, perChannel ? [C] : [], qt.scales));
        addInit(
          makeTensor(
            zName,
            qdt,
            perChannel ? [C] : [],
            Uint8Array.from(qt.zeroPoints.subarray(0, C), (z) => z & 0xff),
          ),
        );
        const wDeq = namer.fresh(`${wName}_dequantized`);
        out.push(
          node(
            'DequantizeLinear',
            [qName, sName, zName],
            [wDeq],
            namer.fresh(`${wName}_DequantizeLinear`),
            perChannel ? { axis: 0 } : {},
            'com.microsoft',
          ),
        );
        const conv = node('Conv', [n.input[0]!, wDeq, ...n.input.slice(2)], [...n.output], n.name);
        conv.attribute = n.attribute;
        out.push(conv);
        return;
      }
      const scaleShape = perChannel ? (isConv ? [1, C, ...wd.slice(2).map(() => 1)] : [C]) : [];
      addInit(float32Tensor(sName, scaleShape, qt.scales));
      const zpCount = isConv ? 1 : C;
      addInit(
        makeTensor(
          zName,
          qdt,
          isConv || !perChannel ? [] : [C],
          Uint8Array.from(qt.zeroPoints.subarray(0, zpCount), (z) => z & 0xff),
        ),
      );
      const bias = isConv || n.opType === 'Gemm' ? n.input[2] : undefined;
      const noBias = bias ? namer.fresh(`${y}_no_bias`) : y;
      if (legacy) {
        // the fused com.microsoft form ONNX Runtime would make of the chain below
        out.push(
          node(
            'DynamicQuantizeMatMul',
            [n.input[0]!, qName, sName, zName],
            [noBias],
            namer.fresh(`${base}_quant`),
            {},
            'com.microsoft',
          ),
        );
      } else {
        integerProduct(n, qName, sName, zName, noBias, ctx);
      }
      if (bias) addBias(n, bias, wd, noBias, ctx);
    },
  };
}

/** x -> DynamicQuantizeLinear (once per activation) -> MatMulInteger/ConvInteger -> Cast -> × both scales */
function integerProduct(
  n: NodeProto,
  qName: string,
  sName: string,
  zName: string,
  result: string,
  ctx: PassContext<Activations>,
): void {
  const { namer, out } = ctx;
  const x = n.input[0]!,
    y = n.output[0]!,
    base = n.name || y;
  let act = ctx.local.get(x);
  if (!act) {
    act = [namer.fresh(`${x}_quantized`), namer.fresh(`${x}_scale`), namer.fresh(`${x}_zero_point`)];
    out.push(node('DynamicQuantizeLinear', [x], [...act], namer.fresh(`${x}_QuantizeLinear`)));
    ctx.local.set(x, act);
  }
  const [xq, xs, xz] = act;
  const i32 = namer.fresh(`${y}_output_quantized`);
  if (n.opType === 'Conv') {
    const ci = node('ConvInteger', [xq, qName, xz, zName], [i32], namer.fresh(`${base}_quant`));
    ci.attribute = n.attribute;
    out.push(ci);
  } else {
    out.push(node('MatMulInteger', [xq, qName, xz, zName], [i32], namer.fresh(`${base}_quant`)));
  }
  const f = namer.fresh(`${y}_output_cast`);
  out.push(node('Cast', [i32], [f], namer.fresh(`${base}_cast`), { to: DT.FLOAT }));
  const s = namer.fresh(`${y}_scale_mul`);
  out.push(node('Mul', [xs, sName], [s], namer.fresh(`${base}_scales_mul`)));
  out.push(node('Mul', [f, s], [result], namer.fresh(`${base}_output_scale_mul`)));
}

/** The bias Conv and Gemm added themselves, as an Add after the integer product (Conv's broadcast as [1, M, 1, 1]). */
function addBias(
  n: NodeProto,
  bias: string,
  wd: number[],
  noBias: string,
  { inits, namer, addInit, out }: PassContext<Activations>,
): void {
  const y = n.output[0]!,
    base = n.name || y;
  const isConv = n.opType === 'Conv';
  let b = bias;
  const bt = inits.get(bias);
  if (isConv && bt) {
    b = namer.fresh(`${bias}_reshaped`);
    addInit(float32Tensor(b, [1, wd[0]!, ...wd.slice(2).map(() => 1)], tensorToFloat32(bt)));
  } else if (n.opType === 'Gemm' && bt) {
    const beta = attrFloat(n, 'beta', 1);
    if (beta !== 1) {
      b = namer.fresh(`${bias}_beta`);
      addInit(
        float32Tensor(
          b,
          dimsOf(bt),
          tensorToFloat32(bt).map((v) => Math.fround(v * beta)),
        ),
      );
    }
  } else if (isConv) {
    // bias from a non-constant: reshape at run time
    b = namer.fresh(`${bias}_reshaped`);
    const shape = namer.fresh(`${bias}_shape`);
    addInit(int64Tensor(shape, [wd.length], [1, -1, ...wd.slice(2).map(() => 1)]));
    out.push(node('Reshape', [bias, shape], [b], namer.fresh(`${base}_bias_reshape`)));
  }
  out.push(node('Add', [noBias, b], [y], namer.fresh(`${base}_bias_add`)));
}

export const INTEGER_OPS = ['MatMul', 'Gemm', 'Conv'];

export function quantizeDynamicInt8(model: ModelProto, opts: DynamicInt8Options = {}): TransformReport {
  // DynamicQuantizeLinear is opset 11; MatMulInteger/ConvInteger 10
  const legacy = opsetVersion(model) < 11;
  const h = integerOpsHandler(opts, legacy);
  return runPass<Activations>(model, {
    handlers: Object.fromEntries(INTEGER_OPS.map((op) => [op, h])),
    dryRun: opts.dryRun,
    opTypes: opts.opTypes,
    excludeNodes: opts.excludeNodes,
    local: () => new Map(),
    alwaysPrune: true,
    opset: legacy ? ['com.microsoft', 1] : undefined,
  });
}
