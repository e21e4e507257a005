// Weight-only QDQ (--weight-only int8|int4): constant weights of MatMul/Gemm (and Conv for int8) are
// stored quantized and expanded by a DequantizeLinear in front of the unchanged float op. int8 uses
// ONNX Runtime's affine formulas (per-tensor, or per output channel with --per-channel); int4 is
// block-wise down K (DequantizeLinear with block_size, opset 21), with MatMulNBits' arithmetic, so
// ONNX Runtime can fuse DequantizeLinear+MatMul back into MatMulNBits. Browser-safe.
import type { ModelProto, NodeProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor } from '../formats/scalar/affine.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { LowbitError } from '../errors.js';
import { attrInt, node, opsetVersion } from './graph.js';
import { dimsOf, isFloatInit, tensorBytes, transpose, type TransformReport } from './common.js';
import { runPass, type NodePlan, type NodeSelection, type OpHandler, type PassContext } from './pass.js';
import { BLOCK_SIZES } from './matmul-nbits.js';

export interface WeightOnlyOptions extends NodeSelection {
  bits: 8 | 4;
  perChannel?: boolean;
  blockSize?: number;
  asymmetric?: boolean;
  dryRun?: boolean;
}

/** weight -> its DequantizeLinear output in this graph (a shared weight is quantized once) */
type Dequantized = Map<string, string>;

interface QdqPlan extends NodePlan {
  transB: boolean;
}

/** MatMul, Gemm (and Conv for int8): the weight input becomes a DequantizeLinear of the stored integers. */
export function qdqWeightHandler(opts: WeightOnlyOptions): OpHandler<QdqPlan, Dequantized> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, { inits }) {
      const wName = n.input[1];
      if (!wName) return null;
      const w = inits.get(wName);
      if (!isFloatInit(w)) return 'weight is not a float32 constant';
      const wd = dimsOf(w);
      if (n.opType !== 'Conv' && wd.length !== 2) return `weight rank ${wd.length}`;
      const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
      if (opts.bits === 8) {
        // output channels: axis 1 of MatMul's [K,N], axis 0 of Conv's weight and of Gemm's transposed B
        return {
          action: `DequantizeLinear int8 ${opts.perChannel ? 'per-channel' : 'per-tensor'}`,
          weight: wName,
          shape: wd,
          bytesBefore: tensorBytes(w),
          bytesAfter: tensorBytes(w) / 4,
          transB,
        };
      }
      // blocks run down K: a transposed Gemm weight is stored untransposed and the Gemm's transB cleared
      const K = wd[transB ? 1 : 0]!,
        N = wd[transB ? 0 : 1]!;
      return {
        action: `DequantizeLinear int4 block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`,
        weight: wName,
        shape: wd,
        bytesBefore: tensorBytes(w),
        bytesAfter: Math.ceil((K * N) / 2) + Math.ceil(K / bs) * N * 4,
        transB,
      };
    },
    rewrite(n, p, ctx) {
      const wName = p.weight;
      let deq = ctx.local.get(wName);
      if (!deq) {
        deq = dequantizeLinear(n, p, ctx);
        ctx.local.set(wName, deq);
      }
      n.input[1] = deq;
      if (opts.bits === 4 && p.transB) n.attribute = n.attribute.filter((a) => a.name !== 'transB');
      ctx.out.push(n);
    },
  };

  /** the weight's integers, scales (and zero points) and the DequantizeLinear node; returns its output */
  function dequantizeLinear(
    n: NodeProto,
    p: QdqPlan,
    { inits, namer, addInit, out }: PassContext<Dequantized>,
  ): string {
    const wName = p.weight,
      wd = p.shape;
    const deq = namer.fresh(`${wName}_DequantizeLinear_Output`);
    const qName = namer.fresh(`${wName}_quantized`),
      sName = namer.fresh(`${wName}_scale`),
      zName = namer.fresh(`${wName}_zero_point`);
    const f = tensorToFloat32(inits.get(wName)!);
    const inputs = [qName, sName];
    const attrs: Record<string, number> = {};
    if (opts.bits === 8) {
      const axis = n.opType === 'MatMul' ? 1 : 0;
      const q = opts.perChannel ? quantizePerChannel(f, wd, axis, 'int8', true) : quantizePerTensor(f, 'int8', true);
      addInit(
        makeTensor(
          qName,
          DT.INT8,
          wd,
          Uint8Array.from(q.q, (v) => v & 0xff),
        ),
      );
      addInit(float32Tensor(sName, opts.perChannel ? [wd[axis]!] : [], q.scales));
      if (opts.perChannel) attrs.axis = axis;
    } else {
      const [K, N] = (p.transB ? [wd[1], wd[0]] : wd) as [number, number];
      const t = int4Tensors(p.transB ? transpose(f, N, K) : f, K, N, bs, !!opts.asymmetric);
      addInit(makeTensor(qName, opts.asymmetric ? DT.UINT4 : DT.INT4, [K, N], t.packed));
      addInit(float32Tensor(sName, [t.blocks, N], t.scales));
      if (t.zps) {
        addInit(makeTensor(zName, DT.UINT4, [t.blocks, N], t.zps));
        inputs.push(zName);
      }
      attrs.axis = 0;
      attrs.block_size = bs;
    }
    out.push(node('DequantizeLinear', inputs, [deq], namer.fresh(`${wName}_DequantizeLinear`), attrs));
    return deq;
  }
}

