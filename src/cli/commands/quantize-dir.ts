// `lowbit quantize-dir model_dir/ --variants fp16,q8,q4,q4f16`: writes onnx/<base>_<suffix>.onnx
// beside each onnx/<base>.onnx, the names transformers.js looks for with pipeline(..., { dtype }).
// Also home of the ONNX report printer the `quantize` command uses for .onnx inputs.
import type { Command } from 'commander';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { fmtBytes, table } from '../format.js';
import { quantizeOnnxFile, type QuantizeOnnxFileOptions, type QuantizeOnnxFileResult } from '../../onnx/quantize-file.js';
import { parseVariant, VARIANT_SUFFIX, VARIANTS, type Variant } from '../../onnx/variants.js';

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
  const v = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (!v.length) throw new LowbitError(`${what} needs a comma-separated list, got '${s}'`);
  return v;
}

export function onnxOptions(o: OnnxCliOptions, type: string): QuantizeOnnxFileOptions {
  const blockSize = o.blockSize === undefined ? undefined : Number(o.blockSize);
  if (blockSize !== undefined && ![16, 32, 64, 128, 256].includes(blockSize)) throw new LowbitError(`--block-size must be 16, 32, 64, 128 (or 256 for bnb4), not ${o.blockSize}`);
  return {
    type, perChannel: o.perChannel, symmetric: o.symmetric, asymmetric: o.asymmetric, reduceRange: o.reduceRange,
    blockSize, accuracyLevel: o.accuracyLevel === undefined ? undefined : Number(o.accuracyLevel),
    externalData: o.externalData, dryRun: o.dryRun,
    embeddings: o.embeddings,
    opTypes: list(o.opTypes, '--op-types'),
    excludeNodes: list(o.excludeNodes, '--exclude-nodes'),
    weightOnly: o.weightOnly === undefined ? undefined : parseWeightOnly(o.weightOnly),
  };
}

function parseWeightOnly(s: string): 'int8' | 'int4' {
  const v = s.toLowerCase();
  if (v !== 'int8' && v !== 'int4') throw new LowbitError(`--weight-only takes int8 or int4, not "${s}"`);
  return v;
}

/** Human report of one ONNX variant: what happened to each node, and the sizes. */
export function formatOnnxResult(input: string, output: string, r: QuantizeOnnxFileResult): string {
  const lines: string[] = [];
  const rows = r.actions.map((a) => [a.node, a.op, a.action, a.shape ? a.shape.join('x') : '', a.bytesBefore !== undefined ? fmtBytes(a.bytesBefore) : '', a.bytesAfter !== undefined ? fmtBytes(a.bytesAfter) : '']);
  lines.push(`${r.dryRun ? 'plan for' : 'wrote'} ${output} (${r.variant}) from ${input}`);
  if (rows.length) lines.push(table(['node', 'op', 'action', 'weight', 'before', 'after'], rows));
  for (const n of r.notes) lines.push(`note: ${n}`);
  lines.push(...unquantizedLines(r));
  const ratio = r.inputBytes ? (r.outputBytes / r.inputBytes) : 1;
  lines.push(`${r.dryRun ? 'predicted size' : 'size'}: ${fmtBytes(r.inputBytes)} -> ${fmtBytes(r.outputBytes)} (${(ratio * 100).toFixed(1)}%)${r.externalDataFile ? `, weights in ${r.externalDataFile}` : ''}`);
  return lines.join('\n');
}

/** What stayed in float and what would quantize it: one line per op type, then the share of weight bytes. */
export function unquantizedLines(r: Pick<QuantizeOnnxFileResult, 'unquantized' | 'weightBytes'>): string[] {
  const left = r.unquantized ?? [];
  if (!left.length) return [];
  const bytes = left.reduce((s, u) => s + u.bytes, 0);
  const share = r.weightBytes ? ` (${((bytes / r.weightBytes) * 100).toFixed(1)}% of the weight bytes)` : '';
  const lines = [`not quantized: ${left.reduce((s, u) => s + u.count, 0)} weight tensor(s), ${fmtBytes(bytes)}${share}, left in float:`];
  for (const u of left) {
    const what = `${u.count} ${u.op} weight${u.count > 1 ? 's' : ''}, ${fmtBytes(u.bytes)}`;
    lines.push(u.deselected ? `  ${what}: left out by --op-types/--exclude-nodes` : `  ${what}: ${u.how}`);
  }
  return lines;
}

