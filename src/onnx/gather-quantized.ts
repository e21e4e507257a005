// Embedding tables (Gather on a constant [vocab, hidden] table) as com.microsoft GatherBlockQuantized:
// 4-bit blocks along the hidden axis, quantized with MatMulNBits' arithmetic (one row of the table is
// one "column" of blockwise4). Opt-in: ONNX Runtime Web's CPU/WASM backend has no kernel for it.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { attrInt } from './graph.js';
import { dimsOf, isFloatInit, tensorBytes, transpose, type TransformReport } from './common.js';
import { handlersOf, runPass, type HandlerTable, type NodePlan, type OpHandler } from './pass.js';
import { BLOCK_SIZES } from './matmul-nbits.js';
import {
  addFloats,
  addTensor,
  baseName,
  blockwise4Bytes,
  checkBlockSize,
  emit,
  MS_DOMAIN,
  selection,
  type PassOptions,
} from './rewrite.js';

export interface GatherQuantOptions extends PassOptions {
  blockSize?: number;
  asymmetric?: boolean;
}

interface GatherPlan extends NodePlan {
  V: number;
  H: number;
}

/** Gather on a constant table -> GatherBlockQuantized (bits 4, blocks along the hidden axis). */
function gatherBlockQuantizedHandler(opts: GatherQuantOptions): OpHandler<GatherPlan> {
  const bs = opts.blockSize ?? 32;
  return {
    plan(n, { inits }) {
      const t = inits.get(n.input[0]!);
      if (!isFloatInit(t)) return 'table is not a float32 constant';
      const d = dimsOf(t);
      if (d.length !== 2 || attrInt(n, 'axis', 0) !== 0) return 'not a [vocab, hidden] lookup on axis 0';
      const [V, H] = d as [number, number];
      if (H % bs) return `hidden size ${H} is not a multiple of the block size ${bs}`;
      return {
        action: `GatherBlockQuantized 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`,
        weight: t.name,
        shape: d,
        bytesBefore: tensorBytes(t),
        // zero points always (symmetric ones spelled out)
        bytesAfter: blockwise4Bytes(H, V, bs, true),
        V,
        H,
      };
    },
    rewrite(n, p, ctx) {
      const { V, H } = p;
      const blocks = H / bs;
      // blockwise4 quantizes columns of a [K, N] matrix: the transposed table makes each row a column
      const table = transpose(tensorToFloat32(ctx.inits.get(p.weight)!), V, H);
      const q = quantizeBlockwise4(table, H, V, bs, !opts.asymmetric);
      // symmetric codes carry zero point 8; spelled out so no default has to be assumed
      const zps = q.zeroPoints ?? new Uint8Array(V * Math.ceil(blocks / 2)).fill(0x88);
      const inputs = [
        addTensor(ctx, `${p.weight}_Q4`, DT.UINT8, [V, H / 2], q.data),
        n.input[1]!,
        addFloats(ctx, `${p.weight}_scales`, [V, blocks], q.scales),
        addTensor(ctx, `${p.weight}_zero_points`, DT.UINT8, [V, Math.ceil(blocks / 2)], zps),
      ];
      const attrs = { bits: 4, block_size: bs, gather_axis: 0, quantize_axis: 1 };
      emit(ctx, 'GatherBlockQuantized', inputs, [n.output[0]!], `${baseName(n)}_Q4`, attrs, MS_DOMAIN);
    },
  };
}

/** The gather-block-quantized pass's handlers, by op type. */
export const GATHER_QUANTIZED_HANDLERS: HandlerTable<GatherQuantOptions> = {
  Gather: gatherBlockQuantizedHandler,
};

export function quantizeEmbeddings(model: ModelProto, opts: GatherQuantOptions = {}): TransformReport {
  checkBlockSize(opts.blockSize ?? 32, BLOCK_SIZES, '--block-size', 'EUSAGE');
  return runPass(model, {
    handlers: handlersOf(GATHER_QUANTIZED_HANDLERS, opts),
    ...selection(opts),
    opset: ['com.microsoft', 1],
  });
}
