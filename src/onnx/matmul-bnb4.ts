// transformers.js's bnb4: MatMul and Gemm with constant weights become com.microsoft MatMulBnb4 with
// NF4 weights (src/formats/scalar/nf4.ts), quantized from the transposed [N, K] weight as ONNX
// Runtime's MatMulBnb4 quantizer does. Gemm's alpha is folded into the weight; its bias stays an Add.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeNf4 } from '../formats/scalar/nf4.js';
import { attrInt } from './graph.js';
import { matmulWeight, tensorBytes, transpose, type TransformReport } from './common.js';
import { handlersOf, runPass, type HandlerTable, type NodePlan, type OpHandler } from './pass.js';
import {
  addBias,
  addFloats,
  addTensor,
  baseName,
  checkBlockSize,
  emit,
  MS_DOMAIN,
  foldAlpha,
  gemmBias,
  gemmRefusal,
  productOutput,
  selection,
  weightKN,
  type PassOptions,
} from './rewrite.js';

export const BNB4_BLOCK_SIZES = [16, 32, 64, 128, 256];

export interface Bnb4Options extends PassOptions {
  blockSize?: number;
}

interface Bnb4Plan extends NodePlan {
  K: number;
  N: number;
  transB: boolean;
}

/** MatMul (gemm false) or Gemm -> MatMulBnb4 (NF4), plus an Add for Gemm's bias. */
function matMulBnb4Handler(bs: number, gemm: boolean): OpHandler<Bnb4Plan> {
  return {
    plan(n, ctx) {
      const mw = matmulWeight(n, ctx);
      if (typeof mw === 'string') return mw;
      const { w, wd } = mw;
      const refusal = gemm ? gemmRefusal(n, ctx.inits, false) : undefined;
      if (refusal) return refusal;
      const transB = gemm && attrInt(n, 'transB', 0) === 1;
      const [K, N] = (transB ? [wd[1], wd[0]] : wd) as [number, number];
      return {
        action: `MatMulBnb4 NF4 block ${bs}`,
        weight: w.name,
        shape: wd,
        bytesBefore: tensorBytes(w),
        bytesAfter: Math.ceil((K * N) / 2) + Math.ceil((K * N) / bs) * 4,
        K,
        N,
        transB,
      };
    },
    rewrite(n, p, ctx) {
      const { K, N } = p;
      const w = ctx.inits.get(p.weight)!;
      const kn = weightKN(tensorToFloat32(w), p.shape, p.transB).wf;
      // blocks run along K of the [N, K] (transposed) weight
      const q = quantizeNf4(transpose(gemm ? foldAlpha(n, kn) : kn, K, N), bs);
      const inputs = [
        n.input[0]!,
        addTensor(ctx, `${p.weight}_Bnb4`, DT.UINT8, [q.data.length], q.data),
        addFloats(ctx, `${p.weight}_absmax`, [q.absmax.length], q.absmax),
      ];
      const bias = gemm ? n.input[2] : undefined;
      const product = productOutput(n, !!bias, ctx);
      const attrs = { K, N, block_size: bs, quant_type: 1 };
      emit(ctx, 'MatMulBnb4', inputs, [product], `${baseName(n)}_Bnb4`, attrs, MS_DOMAIN);
      if (bias) addBias(n, product, gemmBias(n, bias, ctx), ctx);
    },
  };
}

/** The matmul-bnb4 pass's handlers, by op type. */
export const MATMUL_BNB4_HANDLERS: HandlerTable<Bnb4Options> = {
  MatMul: (o) => matMulBnb4Handler(o.blockSize ?? 64, false),
  Gemm: (o) => matMulBnb4Handler(o.blockSize ?? 64, true),
};

export function quantizeMatMulBnb4(model: ModelProto, opts: Bnb4Options = {}): TransformReport {
  checkBlockSize(opts.blockSize ?? 64, BNB4_BLOCK_SIZES, 'bnb4 --block-size');
  return runPass(model, {
    handlers: handlersOf(MATMUL_BNB4_HANDLERS, opts),
    ...selection(opts),
    opset: ['com.microsoft', 1],
  });
}
