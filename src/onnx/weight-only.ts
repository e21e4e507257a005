// Weight-only QDQ (--weight-only int8|int4): constant weights of MatMul/Gemm (and Conv for int8) are
// stored quantized and expanded by a DequantizeLinear in front of the unchanged float op. int8 uses
// ONNX Runtime's affine formulas (per-tensor, or per output channel with --per-channel); int4 is
// block-wise down K (DequantizeLinear with block_size, opset 21), with MatMulNBits' arithmetic, so
// ONNX Runtime can fuse DequantizeLinear+MatMul back into MatMulNBits. Browser-safe.
import type { ModelProto, NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor } from '../formats/scalar/affine.js';
import { quantizeBlockwise4 } from '../formats/scalar/blockwise4.js';
import { LowbitError } from '../errors.js';
import { Namer, attrInt, node, opsetVersion } from './graph.js';
import { dimsOf, forEachGraph, isFloatInit, newReport, nodeLabel, pruneAll, tensorBytes, type TransformReport, keepNode } from './common.js';
import { BLOCK_SIZES } from './matmul-nbits.js';
import { transpose } from './dynamic-int8.js';

export interface WeightOnlyOptions {
  bits: 8 | 4;
  perChannel?: boolean;
  blockSize?: number;
  asymmetric?: boolean;
  dryRun?: boolean;
}

export function quantizeWeightOnly(model: ModelProto, opts: WeightOnlyOptions): TransformReport {
  const top = model.graph!;
  const opset = opsetVersion(model);
  const bs = opts.blockSize ?? 32;
  if (opts.bits === 4) {
    if (!BLOCK_SIZES.includes(bs)) throw new LowbitError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${bs}`);
    if (opset < 21) throw new LowbitError(`--weight-only int4 needs opset 21 (block-wise INT4 DequantizeLinear); this model is opset ${opset}: use --type q4 (MatMulNBits) instead`);
  } else if (opset < 13 && opts.perChannel) {
    throw new LowbitError(`per-channel DequantizeLinear needs opset 13; this model is opset ${opset}`);
  } else if (opset < 10) {
    throw new LowbitError(`DequantizeLinear needs opset 10; this model is opset ${opset}: use --type q8`);
  }
  const report = newReport();
  const namer = new Namer(top);
  const newInits: TensorProto[] = [];
  forEachGraph(top, opts.dryRun, (g, inits) => {
    const done = new Map<string, string>(); // weight -> dequantized value (shared weights quantized once)
    const out: NodeProto[] = [];
    g.node.forEach((n, idx) => {
      const label = nodeLabel(n, idx);
      const ok = n.opType === 'MatMul' || n.opType === 'Gemm' || (n.opType === 'Conv' && opts.bits === 8);
      const wName = n.input[1];
      if (!ok || n.domain || !wName) { out.push(n); return; }
      const w = inits.get(wName);
      const skip = keepNode(report, out, n, label);
      if (!isFloatInit(w)) return skip('weight is not a float32 constant');
      const wd = dimsOf(w);
      if (n.opType !== 'Conv' && wd.length !== 2) return skip(`weight rank ${wd.length}`);
      const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
      let bytesAfter: number;
      let action: string;
      if (opts.bits === 8) {
        // output channels: axis 1 of MatMul's [K,N], axis 0 of Conv's weight and of Gemm's transposed B
        bytesAfter = tensorBytes(w) / 4;
        action = `DequantizeLinear int8 ${opts.perChannel ? 'per-channel' : 'per-tensor'}`;
      } else {
        const K = wd[transB ? 1 : 0]!, N = wd[transB ? 0 : 1]!;
        bytesAfter = Math.ceil((K * N) / 2) + Math.ceil(K / bs) * N * 4;
        action = `DequantizeLinear int4 block ${bs}${opts.asymmetric ? ' asymmetric' : ''}`;
        // blocks run down K: a transposed Gemm weight is stored untransposed and the Gemm's transB cleared
      }
      report.actions.push({ node: label, op: n.opType, action, weight: wName, shape: wd, bytesBefore: tensorBytes(w), bytesAfter });
      if (opts.dryRun) { out.push(n); return; }
      let deq = done.get(wName);
      if (!deq) {
        deq = namer.fresh(`${wName}_DequantizeLinear_Output`);
        const qName = namer.fresh(`${wName}_quantized`), sName = namer.fresh(`${wName}_scale`), zName = namer.fresh(`${wName}_zero_point`);
        const f = tensorToFloat32(w);
        const inputs = [qName, sName];
        const attrs: Record<string, number> = {};
        if (opts.bits === 8) {
          const axis = n.opType === 'MatMul' ? 1 : 0;
          const q = opts.perChannel ? quantizePerChannel(f, wd, axis, 'int8', true) : quantizePerTensor(f, 'int8', true);
          newInits.push(makeTensor(qName, DT.INT8, wd, Uint8Array.from(q.q, (v) => v & 0xff)));
          newInits.push(float32Tensor(sName, opts.perChannel ? [wd[axis]!] : [], q.scales));
          if (opts.perChannel) attrs.axis = axis;
        } else {
          const [K, N] = (transB ? [wd[1], wd[0]] : wd) as [number, number];
          const q = quantizeBlockwise4(transB ? transpose(f, N, K) : f, K, N, bs, !opts.asymmetric);
          const blocks = q.blocks;
          // MatMulNBits layout ([N][block][nibbles], codes with zero point 8) -> row-major [K, N] 4-bit
          const packed = new Uint8Array(Math.ceil((K * N) / 2));
          const scales = new Float32Array(blocks * N);
          const zps = opts.asymmetric ? new Uint8Array(Math.ceil((blocks * N) / 2)) : undefined;
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
              const b = Math.floor(k / bs), j = k - b * bs;
              const code = (q.data[(c * blocks + b) * (bs / 2) + (j >> 1)]! >> ((j & 1) * 4)) & 15;
              // symmetric: signed int4 = code - 8 (two's complement nibble); asymmetric: the uint4 code
              const v = opts.asymmetric ? code : (code - 8) & 15;
              const i = k * N + c;
              packed[i >> 1] = packed[i >> 1]! | (v << ((i & 1) * 4));
            }
          }
          newInits.push(makeTensor(qName, opts.asymmetric ? DT.UINT4 : DT.INT4, [K, N], packed));
          newInits.push(float32Tensor(sName, [blocks, N], scales));
          if (zps) newInits.push(makeTensor(zName, DT.UINT4, [blocks, N], zps));
          attrs.axis = 0;
          attrs.block_size = bs;
        }
        if (opts.bits === 4 && opts.asymmetric) inputs.push(zName);
        out.push(node('DequantizeLinear', inputs, [deq], namer.fresh(`${wName}_DequantizeLinear`), attrs));
        done.set(wName, deq);
      }
      n.input[1] = deq;
      if (opts.bits === 4 && transB) n.attribute = n.attribute.filter((a) => a.name !== 'transB');
      out.push(n);
    });
    if (!opts.dryRun) g.node = out;
  });
  if (!opts.dryRun) {
    top.initializer.push(...newInits);
    pruneAll(top);
  }
  return report;
}
