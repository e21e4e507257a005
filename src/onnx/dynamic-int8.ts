// Dynamic INT8 quantization (transformers.js's q8 / int8 / uint8): weights of MatMul, Gemm and Conv
// quantized ahead of time (ONNX Runtime's quantizer arithmetic, src/formats/scalar/affine.ts),
// activations quantized at run time by DynamicQuantizeLinear, products in MatMulInteger/ConvInteger,
// rescaled to float by the two scales — the IntegerOps form ONNX Runtime's quantize_dynamic writes.
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, int64Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor, type IntType, type QuantizedTensor } from '../formats/scalar/affine.js';
import { Namer, attrFloat, attrInt, ensureOpset, inferElemTypes, node, opsetVersion } from './graph.js';
import { dimsOf, forEachGraph, isFloatInit, newReport, nodeLabel, pruneAll, tensorBytes, type TransformReport, keepNode } from './common.js';

export interface DynamicInt8Options {
  /** weight type for MatMul/Gemm ('int8' default) */
  weightType?: 'int8' | 'uint8';
  /** weight type for Conv: ONNX Runtime's CPU ConvInteger takes uint8 weights only */
  convWeightType?: 'int8' | 'uint8';
  perChannel?: boolean;
  /** default: symmetric for int8, asymmetric for uint8 (ONNX Runtime's defaults) */
  symmetric?: boolean;
  reduceRange?: boolean;
  ops?: string[];
  /** plan only: report what would happen, change nothing */
  dryRun?: boolean;
  /** skip weights smaller than this many elements */
  minElements?: number;
}

const DEFAULT_OPS = ['MatMul', 'Gemm', 'Conv'];

