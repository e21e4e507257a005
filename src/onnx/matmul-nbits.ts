// 4-bit block-wise weights (transformers.js's q4): MatMul and Gemm with constant weights become
// com.microsoft MatMulNBits, quantized as ONNX Runtime's MatMulNBits quantizer does
// (src/formats/scalar/blockwise4.ts). Gemm's alpha is folded into the weight, beta into the bias,
// which MatMulNBits adds itself (its 6th input).
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { attrFloat, attrInt, node } from './graph.js';
import { dimsOf, matmulWeight, tensorBytes, transpose, type TransformReport } from './common.js';
import { runPass, type NodePlan, type NodeSelection, type OpHandler } from './pass.js';
import { LowbitError } from '../errors.js';

export interface Q4Options extends NodeSelection {
  blockSize?: number;
  /** symmetric by default; asymmetric adds zero points */
  asymmetric?: boolean;
  /** MatMulNBits accuracy_level attribute (0 = unset: full float accumulation) */
  accuracyLevel?: number;
  dryRun?: boolean;
}

export const BLOCK_SIZES = [16, 32, 64, 128];

interface NBitsPlan extends NodePlan {
  /** the weight as [K, N] (Gemm's transB undone, alpha folded in) */
  wf: Float32Array;
  K: number;
  N: number;
  /** Gemm's bias times beta, as MatMulNBits' bias input */
  bias?: { from: string; values: Float32Array };
}

/** MatMul and Gemm -> MatMulNBits (bits 4). */
export function matMulNBitsHandler(opts: Q4Options): OpHandler<NBitsPlan> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, ctx) {
      const mw = matmulWeight(n, ctx);
      if (typeof mw === 'string') return mw;
      const { w, wd } = mw;
      let wf = tensorToFloat32(w);
      let bias: NBitsPlan['bias'];
      if (n.opType === 'Gemm') {
        if (attrInt(n, 'transA', 0)) return 'Gemm with transA';
        const bt = n.input[2] ? ctx.inits.get(n.input[2]) : undefined;
        if (n.input[2] && !bt) return 'Gemm bias is not a constant';
        if (bt && bt.dims.length > 1 && Number(bt.dims[0]) !== 1) return 'Gemm bias is not a row vector';
        if (attrInt(n, 'transB', 0)) {
          wf = transpose(wf, wd[0]!, wd[1]!);
          wd.reverse();
        }
        const alpha = attrFloat(n, 'alpha', 1);
        if (alpha !== 1) wf = wf.map((v) => Math.fround(v * alpha));
        if (bt) {
          const beta = attrFloat(n, 'beta', 1);
          let bv = tensorToFloat32(bt).map((v) => Math.fround(v * beta));
          if (bv.length === 1 && wd[1]! > 1) bv = new Float32Array(wd[1]!).fill(bv[0]!);
          if (bv.length !== wd[1]) return 'Gemm bias does not match the output width';
          bias = { from: n.input[2]!, values: bv };
        }
      }
      const [K, N] = wd as [number, number];
      const blocks = Math.ceil(K / bs);
      const bytesAfter = N * blocks * (bs / 2) + N * blocks * 4 + (opts.asymmetric ? N * Math.ceil(blocks / 2) : 0);
      return {
        action: `MatMulNBits 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ' symmetric'}`,
        weight: w.name,
        shape: dimsOf(w),
        bytesBefore: tensorBytes(w),
        bytesAfter,
        wf,
        K,
        N,
        bias,
      };
    },
    rewrite(n, p, { namer, addInit, out }) {
      const { K, N } = p;
      const wName = p.weight;
      let bias: string | undefined;
      if (p.bias) {
        bias = namer.fresh(`${p.bias.from}_bias`);
        addInit(float32Tensor(bias, [N], p.bias.values));
      }
      const q = quantizeBlockwise4(p.wf, K, N, bs, !opts.asymmetric);
      const blocks = Math.ceil(K / bs);
      const base = n.name || n.output[0]!;
      const bName = namer.fresh(`${wName}_Q4`);
      const sName = namer.fresh(`${wName}_scales`);
      addInit(makeTensor(bName, DT.UINT8, [N, blocks, bs / 2], q.data));
      addInit(float32Tensor(sName, [N * blocks], q.scales));
      const inputs = [n.input[0]!, bName, sName];
      if (q.zeroPoints) {
        const zName = namer.fresh(`${wName}_zero_points`);
        addInit(makeTensor(zName, DT.UINT8, [q.zeroPoints.length], q.zeroPoints));
        inputs.push(zName);
      }
      if (bias) {
        while (inputs.length < 5) inputs.push('');
        inputs.push(bias);
      }
      const attrs: Record<string, number> = { K, N, bits: 4, block_size: bs };
      if (opts.accuracyLevel) attrs.accuracy_level = opts.accuracyLevel;
      out.push(node('MatMulNBits', inputs, [n.output[0]!], namer.fresh(`${base}_Q4`), attrs, 'com.microsoft'));
    },
  };
}

export function quantizeMatMul4Bits(model: ModelProto, opts: Q4Options = {}): TransformReport {
  const bs = opts.blockSize ?? 32;
  if (!BLOCK_SIZES.includes(bs))
    throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`, 'EUSAGE');
  const h = matMulNBitsHandler(opts);
  return runPass(model, {
    handlers: { MatMul: h, Gemm: h },
    dryRun: opts.dryRun,
    opTypes: opts.opTypes,
    excludeNodes: opts.excludeNodes,
    opset: ['com.microsoft', 1],
  });
}
