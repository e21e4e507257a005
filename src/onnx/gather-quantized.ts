// Embedding tables (Gather on a constant [vocab, hidden] table) as com.microsoft GatherBlockQuantized:
// 4-bit blocks along the hidden axis, quantized with MatMulNBits' arithmetic (one row of the table is
// one "column" of blockwise4). Opt-in: ONNX Runtime Web's CPU/WASM backend has no kernel for it.
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { LowbitError } from '../errors.js';
import { Namer, attrInt, ensureOpset, node } from './graph.js';
import { dimsOf, forEachGraph, isFloatInit, newReport, nodeLabel, pruneAll, tensorBytes, type TransformReport, keepNode } from './common.js';
import { transpose } from './dynamic-int8.js';
import { BLOCK_SIZES } from './matmul-nbits.js';

export interface GatherQuantOptions {
  blockSize?: number;
  asymmetric?: boolean;
  dryRun?: boolean;
}

export function quantizeEmbeddings(model: ModelProto, opts: GatherQuantOptions = {}): TransformReport {
  const bs = opts.blockSize ?? 32;
  if (!BLOCK_SIZES.includes(bs)) throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`);
  const top = model.graph!;
  const report = newReport();
  const namer = new Namer(top);
  const newInits: TensorProto[] = [];
  let changed = 0;
  forEachGraph(top, opts.dryRun, (g, inits) => {
    const out: NodeProto[] = [];
    g.node.forEach((n, idx) => {
      if (n.opType !== 'Gather' || n.domain) { out.push(n); return; }
      const label = nodeLabel(n, idx);
      const t = inits.get(n.input[0]!);
      const skip = keepNode(report, out, n, label);
      if (!isFloatInit(t)) return skip('table is not a float32 constant');
      const d = dimsOf(t);
      if (d.length !== 2 || attrInt(n, 'axis', 0) !== 0) return skip('not a [vocab, hidden] lookup on axis 0');
      const [V, H] = d as [number, number];
      if (H % bs) return skip(`hidden size ${H} is not a multiple of the block size ${bs}`);
      const blocks = H / bs;
      report.actions.push({ node: label, op: 'Gather', action: `GatherBlockQuantized 4-bit block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`, weight: t.name, shape: d, bytesBefore: tensorBytes(t), bytesAfter: (V * H) / 2 + V * blocks * 4 + V * Math.ceil(blocks / 2) });
      if (opts.dryRun) { out.push(n); return; }
      // blockwise4 quantizes columns of a [K, N] matrix: the transposed table makes each row a column
      const q = quantizeBlockwise4(transpose(tensorToFloat32(t), V, H), H, V, bs, !opts.asymmetric);
      const base = n.name || n.output[0]!;
      const dName = namer.fresh(`${t.name}_Q4`), sName = namer.fresh(`${t.name}_scales`), zName = namer.fresh(`${t.name}_zero_points`);
      newInits.push(makeTensor(dName, DT.UINT8, [V, H / 2], q.data));
      newInits.push(float32Tensor(sName, [V, blocks], q.scales));
      // symmetric codes carry zero point 8; spelled out so no default has to be assumed
      const zps = q.zeroPoints ?? new Uint8Array(V * Math.ceil(blocks / 2)).fill(0x88);
      newInits.push(makeTensor(zName, DT.UINT8, [V, Math.ceil(blocks / 2)], zps));
      out.push(node('GatherBlockQuantized', [dName, n.input[1]!, sName, zName], [n.output[0]!], namer.fresh(`${base}_Q4`),
        { bits: 4, block_size: bs, gather_axis: 0, quantize_axis: 1 }, 'com.microsoft'));
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
