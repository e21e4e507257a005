// Embedding tables (Gather on a constant [vocab, hidden] table) as com.microsoft GatherBlockQuantized:
// 4-bit blocks along the hidden axis, quantized with MatMulNBits' arithmetic (one row of the table is
// one "column" of blockwise4). Opt-in: ONNX Runtime Web's CPU/WASM backend has no kernel for it.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { LowbitError } from '../errors.js';
import { attrInt, node } from './graph.js';
import { dimsOf, isFloatInit, tensorBytes, transpose, type TransformReport } from './common.js';
import { runPass, type NodePlan, type NodeSelection, type OpHandler } from './pass.js';
import { BLOCK_SIZES } from './matmul-nbits.js';

export interface GatherQuantOptions extends NodeSelection {
  blockSize?: number;
  asymmetric?: boolean;
  dryRun?: boolean;
}

interface GatherPlan extends NodePlan {
  V: number;
  H: number;
}

/** Gather on a constant table -> GatherBlockQuantized (bits 4, blocks along the hidden axis). */
export function gatherBlockQuantizedHandler(opts: GatherQuantOptions): OpHandler<GatherPlan> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, { inits }) {
      const t = inits.get(n.input[0]!);
      if (!isFloatInit(t)) return 'table is not a float32 constant';
      const d = dimsOf(t);
      if (d.length !== 2 || attrInt(n, 'axis', 0) !== 0) return 'not a [vocab, hidden] lookup on axis 0';
      const [V, H] = d as [number, number];
      if (H % bs) return `hidden size ${H} is not a multiple of the block size ${bs}`;
      const blocks = H / bs;
      return {
        action: `GatherBlockQuantized 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`,
        weight: t.name,
        shape: d,
        bytesBefore: tensorBytes(t),
        bytesAfter: (V * H) / 2 + V * blocks * 4 + V * Math.ceil(blocks / 2),
        V,
        H,
      };
    },
    rewrite(n, p, { inits, namer, addInit, out }) {
      const { V, H } = p;
      const blocks = H / bs;
      const name = p.weight;
      // blockwise4 quantizes columns of a [K, N] matrix: the transposed table makes each row a column
      const q = quantizeBlockwise4(transpose(tensorToFloat32(inits.get(name)!), V, H), H, V, bs, !opts.asymmetric);
      const base = n.name || n.output[0]!;
      const dName = namer.fresh(`${name}_Q4`),
        sName = namer.fresh(`${name}_scales`),
        zName = namer.fresh(`${name}_zero_points`);
      addInit(makeTensor(dName, DT.UINT8, [V, H / 2], q.data));
      addInit(float32Tensor(sName, [V, blocks], q.scales));
      // symmetric codes carry zero point 8; spelled out so no default has to be assumed
      const zps = q.zeroPoints ?? new Uint8Array(V * Math.ceil(blocks / 2)).fill(0x88);
      addInit(makeTensor(zName, DT.UINT8, [V, Math.ceil(blocks / 2)], zps));
      out.push(
        node(
          'GatherBlockQuantized',
          [dName, n.input[1]!, sName, zName],
          [n.output[0]!],
          namer.fresh(`${base}_Q4`),
          { bits: 4, block_size: bs, gather_axis: 0, quantize_axis: 1 },
          'com.microsoft',
        ),
      );
    },
  };
}

export function quantizeEmbeddings(model: ModelProto, opts: GatherQuantOptions = {}): TransformReport {
  const bs = opts.blockSize ?? 32;
  if (!BLOCK_SIZES.includes(bs))
    throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`, 'EUSAGE');
  return runPass(model, {
    handlers: { Gather: gatherBlockQuantizedHandler(opts) },
    dryRun: opts.dryRun,
    opTypes: opts.opTypes,
    excludeNodes: opts.excludeNodes,
    opset: ['com.microsoft', 1],
  });
}
