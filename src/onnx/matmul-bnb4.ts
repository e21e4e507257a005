// transformers.js's bnb4: MatMul and Gemm with constant weights become com.microsoft MatMulBnb4 with
// NF4 weights (src/formats/scalar/nf4.ts), quantized from the transposed [N, K] weight as ONNX
// Runtime's MatMulBnb4 quantizer does. Gemm's alpha is folded into the weight; its bias stays an Add.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeNf4 } from '../formats/scalar/nf4.js';
import { LowbitError } from '../errors.js';
import { attrFloat, attrInt, node } from './graph.js';
import { dimsOf, matmulWeight, tensorBytes, transpose, type TransformReport } from './common.js';
import { runPass, type NodePlan, type NodeSelection, type OpHandler } from './pass.js';

export const BNB4_BLOCK_SIZES = [16, 32, 64, 128, 256];

export interface Bnb4Options extends NodeSelection {
  blockSize?: number;
  dryRun?: boolean;
}

interface Bnb4Plan extends NodePlan {
  K: number;
  N: number;
  transB: boolean;
}

/** MatMul and Gemm -> MatMulBnb4 (NF4), plus an Add for Gemm's bias. */
export function matMulBnb4Handler(bs: number): OpHandler<Bnb4Plan> {
  return {
    plan(n, ctx) {
      const mw = matmulWeight(n, ctx);
      if (typeof mw === 'string') return mw;
      const { w, wd } = mw;
      if (n.opType === 'Gemm' && attrInt(n, 'transA', 0)) return 'Gemm with transA';
      const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
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
    rewrite(n, p, { inits, namer, addInit, out }) {
      const { K, N, transB } = p;
      const wName = p.weight;
      let f = tensorToFloat32(inits.get(wName)!);
      const alpha = n.opType === 'Gemm' ? attrFloat(n, 'alpha', 1) : 1;
      if (alpha !== 1) f = f.map((v) => Math.fround(v * alpha));
      // blocks run along K of the [N, K] (transposed) weight
      const q = quantizeNf4(transB ? f : transpose(f, K, N), bs);
      const base = n.name || n.output[0]!;
      const bName = namer.fresh(`${wName}_Bnb4`),
        sName = namer.fresh(`${wName}_absmax`);
      addInit(makeTensor(bName, DT.UINT8, [q.data.length], q.data));
      addInit(float32Tensor(sName, [q.absmax.length], q.absmax));
      const bias = n.opType === 'Gemm' ? n.input[2] : undefined;
      const y = n.output[0]!;
      const mm = bias ? namer.fresh(`${y}_no_bias`) : y;
      out.push(
        node(
          'MatMulBnb4',
          [n.input[0]!, bName, sName],
          [mm],
          namer.fresh(`${base}_Bnb4`),
          { K, N, block_size: bs, quant_type: 1 },
          'com.microsoft',
        ),
      );
      if (bias) {
        let b = bias;
        const beta = attrFloat(n, 'beta', 1);
        if (beta !== 1) {
          const bt = inits.get(bias);
          if (!bt) {
            b = namer.fresh(`${bias}_beta`);
            const s = namer.fresh(`${bias}_beta_value`);
            addInit(float32Tensor(s, [], Float32Array.of(beta)));
            out.push(node('Mul', [bias, s], [b], namer.fresh(`${base}_beta`)));
          } else {
            b = namer.fresh(`${bias}_beta`);
            addInit(
              float32Tensor(
                b,
                dimsOf(bt),
                tensorToFloat32(bt).map((v) => Math.fround(v * beta)),
              ),
            );
          }
        }
        out.push(node('Add', [mm, b], [y], namer.fresh(`${base}_bias_add`)));
      }
    },
  };
}

export function quantizeMatMulBnb4(model: ModelProto, opts: Bnb4Options = {}): TransformReport {
  const bs = opts.blockSize ?? 64;
  if (!BNB4_BLOCK_SIZES.includes(bs))
    throw new LowbitError(`bnb4 --block-size must be one of ${BNB4_BLOCK_SIZES.join(', ')}, not ${bs}`);
  const h = matMulBnb4Handler(bs);
  return runPass(model, {
    handlers: { MatMul: h, Gemm: h },
    dryRun: opts.dryRun,
    opTypes: opts.opTypes,
    excludeNodes: opts.excludeNodes,
    opset: ['com.microsoft', 1],
  });
}
