// Weight-only QDQ (--weight-only int8|int4): constant weights of MatMul/Gemm (and Conv for int8) are
// stored quantized and expanded by a DequantizeLinear in front of the unchanged float op. int8 uses
// ONNX Runtime's affine formulas (per-tensor, or per output channel with --per-channel); int4 is
// block-wise down K (DequantizeLinear with block_size, opset 21), with MatMulNBits' arithmetic, so
// ONNX Runtime can fuse DequantizeLinear+MatMul back into MatMulNBits. Browser-safe.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor } from '../formats/scalar/affine.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { LowbitError } from '../errors.js';
import { attrInt, opsetVersion } from './graph.js';
import { dimsOf, isFloatInit, tensorBytes, type TransformReport } from './common.js';
import { handlersOf, runPass, type HandlerTable, type NodePlan, type OpHandler, type PassContext } from './pass.js';
import { BLOCK_SIZES } from './matmul-nbits.js';
import { checkBlockSize, emit, int8Bytes, selection, weightKN, type PassOptions } from './rewrite.js';

export interface WeightOnlyOptions extends PassOptions {
  bits: 8 | 4;
  perChannel?: boolean;
  blockSize?: number;
  asymmetric?: boolean;
}

/** weight -> its DequantizeLinear output in this graph (a shared weight is quantized once) */
type Dequantized = Map<string, string>;
type Ctx = PassContext<Dequantized>;

interface QdqPlan extends NodePlan {
  transB: boolean;
}

/** What the QDQ handlers need to know of an op. */
interface QdqOp {
  /** int8 per-channel scales run along this axis of the stored weight */
  axis: number;
  /** the weight must be 2-D */
  matrix: boolean;
  /** Gemm: transB is read (int4 stores the weight untransposed and clears it) */
  gemm: boolean;
}

/** MatMul, Gemm (and Conv for int8): the weight input becomes a DequantizeLinear of the stored integers. */
function qdqWeightHandler(opts: WeightOnlyOptions, op: QdqOp): OpHandler<QdqPlan, Dequantized> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, { inits }) {
      const wName = n.input[1];
      if (!wName) return null;
      const w = inits.get(wName);
      if (!isFloatInit(w)) return 'weight is not a float32 constant';
      const wd = dimsOf(w);
      if (op.matrix && wd.length !== 2) return `weight rank ${wd.length}`;
      const transB = op.gemm && attrInt(n, 'transB', 0) === 1;
      const row = { weight: wName, shape: wd, bytesBefore: tensorBytes(w), transB };
      if (opts.bits === 8)
        return {
          action: `DequantizeLinear int8 ${opts.perChannel ? 'per-channel' : 'per-tensor'}`,
          bytesAfter: tensorBytes(w) / 4,
          ...row,
        };
      // blocks run down K: a transposed Gemm weight is stored untransposed and the Gemm's transB cleared
      const K = wd[transB ? 1 : 0]!,
        N = wd[transB ? 0 : 1]!;
      return {
        action: `DequantizeLinear int4 block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`,
        bytesAfter: Math.ceil((K * N) / 2) + Math.ceil(K / bs) * N * 4,
        ...row,
      };
    },
    rewrite(n, p, ctx) {
      let deq = ctx.local.get(p.weight);
      if (!deq) {
        deq = dequantizeLinear(p, opts, op, ctx);
        ctx.local.set(p.weight, deq);
      }
      n.input[1] = deq;
      if (opts.bits === 4 && p.transB) n.attribute = n.attribute.filter((a) => a.name !== 'transB');
      ctx.out.push(n);
    },
  };
}

