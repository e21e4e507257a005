// The text report of one ONNX variant, for `quantize` (.onnx inputs) and `quantize-dir`.
import { fmtBytes, table } from './format.js';
import type { OnnxVariantResult } from '../onnx/options.js';

/** Human report of one ONNX variant: what happened to each node, and the sizes. */
export function formatOnnxResult(input: string, output: string, r: OnnxVariantResult): string {
  const lines: string[] = [];
  const rows = r.actions.map((a) => [a.node, a.op, a.action, a.shape ? a.shape.join('x') : '', a.bytesBefore !== undefined ? fmtBytes(a.bytesBefore) : '', a.bytesAfter !== undefined ? fmtBytes(a.bytesAfter) : '']);
  lines.push(`${r.dryRun ? 'plan for' : 'wrote'} ${output} (${r.variant}) from ${input}`);
  if (rows.length) lines.push(table(['node', 'op', 'action', 'weight', 'before', 'after'], rows));
  for (const n of r.notes) lines.push(`note: ${n}`);
  const ratio = r.inputBytes ? (r.outputBytes / r.inputBytes) : 1;
  lines.push(`${r.dryRun ? 'predicted size' : 'size'}: ${fmtBytes(r.inputBytes)} -> ${fmtBytes(r.outputBytes)} (${(ratio * 100).toFixed(1)}%)${r.externalDataFile ? `, weights in ${r.externalDataFile}` : ''}`);
  return lines.join('\n');
}

