// The text report of one ONNX variant, for `quantize` (.onnx inputs) and `quantize-dir`.
import { fmtBytes, table } from './format.js';
import type { OnnxVariantResult } from '../onnx/options.js';

/** Human report of one ONNX variant: what happened to each node, and the sizes. */
export function formatOnnxResult(input: string, output: string, r: OnnxVariantResult): string {
  const lines: string[] = [];
  const rows = r.actions.map((a) => [
    a.node,
    a.op,
    a.action,
    a.shape ? a.shape.join('x') : '',
    a.bytesBefore !== undefined ? fmtBytes(a.bytesBefore) : '',
    a.bytesAfter !== undefined ? fmtBytes(a.bytesAfter) : '',
  ]);
  lines.push(`${r.dryRun ? 'plan for' : 'wrote'} ${output} (${r.variant}) from ${input}`);
  if (rows.length) lines.push(table(['node', 'op', 'action', 'weight', 'before', 'after'], rows));
  for (const n of r.notes) lines.push(`note: ${n}`);
  lines.push(...unquantizedLines(r));
  const ratio = r.inputBytes ? r.outputBytes / r.inputBytes : 1;
  lines.push(
    `${r.dryRun ? 'predicted size' : 'size'}: ${fmtBytes(r.inputBytes)} -> ${fmtBytes(r.outputBytes)} (${(ratio * 100).toFixed(1)}%)${r.externalDataFile ? `, weights in ${r.externalDataFile}` : ''}`,
  );
  return lines.join('\n');
}

/** What stayed in float and what would quantize it: one line per op type, then the share of weight bytes. */
export function unquantizedLines(r: Pick<OnnxVariantResult, 'unquantized' | 'weightBytes'>): string[] {
  const left = r.unquantized ?? [];
  if (!left.length) return [];
  const bytes = left.reduce((s, u) => s + u.bytes, 0);
  const share = r.weightBytes ? ` (${((bytes / r.weightBytes) * 100).toFixed(1)}% of the weight bytes)` : '';
  const lines = [
    `not quantized: ${left.reduce((s, u) => s + u.count, 0)} weight tensor(s), ${fmtBytes(bytes)}${share}, left in float:`,
  ];
  for (const u of left) {
    const what = `${u.count} ${u.op} weight${u.count > 1 ? 's' : ''}, ${fmtBytes(u.bytes)}`;
    lines.push(u.deselected ? `  ${what}: left out by --op-types/--exclude-nodes` : `  ${what}: ${u.how}`);
  }
  return lines;
}

/** A warning for stderr when most of the weight bytes stayed float (the output is barely smaller), else undefined. */
export function unquantizedWarning(output: string, r: OnnxVariantResult): string | undefined {
  const left = (r.unquantized ?? []).filter((u) => !u.deselected);
  const bytes = left.reduce((s, u) => s + u.bytes, 0);
  if (!r.weightBytes || bytes / r.weightBytes < 0.5) return undefined;
  const ops = left.map((u) => u.op).join(', ');
  return `lowbit: warning: ${output}: ${r.variant} left ${((bytes / r.weightBytes) * 100).toFixed(0)}% of the weight bytes in float (${ops} weights); see "not quantized" for what would quantize them`;
}