/** A warning for stderr when most of the weight bytes stayed float (the output is barely smaller), else undefined. */
export function unquantizedWarning(output: string, r: QuantizeOnnxFileResult): string | undefined {
  const left = (r.unquantized ?? []).filter((u) => !u.deselected);
  const bytes = left.reduce((s, u) => s + u.bytes, 0);
  if (!r.weightBytes || bytes / r.weightBytes < 0.5) return undefined;
  const ops = left.map((u) => u.op).join(', ');
  return `lowbit: warning: ${output}: ${r.variant} left ${((bytes / r.weightBytes) * 100).toFixed(0)}% of the weight bytes in float (${ops} weights); see "not quantized" for what would quantize them`;
}

/** Model file bases in onnx/: model.onnx, encoder_model.onnx, decoder_model_merged.onnx ... but not variants. */
export function baseModels(onnxDir: string): string[] {
  const suffixes = Object.values(VARIANT_SUFFIX).concat(['_bnb4']);
  return readdirSync(onnxDir)
    .filter((f) => f.endsWith('.onnx') && statSync(join(onnxDir, f)).isFile())
    .map((f) => f.slice(0, -5))
    .filter((b) => !suffixes.some((s) => b.endsWith(s)))
    .sort();
}

export async function quantizeDir(dir: string, variants: Variant[], opts: OnnxCliOptions, log: (s: string) => void = () => {}): Promise<{ file: string; result: QuantizeOnnxFileResult }[]> {
  const onnxDir = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  if (!existsSync(onnxDir) || !statSync(onnxDir).isDirectory()) throw new LowbitError(`${dir}: not a directory`);
  const bases = baseModels(onnxDir);
  if (!bases.length) throw new LowbitError(`${onnxDir}: no .onnx models to quantize`);
  const done: { file: string; result: QuantizeOnnxFileResult }[] = [];
  for (const base of bases) {
    for (const v of variants) {
      const input = join(onnxDir, `${base}.onnx`);
      const output = join(onnxDir, `${base}${VARIANT_SUFFIX[v]}.onnx`);
      const result = await quantizeOnnxFile(input, output, onnxOptions(opts, v));
      log(formatOnnxResult(input, output, result));
      const warn = unquantizedWarning(output, result);
      if (warn) process.stderr.write(warn + '\n');
      done.push({ file: output, result });
    }
  }
  return done;
}

export function register(program: Command): void {
  program
    .command('quantize-dir')
    .description('write the ONNX variants transformers.js loads (onnx/model_fp16.onnx, model_quantized.onnx, model_q4.onnx ...) beside each onnx/<base>.onnx')
    .argument('<dir>', 'model folder (with an onnx/ subfolder) or the onnx/ folder itself')
    .option('--variants <list>', `comma-separated, of ${VARIANTS.join(', ')}`, 'fp16,q8,q4,q4f16')
    .option('--per-channel', 'int8 variants: one scale per output channel')
    .option('--symmetric', 'int8 variants: symmetric weights (default for int8)')
    .option('--reduce-range', 'int8 variants: 7-bit weights (for CPUs without VNNI)')
    .option('--block-size <n>', 'q4 variants: 16, 32 (default), 64 or 128; bnb4: 16-256 (default 64)')
    .option('--asymmetric', 'q4 variants: zero points per block; int8 variants: asymmetric weights')
    .option('--accuracy-level <n>', 'q4 variants: MatMulNBits accuracy_level (0-4)')
    .option('--weight-only <bits>', 'int8 or int4: QDQ weight-only (DequantizeLinear) instead of MatMulInteger/MatMulNBits')
    .option('--embeddings', 'q4 variants: embedding tables too, as GatherBlockQuantized (not supported by ONNX Runtime Web on CPU)')
    .option('--op-types <list>', 'quantize only these op types, e.g. MatMul,Gemm (ONNX Runtime\'s op_types_to_quantize)')
    .option('--exclude-nodes <names>', 'comma-separated node names to leave in FP32 (ONNX Runtime\'s nodes_to_exclude)')
    .option('--external-data', 'put weights in a side file <model>_data')
    .option('--dry-run', 'list what would be quantized and the predicted sizes; write nothing')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: OnnxCliOptions & { variants: string }) => {
      const variants = opts.variants.split(',').map((s) => s.trim()).filter(Boolean).map(parseVariant);
      const res = await quantizeDir(dir, variants, opts, opts.json ? undefined : (s) => process.stdout.write(s + '\n\n'));
      if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    });
}