export function quantizeDynamicInt8(model: ModelProto, opts: DynamicInt8Options = {}): TransformReport {
  const top = model.graph!;
  const report = newReport();
  const ops = new Set(opts.ops ?? DEFAULT_OPS);
  const namer = new Namer(top);
  // DynamicQuantizeLinear is opset 11; MatMulInteger/ConvInteger 10
  const legacy = opsetVersion(model) < 11;
  const newInits: TensorProto[] = [];

  forEachGraph(top, opts.dryRun, (g, inits) => {
    const types = inferElemTypes(g);
    const dql = new Map<string, [string, string, string]>(); // activation -> (q, scale, zp) already made
    const out: NodeProto[] = [];
    // each activation is quantized once per graph, however many ops read it
    const quantAct = (x: string): [string, string, string] => {
      let r = dql.get(x);
      if (!r) {
        r = [namer.fresh(`${x}_quantized`), namer.fresh(`${x}_scale`), namer.fresh(`${x}_zero_point`)];
        out.push(node('DynamicQuantizeLinear', [x], [...r], namer.fresh(`${x}_QuantizeLinear`)));
        dql.set(x, r);
      }
      return r;
    };
    g.node.forEach((n, idx) => {
      const label = nodeLabel(n, idx);
      const wName = n.opType === 'Conv' ? n.input[1] : n.opType === 'Gemm' || n.opType === 'MatMul' ? n.input[1] : undefined;
      if (!ops.has(n.opType) || !wName || n.domain) { out.push(n); return; }
      const w = inits.get(wName);
      const skip = keepNode(report, out, n, label);
      if (!isFloatInit(w)) return skip('weight is not a float32 constant');
      if (types.get(n.input[0]!) !== undefined && types.get(n.input[0]!) !== DT.FLOAT) return skip('input is not float32');
      const wd = dimsOf(w);
      if (wd.reduce((a, b) => a * b, 1) < (opts.minElements ?? 0)) return skip('weight too small');
      let wf = tensorToFloat32(w);
      if (n.opType === 'Conv') {
        if (wd.length < 3) return skip('unusual Conv weight rank');
      } else {
        if (wd.length !== 2) return skip(`weight rank ${wd.length} (only 2-D weights)`);
        if (n.opType === 'Gemm') {
          if (attrInt(n, 'transA', 0)) return skip('Gemm with transA');
          if (n.input[2] && !inits.has(n.input[2])) return skip('Gemm bias is not a constant');
          const alpha = attrFloat(n, 'alpha', 1);
          if (attrInt(n, 'transB', 0)) { wf = transpose(wf, wd[0]!, wd[1]!); wd.reverse(); }
          if (alpha !== 1) wf = wf.map((v) => Math.fround(v * alpha));
        }
      }
      const isConv = n.opType === 'Conv';
      const wt: IntType = isConv ? (opts.convWeightType ?? 'uint8') : (opts.weightType ?? 'int8');
      const symmetric = opts.symmetric ?? wt === 'int8';
      // MatMul/Gemm: one scale per output column (axis 1 of [K,N]); Conv: per output channel (axis 0)
      const axis = isConv ? 0 : 1;
      const perChannel = !!opts.perChannel;
      // Conv weights take a zero point per channel only through DequantizeLinear (legacy path)
      const qt: QuantizedTensor = perChannel ? quantizePerChannel(wf, wd, axis, wt, symmetric, opts.reduceRange) : quantizePerTensor(wf, wt, symmetric, opts.reduceRange);
      const C = perChannel ? wd[axis]! : 1;
      // ConvInteger takes only a scalar weight zero point: per-channel Conv needs them all equal
      if (isConv && perChannel && !legacy && !qt.zeroPoints.every((z) => z === qt.zeroPoints[0])) {
        return skip('per-channel ConvInteger needs one zero point (use symmetric)');
      }
      const bytesBefore = tensorBytes(w);
      const bytesAfter = wf.length + C * 5;
      report.actions.push({ node: label, op: n.opType, action: `${legacy ? (isConv ? 'DequantizeLinear+Conv' : 'DynamicQuantizeMatMul') : isConv ? 'ConvInteger' : 'MatMulInteger'} ${wt} ${perChannel ? 'per-channel' : 'per-tensor'}${symmetric ? ' symmetric' : ''}`, weight: wName, shape: dimsOf(w), bytesBefore, bytesAfter });
      if (opts.dryRun) { out.push(n); return; }

      const qName = namer.fresh(`${wName}_quantized`);
      const qBytes = new Uint8Array(qt.q.length);
      for (let i = 0; i < qt.q.length; i++) qBytes[i] = qt.q[i]! & 0xff;
      const qdt = wt === 'int8' ? DT.INT8 : DT.UINT8;
      newInits.push(makeTensor(qName, qdt, wd, qBytes));
      const sName = namer.fresh(`${wName}_scale`);
      const zName = namer.fresh(`${wName}_zero_point`);
      const y = n.output[0]!;
      const base = n.name || y;
      if (legacy && isConv) {
        // before opset 11 (no DynamicQuantizeLinear): int8 weights dequantized by com.microsoft
        // DequantizeLinear, the convolution itself in float
        newInits.push(float32Tensor(sName, perChannel ? [C] : [], qt.scales));
        const zb = Uint8Array.from(qt.zeroPoints.subarray(0, C), (z) => z & 0xff);
        newInits.push(makeTensor(zName, qdt, perChannel ? [C] : [], zb));
        const wDeq = namer.fresh(`${wName}_dequantized`);
        out.push(node('DequantizeLinear', [qName, sName, zName], [wDeq], namer.fresh(`${wName}_DequantizeLinear`), perChannel ? { axis: 0 } : {}, 'com.microsoft'));
        const conv = node('Conv', [n.input[0]!, wDeq, ...n.input.slice(2)], [...n.output], n.name);
        conv.attribute = n.attribute;
        out.push(conv);
        return;
      }
      const scaleShape = perChannel ? (isConv ? [1, C, ...wd.slice(2).map(() => 1)] : [C]) : [];
      newInits.push(float32Tensor(sName, scaleShape, qt.scales));
      const zpCount = isConv ? 1 : C;
      const zb = new Uint8Array(zpCount);
      for (let i = 0; i < zpCount; i++) zb[i] = qt.zeroPoints[i]! & 0xff;
      newInits.push(makeTensor(zName, qdt, isConv || !perChannel ? [] : [C], zb));

      const bias = isConv ? n.input[2] : n.opType === 'Gemm' ? n.input[2] : undefined;
      const noBias = bias ? namer.fresh(`${y}_no_bias`) : y;
      if (legacy) {
        // before opset 11: the fused com.microsoft form ONNX Runtime would make of the chain below
        out.push(node('DynamicQuantizeMatMul', [n.input[0]!, qName, sName, zName], [noBias], namer.fresh(`${base}_quant`), {}, 'com.microsoft'));
      } else {
        const [xq, xs, xz] = quantAct(n.input[0]!);
        const i32 = namer.fresh(`${y}_output_quantized`);
        if (isConv) {
          const attrs = n.attribute;
          const ci = node('ConvInteger', [xq, qName, xz, zName], [i32], namer.fresh(`${base}_quant`));
          ci.attribute = attrs;
          out.push(ci);
        } else {
          out.push(node('MatMulInteger', [xq, qName, xz, zName], [i32], namer.fresh(`${base}_quant`)));
        }
        const f = namer.fresh(`${y}_output_cast`);
        out.push(node('Cast', [i32], [f], namer.fresh(`${base}_cast`), { to: DT.FLOAT }));
        const s = namer.fresh(`${y}_scale_mul`);
        out.push(node('Mul', [xs, sName], [s], namer.fresh(`${base}_scales_mul`)));
        out.push(node('Mul', [f, s], [noBias], namer.fresh(`${base}_output_scale_mul`)));
      }
      if (!bias) return;
      let b = bias;
      const bt = inits.get(bias);
      if (isConv && bt) {
        // Conv's bias is [M]; added to NCHW output it must broadcast as [1, M, 1, 1]
        b = namer.fresh(`${bias}_reshaped`);
        newInits.push(float32Tensor(b, [1, wd[0]!, ...wd.slice(2).map(() => 1)], tensorToFloat32(bt)));
      } else if (n.opType === 'Gemm' && bt) {
        const beta = attrFloat(n, 'beta', 1);
        if (beta !== 1) { b = namer.fresh(`${bias}_beta`); newInits.push(float32Tensor(b, dimsOf(bt), tensorToFloat32(bt).map((v) => Math.fround(v * beta)))); }
      } else if (isConv) {
        // bias from a non-constant: reshape at run time
        b = namer.fresh(`${bias}_reshaped`);
        const shape = namer.fresh(`${bias}_shape`);
        newInits.push(int64Tensor(shape, [wd.length], [1, -1, ...wd.slice(2).map(() => 1)]));
        out.push(node('Reshape', [bias, shape], [b], namer.fresh(`${base}_bias_reshape`)));
      }
      out.push(node('Add', [noBias, b], [y], namer.fresh(`${base}_bias_add`)));
    });
    if (!opts.dryRun) g.node = out;
  });
  if (!opts.dryRun) {
    top.initializer.push(...newInits);
    pruneAll(top);
    if (legacy && report.actions.some((a) => !a.action.startsWith('kept'))) ensureOpset(model, 'com.microsoft', 1);
  }
  return report;
}

export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = x[r * cols + c]!;
  return o;
}
