// `lowbit quantize-dir model_dir/ --variants fp16,q8,q4,q4f16`: writes onnx/<base>_<suffix>.onnx
// beside each onnx/<base>.onnx, the names transformers.js looks for with pipeline(..., { dtype }).
import type { Command } from 'commander';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { refuseOutputOverInputs, requireInputFiles } from '../../node/output-guard.js';
import { fmtBytes, table } from '../format.js';
import { quantizeOnnxFile, type QuantizeOnnxFileResult } from '../../node/onnx-file.js';
import { onnxOptions, type OnnxCliOptions } from '../../onnx/options.js';
import { formatOnnxResult, unquantizedWarning } from '../onnx-result.js';
import { parseVariant, VARIANT_SUFFIX, VARIANTS, type Variant } from '../../onnx/variants.js';

/** Model file bases in onnx/: model.onnx, encoder_model.onnx, decoder_model_merged.onnx ... but not variants. */
export function baseModels(onnxDir: string): string[] {
  const suffixes = Object.values(VARIANT_SUFFIX).concat(['_bnb4']);
  return readdirSync(onnxDir)
    .filter((f) => f.endsWith('.onnx') && statSync(join(onnxDir, f)).isFile())
    .map((f) => f.slice(0, -5))
    .filter((b) => !suffixes.some((s) => b.endsWith(s)))
    .sort();
}

export async function quantizeDir(
  dir: string,
  variants: Variant[],
  opts: OnnxCliOptions,
  log: (s: string) => void = () => {},
): Promise<{ file: string; result: QuantizeOnnxFileResult }[]> {
  requireInputFiles([dir], { allowDirs: true });
  const onnxDir = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  if (!existsSync(onnxDir) || !statSync(onnxDir).isDirectory()) throw new LowbitError(`${dir}: not a directory`);
  const bases = baseModels(onnxDir);
  if (!bases.length) throw new LowbitError(`${onnxDir}: no .onnx models to quantize`);
  // no generated variant may land on any model it reads (a symlinked or hard-linked variant name):
  // all refused before the first is read
  if (!opts.dryRun) {
    refuseOutputOverInputs(
      bases.flatMap((b) => variants.map((v) => join(onnxDir, `${b}${VARIANT_SUFFIX[v]}.onnx`))),
      bases.map((b) => join(onnxDir, `${b}.onnx`)),
    );
  }
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
    .description(
      'write the ONNX variants transformers.js loads (onnx/model_fp16.onnx, model_quantized.onnx, model_q4.onnx ...) beside each onnx/<base>.onnx',
    )
    .argument('<dir>', 'model folder (with an onnx/ subfolder) or the onnx/ folder itself')
    .option('--variants <list>', `comma-separated, of ${VARIANTS.join(', ')}`, 'fp16,q8,q4,q4f16')
    .option('--per-channel', 'int8 variants: one scale per output channel')
    .option('--symmetric', 'int8 variants: symmetric weights (default for int8)')
    .option('--reduce-range', 'int8 variants: 7-bit weights (for CPUs without VNNI)')
    .option('--block-size <n>', 'q4 variants: 16, 32 (default), 64 or 128; bnb4: 16-256 (default 64)')
    .option('--asymmetric', 'q4 variants: zero points per block; int8 variants: asymmetric weights')
    .option('--accuracy-level <n>', 'q4 variants: MatMulNBits accuracy_level (0-4)')
    .option(
      '--weight-only <bits>',
      'int8 or int4: QDQ weight-only (DequantizeLinear) instead of MatMulInteger/MatMulNBits',
    )
    .option(
      '--embeddings',
      'q4 variants: embedding tables too, as GatherBlockQuantized (not supported by ONNX Runtime Web on CPU)',
    )
    .option('--op-types <list>', "quantize only these op types, e.g. MatMul,Gemm (ONNX Runtime's op_types_to_quantize)")
    .option('--exclude-nodes <names>', "comma-separated node names to leave in FP32 (ONNX Runtime's nodes_to_exclude)")
    .option('--external-data', 'put weights in a side file <model>_data')
    .option('--dry-run', 'list what would be quantized and the predicted sizes; write nothing')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: OnnxCliOptions & { variants: string }) => {
      const variants = opts.variants
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(parseVariant);
      const res = await quantizeDir(
        dir,
        variants,
        opts,
        opts.json ? undefined : (s) => process.stdout.write(s + '\n\n'),
      );
      if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    });
}
