// 4-bit block-wise weights (transformers.js's q4): MatMul and Gemm with constant weights become
// com.microsoft MatMulNBits, quantized as ONNX Runtime's MatMulNBits quantizer does
// (src/formats/scalar/blockwise4.ts). Gemm's alpha is folded into the weight, beta into the bias,
// which MatMulNBits adds itself (its 6th input).
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { Namer, attrFloat, attrInt, ensureOpset, inferElemTypes, node } from './graph.js';
import { dimsOf, forEachGraph, isFloatInit, newReport, nodeLabel, pruneAll, tensorBytes, type TransformReport, keepNode } from './common.js';
import { transpose } from './dynamic-int8.js';
import { LowbitError } from '../errors.js';

export interface Q4Options {
  blockSize?: number;
  /** symmetric by default; asymmetric adds zero points */
  asymmetric?: boolean;
  /** MatMulNBits accuracy_level attribute (0 = unset: full float accumulation) */
  accuracyLevel?: number;
  dryRun?: boolean;
}

export const BLOCK_SIZES = [16, 32, 64, 128];

export function quantizeMatMul4Bits(model: ModelProto, opts: Q4Options = {}): TransformReport {
  const bs = opts.blockSize ?? 32;
  if (!BLOCK_SIZES.includes(bs)) throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`);
  const top = model.graph!;
  const report = newReport();
  const namer = new Namer(top);
  const newInits: TensorProto[] = [];
  let changed = 0;
  forEachGraph(top, opts.dryRun, (g, inits) => {
    const types = inferElemTypes(g);
    const out: NodeProto[] = [];
    g.node.forEach((n, idx) => {
      const label = nodeLabel(n, idx);
      if ((n.opType !== 'MatMul' && n.opType !== 'Gemm') || n.domain) { out.push(n); return; }
      const wName = n.input[1]!;
      const w = inits.get(wName);
      const skip = keepNode(report, out, n, label);
      if (!isFloatInit(w)) return skip('weight is not a float32 constant');
      const a = types.get(n.input[0]!);
      if (a !== undefined && a !== DT.FLOAT) return skip('input is not float32');
      const wd = dimsOf(w);
      if (wd.length !== 2) return skip(`weight rank ${wd.length} (only 2-D weights)`);
      let wf = tensorToFloat32(w);
      let bias: string | undefined;
      if (n.opType === 'Gemm') {
        if (attrInt(n, 'transA', 0)) return skip('Gemm with transA');
        const bt = n.input[2] ? inits.get(n.input[2]) : undefined;
        if (n.input[2] && !bt) return skip('Gemm bias is not a constant');
        if (bt && bt.dims.length > 1 && Number(bt.dims[0]) !== 1) return skip('Gemm bias is not a row vector');
        if (attrInt(n, 'transB', 0)) { wf = transpose(wf, wd[0]!, wd[1]!); wd.reverse(); }
        const alpha = attrFloat(n, 'alpha', 1);
        if (alpha !== 1) wf = wf.map((v) => Math.fround(v * alpha));
        if (bt) {
          const beta = attrFloat(n, 'beta', 1);
          let bv = tensorToFloat32(bt).map((v) => Math.fround(v * beta));
          if (bv.length === 1 && wd[1]! > 1) bv = new Float32Array(wd[1]!).fill(bv[0]!);
          if (bv.length !== wd[1]) return skip('Gemm bias does not match the output width');
          bias = namer.fresh(`${n.input[2]}_bias`);
          if (!opts.dryRun) newInits.push(float32Tensor(bias, [wd[1]!], bv));
        }
      }
      const [K, N] = wd as [number, number];
      const blocks = Math.ceil(K / bs);
      const bytesAfter = N * blocks * (bs / 2) + N * blocks * 4 + (opts.asymmetric ? N * Math.ceil(blocks / 2) : 0);
      report.actions.push({ node: label, op: n.opType, action: `MatMulNBits 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ' symmetric'}`, weight: wName, shape: dimsOf(w), bytesBefore: tensorBytes(w), bytesAfter });
      if (opts.dryRun) { out.push(n); return; }
      const q = quantizeBlockwise4(wf, K, N, bs, !opts.asymmetric);
      const base = n.name || n.output[0]!;
      const bName = namer.fresh(`${wName}_Q4`);
      const sName = namer.fresh(`${wName}_scales`);
      newInits.push(makeTensor(bName, DT.UINT8, [N, blocks, bs / 2], q.data));
      newInits.push(float32Tensor(sName, [N * blocks], q.scales));
      const inputs = [n.input[0]!, bName, sName];
      if (q.zeroPoints) {
        const zName = namer.fresh(`${wName}_zero_points`);
        newInits.push(makeTensor(zName, DT.UINT8, [q.zeroPoints.length], q.zeroPoints));
        inputs.push(zName);
      }
      if (bias) { while (inputs.length < 5) inputs.push(''); inputs.push(bias); }
      const attrs: Record<string, number> = { K, N, bits: 4, block_size: bs };
      if (opts.accuracyLevel) attrs.accuracy_level = opts.accuracyLevel;
      out.push(node('MatMulNBits', inputs, [n.output[0]!], namer.fresh(`${base}_Q4`), attrs, 'com.microsoft'));
      changed++;
    });
    if (!opts.dryRun) g.node = out;
  });
  if (!opts.dryRun && changed) {
    top.initializer.push(...newInits);
    pruneAll(top);
    ensureOpset(model, 'com.microsoft', 1);
  }
  return report;
}
