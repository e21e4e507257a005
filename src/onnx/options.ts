// ONNX variant options as the CLI spells them (--block-size, --weight-only, ...), parsed for the
// ONNX quantizer, and the text report of one variant: the CLI's quantize and quantize-dir and the
// web app use the same.
import { LowbitError } from '../errors.js';
import type { OnnxQuantOptions, UnquantizedWeights, Variant } from './variants.js';
import type { NodeAction } from './common.js';

/** One variant's options (the file-level options of src/node/onnx-file.ts). */
export interface OnnxVariantOptions extends OnnxQuantOptions {
  /** the variant (transformers.js dtype name); 'quantized' is accepted for q8 */
  type: Variant | string;
  /** force tensors into a side file `<output name>_data` */
  externalData?: boolean;
}

/** What a variant did (src/node/onnx-file.ts's result, or the page's). */
export interface OnnxVariantResult {
  variant: Variant;
  actions: NodeAction[];
  notes: string[];
  /** weights left in float, by the op type reading them, with what would quantize them (not for fp16) */
  unquantized?: UnquantizedWeights[];
  /** bytes of the input's float weights (rank >= 2), against which `unquantized` is measured */
  weightBytes?: number;
  inputBytes: number;
  outputBytes: number;
  externalDataFile?: string;
  dryRun: boolean;
}

export interface OnnxCliOptions {
  perChannel?: boolean;
  symmetric?: boolean;
  asymmetric?: boolean;
  reduceRange?: boolean;
  blockSize?: string;
  accuracyLevel?: string;
  externalData?: boolean;
  weightOnly?: string;
  embeddings?: boolean;
  opTypes?: string;
  excludeNodes?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** a comma-separated list (--op-types MatMul,Gemm), or undefined */
function list(s: string | undefined, what: string): string[] | undefined {
  if (s === undefined) return undefined;
  const v = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (!v.length) throw new LowbitError(`${what} needs a comma-separated list, got '${s}'`);
  return v;
}

export function onnxOptions(o: OnnxCliOptions, type: string): OnnxVariantOptions {
  const blockSize = o.blockSize === undefined ? undefined : Number(o.blockSize);
  if (blockSize !== undefined && ![16, 32, 64, 128, 256].includes(blockSize))
    throw new LowbitError(`--block-size must be 16, 32, 64, 128 (or 256 for bnb4), not ${o.blockSize}`, 'EUSAGE');
  return {
    type,
    perChannel: o.perChannel,
    symmetric: o.symmetric,
    asymmetric: o.asymmetric,
    reduceRange: o.reduceRange,
    blockSize,
    accuracyLevel: o.accuracyLevel === undefined ? undefined : Number(o.accuracyLevel),
    externalData: o.externalData,
    dryRun: o.dryRun,
    embeddings: o.embeddings,
    opTypes: list(o.opTypes, '--op-types'),
    excludeNodes: list(o.excludeNodes, '--exclude-nodes'),
    weightOnly: o.weightOnly === undefined ? undefined : parseWeightOnly(o.weightOnly),
  };
}

function parseWeightOnly(s: string): 'int8' | 'int4' {
  const v = s.toLowerCase();
  if (v !== 'int8' && v !== 'int4') throw new LowbitError(`--weight-only takes int8 or int4, not "${s}"`, 'EUSAGE');
  return v;
}