/** the weight's integers, scales (and zero points) and the DequantizeLinear node; returns its output */
function dequantizeLinear(p: QdqPlan, opts: WeightOnlyOptions, op: QdqOp, ctx: Ctx): string {
  const wName = p.weight,
    { namer } = ctx;
  const deq = namer.fresh(`${wName}_DequantizeLinear_Output`);
  const names: QdqNames = {
    q: namer.fresh(`${wName}_quantized`),
    s: namer.fresh(`${wName}_scale`),
    z: namer.fresh(`${wName}_zero_point`),
  };
  const f = tensorToFloat32(ctx.inits.get(wName)!);
  const [inputs, attrs] =
    opts.bits === 8 ? int8Weight(f, p.shape, op.axis, opts, names, ctx) : int4Weight(f, p, opts, names, ctx);
  emit(ctx, 'DequantizeLinear', inputs, [deq], `${wName}_DequantizeLinear`, attrs);
  return deq;
}

/** names made for a weight's integers, scales and zero points */
interface QdqNames {
  q: string;
  s: string;
  z: string;
}
type DequantizeInputs = [string[], Record<string, number>];

/** INT8 per tensor, or per channel along axis: the initializers, DequantizeLinear's inputs and attributes. */
function int8Weight(
  f: Float32Array,
  wd: number[],
  axis: number,
  opts: WeightOnlyOptions,
  { q, s }: QdqNames,
  { addInit }: Ctx,
): DequantizeInputs {
  const qt = opts.perChannel ? quantizePerChannel(f, wd, axis, 'int8', true) : quantizePerTensor(f, 'int8', true);
  addInit(makeTensor(q, DT.INT8, wd, int8Bytes(qt.q)));
  addInit(float32Tensor(s, opts.perChannel ? [wd[axis]!] : [], qt.scales));
  return [[q, s], opts.perChannel ? { axis } : {}];
}

/** Block-wise INT4 (UINT4 with zero points) down K of the [K, N] weight: as int8Weight. */
function int4Weight(
  f: Float32Array,
  p: QdqPlan,
  opts: WeightOnlyOptions,
  { q, s, z }: QdqNames,
  { addInit }: Ctx,
): DequantizeInputs {
  const bs = opts.blockSize ?? 32;
  const { wf, K, N } = weightKN(f, p.shape, p.transB);
  const t = int4Tensors(wf, K, N, bs, !!opts.asymmetric);
  addInit(makeTensor(q, opts.asymmetric ? DT.UINT4 : DT.INT4, [K, N], t.packed));
  addInit(float32Tensor(s, [t.blocks, N], t.scales));
  const inputs = [q, s];
  if (t.zps) {
    addInit(makeTensor(z, DT.UINT4, [t.blocks, N], t.zps));
    inputs.push(z);
  }
  return [inputs, { axis: 0, block_size: bs }];
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
    checkBlockSize(bs, BLOCK_SIZES, '--block-size', 'EUSAGE');
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
  return runPass<Dequantized>(model, {
    handlers: handlersOf(opts.bits === 8 ? QDQ_INT8_HANDLERS : QDQ_INT4_HANDLERS, opts),
    ...selection(opts),
    local: () => new Map(),
    alwaysPrune: true,
  });
}

const MATMUL: QdqOp = { axis: 1, matrix: true, gemm: false };
// (axis 0 of Gemm's B: its output channels when transB is set)
const GEMM: QdqOp = { axis: 0, matrix: true, gemm: true };
const CONV: QdqOp = { axis: 0, matrix: false, gemm: false };

/** The qdq-int8 pass's handlers, by op type. */
export const QDQ_INT8_HANDLERS: HandlerTable<WeightOnlyOptions, Dequantized> = {
  MatMul: (o) => qdqWeightHandler(o, MATMUL),
  Gemm: (o) => qdqWeightHandler(o, GEMM),
  Conv: (o) => qdqWeightHandler(o, CONV),
};

/** The qdq-int4 pass's handlers, by op type (block-wise DequantizeLinear is for matrices). */
export const QDQ_INT4_HANDLERS: HandlerTable<WeightOnlyOptions, Dequantized> = {
  MatMul: (o) => qdqWeightHandler(o, MATMUL),
  Gemm: (o) => qdqWeightHandler(o, GEMM),
};
