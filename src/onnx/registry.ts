// Which op types lowbit quantizes, by which pass, and which variant or flag selects it: the registry
// the variants are composed from (as ONNX Runtime's registry.py maps op types to operator classes per
// mode), and what `quantize` consults to say how weights it left in float could be quantized.
// The handlers themselves live beside each pass (matmul-nbits.ts, dynamic-int8.ts ...). Browser-safe.
import { INTEGER_OPS_HANDLERS } from './dynamic-int8.js';
import { MATMUL_NBITS_HANDLERS } from './matmul-nbits.js';
import { GATHER_QUANTIZED_HANDLERS } from './gather-quantized.js';
import { MATMUL_BNB4_HANDLERS } from './matmul-bnb4.js';
import { QDQ_INT4_HANDLERS, QDQ_INT8_HANDLERS } from './weight-only.js';

export type PassId =
  'integer-ops' | 'matmul-nbits' | 'gather-block-quantized' | 'matmul-bnb4' | 'qdq-int8' | 'qdq-int4';

export interface PassInfo {
  id: PassId;
  /** op types it has a handler for */
  ops: readonly string[];
  /** how a user selects it, and the operators it writes */
  how: string;
}

export const PASSES: readonly PassInfo[] = [
  {
    id: 'integer-ops',
    ops: Object.keys(INTEGER_OPS_HANDLERS),
    how: '--type q8, int8 or uint8 (MatMulInteger/ConvInteger)',
  },
  { id: 'matmul-nbits', ops: Object.keys(MATMUL_NBITS_HANDLERS), how: '--type q4 or q4f16 (MatMulNBits)' },
  {
    id: 'gather-block-quantized',
    ops: Object.keys(GATHER_QUANTIZED_HANDLERS),
    how: '--type q4 --embeddings (GatherBlockQuantized)',
  },
  { id: 'matmul-bnb4', ops: Object.keys(MATMUL_BNB4_HANDLERS), how: '--type bnb4 (MatMulBnb4)' },
  { id: 'qdq-int8', ops: Object.keys(QDQ_INT8_HANDLERS), how: '--weight-only int8 (DequantizeLinear)' },
  {
    id: 'qdq-int4',
    ops: Object.keys(QDQ_INT4_HANDLERS),
    how: '--weight-only int4 (block-wise DequantizeLinear, opset 21)',
  },
];

/** Ops with weights that no lowbit pass quantizes, and what does. */
const ELSEWHERE: Record<string, string> = {
  LSTM: "lowbit has no LSTM quantizer (ONNX Runtime's quantize_dynamic writes com.microsoft DynamicQuantizeLSTM)",
  GRU: 'lowbit has no GRU quantizer',
  RNN: 'lowbit has no RNN quantizer',
  ConvTranspose: "lowbit has no ConvTranspose quantizer (ONNX Runtime's static QDQ quantizer has one)",
  Attention: "lowbit has no com.microsoft Attention quantizer (ONNX Runtime's quantize_dynamic does)",
};

export function passInfo(id: PassId): PassInfo {
  return PASSES.find((p) => p.id === id)!;
}

/** The ways to quantize an op type's weights, or a sentence saying there is none. */
export function howToQuantize(op: string): string {
  const ways = PASSES.filter((p) => p.ops.includes(op)).map((p) => p.how);
  if (ways.length) return ways.join('; or ');
  return ELSEWHERE[op] ?? `lowbit has no ${op} quantizer`;
}
