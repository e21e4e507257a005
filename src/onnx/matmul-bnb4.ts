// transformers.js's bnb4: MatMul and Gemm with constant weights become com.microsoft MatMulBnb4 with
// NF4 weights (src/formats/scalar/nf4.ts), quantized from the transposed [N, K] weight as ONNX
// Runtime's MatMulBnb4 quantizer does. Gemm's alpha is folded into the weight; its bias stays an Add.
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeNf4 } from '../formats/scalar/nf4.js';
import { LowbitError } from '../errors.js';
import { Namer, attrFloat, attrInt, ensureOpset, inferElemTypes, node } from './graph.js';
import { dimsOf, forEachGraph, isFloatInit, newReport, nodeLabel, pruneAll, tensorBytes, type TransformReport, keepNode } from './common.js';
import { transpose } from './dynamic-int8.js';

export const BNB4_BLOCK_SIZES = [16, 32, 64, 128, 256];

export function quantizeMatMulBnb4(model: ModelProto, opts: { blockSize?: number; dryRun?: boolean } = {}): TransformReport {
  const bs = opts.blockSize ?? 64;
  if (!BNB4_BLOCK_SIZES.includes(bs)) throw new LowbitError(`bnb4 --block-size must be one of ${BNB4_BLOCK_SIZES.join(', ')}, not ${bs}`);
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
      if (wd.length !== 2) return skip(`weight rank ${wd.length}`);
      if (n.opType === 'Gemm' && attrInt(n, 'transA', 0)) return skip('Gemm with transA');
      const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
      const [K, N] = (transB ? [wd[1], wd[0]] : wd) as [number, number];
      report.actions.push({ node: label, op: n.opType, action: `MatMulBnb4 NF4 block ${bs}`, weight: wName, shape: wd, bytesBefore: tensorBytes(w), bytesAfter: Math.ceil((K * N) / 2) + Math.ceil((K * N) / bs) * 4 });
      if (opts.dryRun) { out.push(n); return; }
      let f = tensorToFloat32(w);
      const alpha = n.opType === 'Gemm' ? attrFloat(n, 'alpha', 1) : 1;
      if (alpha !== 1) f = f.map((v) => Math.fround(v * alpha));
      // blocks run along K of the [N, K] (transposed) weight
      const q = quantizeNf4(transB ? f : transpose(f, K, N), bs);
      const base = n.name || n.output[0]!;
      const bName = namer.fresh(`${wName}_Bnb4`), sName = namer.fresh(`${wName}_absmax`);
      newInits.push(makeTensor(bName, DT.UINT8, [q.data.length], q.data));
      newInits.push(float32Tensor(sName, [q.absmax.length], q.absmax));
      const bias = n.opType === 'Gemm' ? n.input[2] : undefined;
      const y = n.output[0]!;
      const mm = bias ? namer.fresh(`${y}_no_bias`) : y;
      out.push(node('MatMulBnb4', [n.input[0]!, bName, sName], [mm], namer.fresh(`${base}_Bnb4`), { K, N, block_size: bs, quant_type: 1 }, 'com.microsoft'));
      if (bias) {
        let b = bias;
        const beta = attrFloat(n, 'beta', 1);
        if (beta !== 1) {
          const bt = inits.get(bias);
          if (!bt) { b = namer.fresh(`${bias}_beta`); const s = namer.fresh(`${bias}_beta_value`); newInits.push(float32Tensor(s, [], Float32Array.of(beta))); out.push(node('Mul', [bias, s], [b], namer.fresh(`${base}_beta`))); }
          else { b = namer.fresh(`${bias}_beta`); newInits.push(float32Tensor(b, dimsOf(bt), tensorToFloat32(bt).map((v) => Math.fround(v * beta)))); }
        }
        out.push(node('Add', [mm, b], [y], namer.fresh(`${base}_bias_add`)));
      }
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
