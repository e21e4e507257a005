// transformers.js's dtype variants, applied to an in-memory ModelProto. Browser-safe: the file edges
// live in quantize-file.ts.
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';
import { LowbitError } from '../errors.js';
import { quantizeDynamicInt8 } from './dynamic-int8.js';
import { quantizeMatMul4Bits } from './matmul-nbits.js';
import { convertToFp16 } from './fp16.js';
import { quantizeWeightOnly } from './weight-only.js';
import { quantizeEmbeddings } from './gather-quantized.js';
import { quantizeMatMulBnb4 } from './matmul-bnb4.js';
import type { TransformReport } from './common.js';

export const VARIANTS = ['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type Variant = (typeof VARIANTS)[number];

/** File-name suffix transformers.js looks for: onnx/<base><suffix>.onnx for pipeline(..., { dtype }) */
export const VARIANT_SUFFIX: Record<Variant, string> = {
  fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4',
};

export function isVariant(s: string): s is Variant {
  return (VARIANTS as readonly string[]).includes(s);
}

export function parseVariant(s: string): Variant {
  const v = s.toLowerCase() === 'quantized' ? 'q8' : s.toLowerCase();
  if (!isVariant(v)) throw new LowbitError(`unknown ONNX variant "${s}": use one of ${VARIANTS.join(', ')}`);
  return v;
}

export interface OnnxQuantOptions {
  perChannel?: boolean;
  /** int8 variants: symmetric weights (default: symmetric for int8, asymmetric for uint8) */
  symmetric?: boolean;
  reduceRange?: boolean;
  blockSize?: number;
  asymmetric?: boolean;
  accuracyLevel?: number;
  fp16BlockList?: string[];
  /**
   * QDQ weight-only instead of the variant's own operators: int8 (DequantizeLinear per tensor or per
   * channel) or int4 (block-wise DequantizeLinear, opset 21). The f16 variants still get the fp16 pass.
   */
  weightOnly?: 'int8' | 'int4';
  /** q4 variants: also embedding tables, as com.microsoft GatherBlockQuantized (not in ORT Web's WASM) */
  embeddings?: boolean;
  dryRun?: boolean;
}

export function quantizeOnnxModel(model: ModelProto, variant: Variant, o: OnnxQuantOptions = {}): TransformReport {
  const merged: TransformReport = { actions: [], notes: [] };
  const add = (r: TransformReport) => { merged.actions.push(...r.actions); merged.notes.push(...r.notes); };
  const int8 = (weightType: 'int8' | 'uint8', convWeightType: 'int8' | 'uint8') =>
    add(quantizeDynamicInt8(model, { weightType, convWeightType, perChannel: o.perChannel, symmetric: o.symmetric ?? (o.asymmetric ? false : undefined), reduceRange: o.reduceRange, dryRun: o.dryRun }));
  const q4 = () => {
    add(quantizeMatMul4Bits(model, { blockSize: o.blockSize, asymmetric: o.asymmetric, accuracyLevel: o.accuracyLevel, dryRun: o.dryRun }));
    if (o.embeddings) add(quantizeEmbeddings(model, { blockSize: o.blockSize, asymmetric: o.asymmetric, dryRun: o.dryRun }));
  };
  const fp16 = () => add(convertToFp16(model, { opBlockList: o.fp16BlockList, dryRun: o.dryRun }));
  if (o.weightOnly) {
    if (o.weightOnly !== 'int8' && o.weightOnly !== 'int4') throw new LowbitError(`--weight-only takes int8 or int4, not "${String(o.weightOnly)}"`);
    if (variant === 'fp16') throw new LowbitError('--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16');
    add(quantizeWeightOnly(model, { bits: o.weightOnly === 'int8' ? 8 : 4, perChannel: o.perChannel, blockSize: o.blockSize, asymmetric: o.asymmetric, dryRun: o.dryRun }));
    if (variant === 'q4f16') fp16();
    return merged;
  }
  switch (variant) {
    // transformers.js's "quantized": uint8 weights when the model has convolutions (what ConvInteger
    // takes everywhere), int8 otherwise
    case 'q8': {
      const hasConv = model.graph!.node.some((n) => n.opType === 'Conv');
      int8(hasConv ? 'uint8' : 'int8', 'uint8');
      break;
    }
    case 'int8': int8('int8', 'int8'); break;
    case 'uint8': int8('uint8', 'uint8'); break;
    case 'q4': q4(); break;
    case 'fp16': fp16(); break;
    case 'q4f16': q4(); fp16(); break;
    case 'bnb4': add(quantizeMatMulBnb4(model, { blockSize: o.blockSize ?? 64, dryRun: o.dryRun })); break;
  }
  return merged;
}
