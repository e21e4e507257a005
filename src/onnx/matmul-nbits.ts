// 4-bit block-wise weights (transformers.js's q4): MatMul and Gemm with constant weights become
// com.microsoft MatMulNBits, quantized as ONNX Runtime's MatMulNBits quantizer does
// (src/formats/scalar/blockwise4.ts). Gemm's alpha is folded into the weight, beta into the bias,
// which MatMulNBits adds itself (its 6th input).
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { attrFloat } from './graph.js';
import { dimsOf, matmulWeight, tensorBytes, type TransformReport } from './common.js';
import { handlersOf, runPass, type HandlerTable, type NodePlan, type OpHandler, type PassContext } from './pass.js';
import {
  addFloats,
  addTensor,
  baseName,
  blockwise4Bytes,
  checkBlockSize,
  emit,
  MS_DOMAIN,
  foldAlpha,
  gemmRefusal,
  selection,
  transB,
  weightKN,
  type PassOptions,
} from './rewrite.js';

export interface Q4Options extends PassOptions {
  blockSize?: number;
  /** symmetric by default; asymmetric adds zero points */
  asymmetric?: boolean;
  /** MatMulNBits accuracy_level attribute (0 = unset: full float accumulation) */
  accuracyLevel?: number;
}

export const BLOCK_SIZES = [16, 32, 64, 128];

/** A weight ready for MatMulNBits: [K, N] (Gemm's transB undone, alpha folded in), and Gemm's bias. */
interface NBitsWeight {
  w: TensorProto;
  wf: Float32Array;
  K: number;
  N: number;
  /** Gemm's bias times beta, as MatMulNBits' bias input */
  bias?: { from: string; values: Float32Array };
}

type NBitsPlan = NodePlan & Omit<NBitsWeight, 'w'>;

/** MatMul's weight: a float32 constant [K, N]. */
function matmulNBitsWeight(n: NodeProto, ctx: PassContext<unknown>): NBitsWeight | string {
  const mw = matmulWeight(n, ctx);
  if (typeof mw === 'string') return mw;
  const [K, N] = mw.wd as [number, number];
  return { w: mw.w, wf: tensorToFloat32(mw.w), K, N };
}

/** Gemm's weight as MatMul's, and its bias (a constant row, times beta) for MatMulNBits to add. */
function gemmNBitsWeight(n: NodeProto, ctx: PassContext<unknown>): NBitsWeight | string {
  const mw = matmulWeight(n, ctx);
  if (typeof mw === 'string') return mw;
  const f = tensorToFloat32(mw.w);
  const refusal = gemmRefusal(n, ctx.inits, true);
  if (refusal) return refusal;
  const bt = n.input[2] ? ctx.inits.get(n.input[2]) : undefined;
  if (bt && bt.dims.length > 1 && Number(bt.dims[0]) !== 1) return 'Gemm bias is not a row vector';
  const { wf, K, N } = weightKN(f, mw.wd, transB(n));
  let bias: NBitsWeight['bias'];
  if (bt) {
    const beta = attrFloat(n, 'beta', 1);
    let bv = tensorToFloat32(bt).map((v) => Math.fround(v * beta));
    if (bv.length === 1 && N > 1) bv = new Float32Array(N).fill(bv[0]!);
    if (bv.length !== N) return 'Gemm bias does not match the output width';
    bias = { from: n.input[2]!, values: bv };
  }
  return { w: mw.w, wf: foldAlpha(n, wf), K, N, bias };
}

/** MatMul or Gemm (by how its weight is read) -> MatMulNBits (bits 4). */
function matMulNBitsHandler(
  opts: Q4Options,
  weight: (n: NodeProto, ctx: PassContext<unknown>) => NBitsWeight | string,
): OpHandler<NBitsPlan> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, ctx) {
      const nw = weight(n, ctx);
      if (typeof nw === 'string') return nw;
      const { w, ...rest } = nw;
      return {
        action: `MatMulNBits 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ' symmetric'}`,
        weight: w.name,
        shape: dimsOf(w),
        bytesBefore: tensorBytes(w),
        bytesAfter: blockwise4Bytes(nw.K, nw.N, bs, !!opts.asymmetric),
        ...rest,
      };
    },
    rewrite(n, p, ctx) {
      const { K, N } = p;
      const bias = p.bias && addFloats(ctx, `${p.bias.from}_bias`, [N], p.bias.values);
      const q = quantizeBlockwise4(p.wf, K, N, bs, !opts.asymmetric);
      const blocks = Math.ceil(K / bs);
      const inputs = [
        n.input[0]!,
        addTensor(ctx, `${p.weight}_Q4`, DT.UINT8, [N, blocks, bs / 2], q.data),
        addFloats(ctx, `${p.weight}_scales`, [N * blocks], q.scales),
      ];
      if (q.zeroPoints)
        inputs.push(addTensor(ctx, `${p.weight}_zero_points`, DT.UINT8, [q.zeroPoints.length], q.zeroPoints));
      if (bias) {
        while (inputs.length < 5) inputs.push('');
        inputs.push(bias);
      }
      const attrs: Record<string, number> = { K, N, bits: 4, block_size: bs };
      if (opts.accuracyLevel) attrs.accuracy_level = opts.accuracyLevel;
      emit(ctx, 'MatMulNBits', inputs, [n.output[0]!], `${baseName(n)}_Q4`, attrs, MS_DOMAIN);
    },
  };
}

/** The matmul-nbits pass's handlers, by op type. */
export const MATMUL_NBITS_HANDLERS: HandlerTable<Q4Options> = {
  MatMul: (o) => matMulNBitsHandler(o, matmulNBitsWeight),
  Gemm: (o) => matMulNBitsHandler(o, gemmNBitsWeight),
};

export function quantizeMatMul4Bits(model: ModelProto, opts: Q4Options = {}): TransformReport {
  checkBlockSize(opts.blockSize ?? 32, BLOCK_SIZES, '--block-size', 'EUSAGE');
  return runPass(model, {
    handlers: handlersOf(MATMUL_NBITS_HANDLERS, opts),
    ...selection(opts),
    opset: ['com.microsoft', 1],
  });
}