/** A [K, N] weight as block-wise INT4 (UINT4 when asymmetric) down K, with MatMulNBits' arithmetic, row-major [K, N]. */
function int4Tensors(
  f: Float32Array,
  K: number,
  N: number,
  bs: number,
  asymmetric: boolean,
): { packed: Uint8Array; scales: Float32Array; zps?: Uint8Array; blocks: number } {
  const q = quantizeBlockwise4(f, K, N, bs, !asymmetric);
  const blocks = q.blocks;
  // MatMulNBits layout ([N][block][nibbles], codes with zero point 8) -> row-major [K, N] 4-bit
  const packed = new Uint8Array(Math.ceil((K * N) / 2));
  const scales = new Float32Array(blocks * N);
  const zps = asymmetric ? new Uint8Array(Math.ceil((blocks * N) / 2)) : undefined;
  for (let c = 0; c < N; c++) {
    for (let b = 0; b < blocks; b++) {
      scales[b * N + c] = q.scales[c * blocks + b]!;
      if (zps) {
        const z = (q.zeroPoints![c * Math.ceil(blocks / 2) + (b >> 1)]! >> ((b & 1) * 4)) & 15;
        const i = b * N + c;
        zps[i >> 1] = zps[i >> 1]! | (z << ((i & 1) * 4));
      }
    }
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs),
        j = k - b * bs;
      const code = (q.data[(c * blocks + b) * (bs / 2) + (j >> 1)]! >> ((j & 1) * 4)) & 15;
      // symmetric: signed int4 = code - 8 (two's complement nibble); asymmetric: the uint4 code
      const v = asymmetric ? code : (code - 8) & 15;
      const i = k * N + c;
      packed[i >> 1] = packed[i >> 1]! | (v << ((i & 1) * 4));
    }
  }
  return { packed, scales, zps, blocks };
}

export function quantizeWeightOnly(model: ModelProto, opts: WeightOnlyOptions): TransformReport {
  const opset = opsetVersion(model);
  const bs = opts.blockSize ?? 32;
  if (opts.bits === 4) {
    if (!BLOCK_SIZES.includes(bs))
      throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`, 'EUSAGE');
    if (opset < 21)
      throw new LowbitError(
        `--weight-only int4 needs opset 21 (block-wise INT4 DequantizeLinear); this model is opset ${opset}: use --type q4 (MatMulNBits) instead`,
        'EUSAGE',
      );
  } else if (opset < 13 && opts.perChannel) {
    throw new LowbitError(`per-channel DequantizeLinear needs opset 13; this model is opset ${opset}`);
  } else if (opset < 10) {
    throw new LowbitError(`DequantizeLinear needs opset 10; this model is opset ${opset}: use --type q8`);
  }
  const h = qdqWeightHandler(opts);
  const ops = opts.bits === 8 ? QDQ_INT8_OPS : QDQ_INT4_OPS;
  return runPass<Dequantized>(model, {
    handlers: Object.fromEntries(ops.map((op) => [op, h])),
    dryRun: opts.dryRun,
    opTypes: opts.opTypes,
    excludeNodes: opts.excludeNodes,
    local: () => new Map(),
    alwaysPrune: true,
  });
}

export const QDQ_INT8_OPS = ['MatMul', 'Gemm', 'Conv'];
export const QDQ_INT4_OPS = ['MatMul', 'Gemm'];
