// Plain-words description of a block format, built from the registry entry and a worked example:
// one block of sample weights quantized and read back with the format's own codec.
import type { BlockCodec } from '../formats/codec.js';
import { bitsPerWeight } from '../formats/codec.js';
import { requiresImatrix } from '../plan/tensor-rules.js';
import { GGML_TYPE } from '../formats/ggml-types.js';
import { quantizeBest } from '../formats/encoder.js';

export interface FormatDescription {
  name: string;
  ggmlName: string;
  blockSize: number;
  bytesPerBlock: number;
  bitsPerWeight: number;
  layout: string;
  example: {
    input: number[];
    output: number[];
    rmse: number;
    /** the same weights with --encoder best */ rmseBest: number;
  };
  text: string;
}

/**
 * What the importance matrix means for this type, as quantize enforces it: ggml's own refusal
 * (ggml_quantize_requires_imatrix) and llama.cpp's per-tensor one (tensor_requires_imatrix, the
 * same function quantize's plan uses: src/plan/tensor-rules.ts).
 */
function imatrixLines(c: BlockCodec): string[] {
  if (c.requiresImatrix)
    return [
      '  needs an importance matrix: ggml refuses to quantize it without one, and quantize refuses it without --imatrix (the example uses a uniform one)',
    ];
  // any weight matrix but the embeddings and the output, in a file type other than Q2_K_S
  if (requiresImatrix('blk.0.attn_q.weight', c.type.id, 0))
    return [
      '  needs an importance matrix in a model: quantize, as llama.cpp, refuses to put it on a tensor without --imatrix (ggml itself quantizes it without one, as the example does)',
    ];
  if (c.type.id === GGML_TYPE.Q2_K)
    return ['  needs an importance matrix only in the Q2_K_S file type (quantize refuses Q2_K_S without --imatrix)'];
  return [];
}

export function describeFormat(c: BlockCodec): FormatDescription {
  const n = Math.max(c.type.blockSize, c.name.endsWith('_K') || c.type.blockSize === 256 ? 256 : 32);
  // a smooth, signed sample that looks like weights: not random, so the text is stable
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.05 * Math.sin(i * 0.37) + 0.02 * Math.cos(i * 1.9) - 0.004;
  const q = new Uint8Array((n / c.type.blockSize) * c.type.typeSize);
  // formats that cannot go without an importance matrix get a uniform one (every weight equal)
  c.quantize(x, q, 1, n, c.requiresImatrix ? new Float32Array(n).fill(1) : null);
  const y = new Float32Array(n);
  c.dequantize(q, y, n);
  let se = 0;
  for (let i = 0; i < n; i++) se += (y[i]! - x[i]!) ** 2;
  const rmse = Math.sqrt(se / n);
  // --encoder best on the same weights (never worse; often less error for the same bytes)
  quantizeBest(c, x, q, 1, n, c.requiresImatrix ? new Float32Array(n).fill(1) : null);
  c.dequantize(q, y, n);
  let seBest = 0;
  for (let i = 0; i < n; i++) seBest += (y[i]! - x[i]!) ** 2;
  const rmseBest = Math.sqrt(seBest / n);
  c.quantize(x, q, 1, n, c.requiresImatrix ? new Float32Array(n).fill(1) : null);
  c.dequantize(q, y, n);
  const bpw = bitsPerWeight(c);
  const show = 6;
  const text = [
    `${c.name} (ggml type ${c.type.ggmlName}, id ${c.type.id})`,
    `  block: ${c.type.blockSize} weight${c.type.blockSize > 1 ? 's' : ''} in ${c.type.typeSize} bytes = ${bpw.toFixed(4).replace(/\.?0+$/, '')} bits per weight (${(32 / bpw).toFixed(2)}x smaller than F32)`,
    `  layout: ${c.layout}`,
    ...imatrixLines(c),
    `  example, first ${show} of ${n} weights:`,
    `    in : ${Array.from(x.subarray(0, show), (v) => v.toFixed(5)).join('  ')}`,
    `    out: ${Array.from(y.subarray(0, show), (v) => v.toFixed(5)).join('  ')}`,
    `    rms error over the ${n}: ${rmse.toExponential(2)}`,
    `    with --encoder best (same format, lowbit's stronger search): ${rmseBest.toExponential(2)}${rmse > 0 ? `, ${(100 * (1 - (rmseBest * rmseBest) / (rmse * rmse))).toFixed(1)}% less squared error` : ''}`,
  ].join('\n');
  return {
    name: c.name,
    ggmlName: c.type.ggmlName,
    blockSize: c.type.blockSize,
    bytesPerBlock: c.type.typeSize,
    bitsPerWeight: bpw,
    layout: c.layout,
    example: { input: Array.from(x.subarray(0, show)), output: Array.from(y.subarray(0, show)), rmse, rmseBest },
    text,
  };
}
