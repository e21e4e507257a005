// `lowbit convert llama2c|hf`: import checkpoints from other tools as GGUFs llama.cpp runs. A
// quantized --type converts and quantizes in one streaming pass, with the quantize command's mixes
// and rules (and its --pure, --tensor-type, --output-tensor-type, ... options).
import type { Command } from 'commander';
import {
  convertLlama2cFiles,
  convertHfDir,
  hfInputFiles,
  type ConvertQuantizeOptions,
} from '../../node/convert-files.js';
import { refuseOutputOverInputs, requireInputFiles } from '../../node/output-guard.js';
import { supportedClasses } from '../../convert/hf/arch/index.js';
import { FLOAT_OUT_TYPES } from '../../convert/write-gguf.js';
import { parseFileType } from '../../plan/file-types.js';
import { LowbitError } from '../../errors.js';
import { interruptiblePhase, onInterrupt } from '../interrupt.js';
import { parseGgmlType, parseTensorType } from '../../plan/options.js';
import {
  applySensitivity,
  needsEngine,
  readTargetOptions,
  refineNow,
  targetOptions,
  type TargetCliOptions,
} from '../target-options.js';
import { printDryRun } from '../dry-run.js';
import { loadImatrix } from '../../node/imatrix-file.js';
import { fallbackWarning, type QuantPlan } from '../../plan/plan.js';
import { calibrateOptions, checkCalibrateOptions, runCalibration, type CalibrateCliOptions } from '../calibrate.js';
import { makeTempDir } from '../../node/temp-dir.js';
import { join } from 'node:path';
import { GPTQ_NEEDS_ACTIVATIONS } from '../../pipeline/quantize-gguf.js';

/** F32/F16/BF16, or any llama-quantize file type (checked here so a bad name fails before any work). */
function outType(s: string): string {
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(s.toUpperCase())) return s.toUpperCase();
  return parseFileType(s).name;
}

interface QuantOpts extends TargetCliOptions {
  type: string;
  pure?: boolean;
  tensorType: string[];
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  leaveOutputTensor?: boolean;
  imatrix?: string;
  threads?: string;
  allowNonfinite?: boolean;
  allowRequantize?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function quantizeOptions(cmd: Command): Command {
  // the size-target options are quantize's own (src/cli/target-options.ts)
  return targetOptions(
    cmd.option(
      '--type <type>',
      `output type: ${FLOAT_OUT_TYPES.join(', ')} (1-D tensors stay F32), or a llama-quantize type such as Q8_0, Q4_K_M (quantized in the same pass)`,
      'F32',
    ),
  )
    .option('--pure', 'quantized types: no k-quant mixture, every quantizable tensor gets the default type')
    .option('--tensor-type <REGEX=TYPE>', 'quantized types: type for tensors matching REGEX (repeatable)', collect, [])
    .option('--output-tensor-type <TYPE>', 'quantized types: ggml type for output.weight')
    .option('--token-embedding-type <TYPE>', 'quantized types: ggml type for token_embd.weight')
    .option('--leave-output-tensor', 'quantized types: leave output.weight unquantized')
    .option('--imatrix <FILE>', 'quantized types: importance matrix (llama-imatrix .gguf or legacy .dat)')
    .option('--threads <N>', 'quantized types: worker threads')
    .option(
      '--allow-requantize',
      'quantized types: requantize tensors the checkpoint already holds quantized (gpt-oss MXFP4 experts) to other types',
    )
    .option('--allow-nonfinite', 'convert even when a tensor holds NaN or infinite values');
}

/** The quantize command's options for a quantized --type; refused with a float type (they would do nothing). */
async function quantOpts(type: string, o: QuantOpts): Promise<ConvertQuantizeOptions> {
  const given = [
    o.pure && '--pure',
    o.tensorType.length && '--tensor-type',
    o.outputTensorType && '--output-tensor-type',
    o.tokenEmbeddingType && '--token-embedding-type',
    o.leaveOutputTensor && '--leave-output-tensor',
    o.imatrix && '--imatrix',
    o.encoder && '--encoder',
    o.sensitivity && '--sensitivity',
    o.allowRequantize && '--allow-requantize',
  ].filter(Boolean);
  if ((FLOAT_OUT_TYPES as readonly string[]).includes(type)) {
    if (given.length) throw new LowbitError(`${given[0]} applies to quantized output types, not ${type}`);
    return { allowNonfinite: !!o.allowNonfinite };
  }
  const { target, encoder } = readTargetOptions(o);
  let threads: number | undefined;
  if (o.threads !== undefined) {
    threads = Number(o.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024)
      throw new LowbitError(`--threads must be a whole number from 1 to 1024, not '${o.threads}'`, 'EUSAGE');
  }
  return {
    pure: !!o.pure,
    tensorTypes: o.tensorType.map(parseTensorType),
    outputTensorType:
      o.outputTensorType === undefined ? undefined : parseGgmlType(o.outputTensorType, '--output-tensor-type'),
    tokenEmbeddingType:
      o.tokenEmbeddingType === undefined ? undefined : parseGgmlType(o.tokenEmbeddingType, '--token-embedding-type'),
    leaveOutputTensor: !!o.leaveOutputTensor,
    imatrix: o.imatrix ? await loadImatrix(o.imatrix, [], []) : undefined,
    threads,
    allowNonfinite: !!o.allowNonfinite,
    target,
    encoder,
    allowRequantize: !!o.allowRequantize,
  };
}

/** The output type: with a --target-* the file is quantized, and a float --type (the default F32) means "rules of Q8_0". */
function typeFor(o: QuantOpts): string {
  const type = outType(o.type);
  if (
    (o.targetSize !== undefined || o.targetBpw !== undefined) &&
    (FLOAT_OUT_TYPES as readonly string[]).includes(type)
  )
    return 'Q8_0';
  return type;
}

export function register(program: Command): void {
  const convert = program.command('convert').description('convert a checkpoint from another tool to GGUF');

  quantizeOptions(
    convert
      .command('llama2c')
      .description('llama2.c checkpoint (.bin) → llama GGUF')
      .argument('<model.bin>', 'llama2.c checkpoint (legacy run.c format or export.py v1)')
      .argument('<out.gguf>', 'output file')
      .option(
        '--tokenizer <tokenizer.bin>',
        'llama2.c tokenizer.bin of the model (default: a byte-level stand-in vocab)',
      ),
  ).action(async (model: string, out: string, opts: QuantOpts & { tokenizer?: string }) => {
    const type = typeFor(opts);
    const inputs = [model, opts.tokenizer, opts.imatrix].filter((x): x is string => x !== undefined);
    requireInputFiles(inputs);
    refuseOutputOverInputs([out], inputs);
    const q = await quantOpts(type, opts);
    if (needsEngine(opts))
      throw new LowbitError(
        `convert llama2c: ${opts.refine !== undefined ? '--refine' : `--sensitivity ${opts.sensitivity}`} needs a GGUF: convert to F32, then lowbit quantize with it`,
        'EUSAGE',
      );
    if (q.encoder === 'gptq')
      throw new LowbitError(
        'convert llama2c: --encoder gptq needs a calibration run on a GGUF: convert to F32, then lowbit quantize --calibrate --encoder gptq',
        'EUSAGE',
      );
    await applySensitivity(opts, { ...q, fileType: parseFileType(type) }, undefined, false);
    const s = await interruptible(out, (progress) =>
      convertLlama2cFiles(model, opts.tokenizer, out, type, progress, q),
    );
    warnFallbacks(s.plan);
    warnClamped(s.clamped, type);
    process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
  });

  calibrateOptions(
    quantizeOptions(
      convert
        .command('hf')
        .description(
          `Hugging Face checkpoint directory (config.json, safetensors, tokenizer) → GGUF; architectures: ${supportedClasses()}`,
        )
        .argument(
          '<model_dir>',
          'directory with config.json, model.safetensors (or shards + index) and tokenizer files',
        )
        .argument('<out.gguf>', 'output file')
        .option(
          '--pre <name>',
          "tokenizer.ggml.pre for byte-level BPE tokenizers neither llama.cpp's hash table nor lowbit's pre-tokenizer check recognises (e.g. llama-bpe, qwen2, smollm, gpt-2)",
        )
        .option('--name <name>', 'general.name (default: the directory name)')
        .option(
          '--dry-run',
          "quantized types: print quantize's per-tensor plan with reasons and the predicted size (with --target-*, each chosen type and its predicted error) for the converted model; write nothing",
        )
        .option('--json', '--dry-run: print it as JSON'),
    ),
  ).action(
    async (
      dir: string,
      out: string,
      opts: QuantOpts & CalibrateCliOptions & { pre?: string; name?: string; dryRun?: boolean; json?: boolean },
    ) => {
      const type = typeFor(opts);
      requireInputFiles([dir], { allowDirs: true });
      if (opts.imatrix) requireInputFiles([opts.imatrix]);
      refuseOutputOverInputs([out], [...(await hfInputFiles(dir)), ...(opts.imatrix ? [opts.imatrix] : [])]);
      const q = await quantOpts(type, opts);
      const calibrate = checkCalibrateOptions(opts);
      if (calibrate && (FLOAT_OUT_TYPES as readonly string[]).includes(type))
        throw new LowbitError(
          `--calibrate computes a matrix for quantizing; ${type} is not a quantized type`,
          'EUSAGE',
        );
      // the matrix and the engine's sensitivities are measured on the converted model in F32
      // (lossless for F32/F16/BF16 sources), as `convert hf --type F32` then `lowbit imatrix` /
      // `lowbit quantize --sensitivity engine` would
      if (opts.dryRun && (FLOAT_OUT_TYPES as readonly string[]).includes(type))
        throw new LowbitError(`--dry-run shows a quantize plan; ${type} is not a quantized type`, 'EUSAGE');
      if (opts.dryRun && calibrate)
        throw new LowbitError('--calibrate runs the model; it cannot be used with --dry-run', 'EUSAGE');
      if (opts.json && !opts.dryRun) throw new LowbitError('--json goes with --dry-run', 'EUSAGE');
      if (q.encoder === 'gptq' && !calibrate && !opts.dryRun) throw new LowbitError(GPTQ_NEEDS_ACTIVATIONS, 'EUSAGE');
      const quantOptions = { ...q, fileType: parseFileType(type) };
      let keepF32 = false;
      let tmp: ReturnType<typeof makeTempDir> | null = null;
      if (calibrate || needsEngine(opts) || opts.dryRun) {
        tmp = makeTempDir('convert');
        try {
          const f32 = join(tmp.path, 'model-f32.gguf');
          process.stderr.write(
            `converting to F32 for the ${calibrate ? 'calibration' : opts.dryRun ? 'plan' : 'engine measurement'} run ...\n`,
          );
          await interruptible(out, (progress) =>
            convertHfDir(dir, f32, 'F32', { pre: opts.pre, name: opts.name }, progress, {
              allowNonfinite: !!opts.allowNonfinite,
            }),
          );
          if (calibrate) {
            const threads = opts.threads === undefined ? undefined : Number(opts.threads);
            const cal = await interruptiblePhase('calibrating', out, () =>
              runCalibration(f32, opts, threads, [out], (s) => process.stderr.write(s), q.encoder === 'gptq'),
            );
            const moments = cal.moments;
            try {
              const im = await loadImatrix(cal.path, [], []);
              if (im) im.provenance.file = cal.label;
              q.imatrix = im;
              quantOptions.imatrix = im;
              if (moments) {
                q.gptq = quantOptions.gptq = { moments: (name) => moments.get(name) };
                // later passes (a model whose matrices exceed one pass's budget) run on this F32
                keepF32 = true;
              }
            } finally {
              await cal.cleanup();
            }
          }
          await interruptiblePhase('measuring the model in llama.cpp for --target-*', out, async () => {
            await applySensitivity(opts, quantOptions, f32, !!opts.json);
            if (!opts.dryRun) await refineNow(f32, quantOptions);
          });
          // the plan of the converted model: the same as `lowbit quantize F32.gguf --dry-run`
          if (opts.dryRun) {
            await printDryRun(f32, out, quantOptions, !!opts.json, dir);
            return;
          }
        } finally {
          if (!keepF32) tmp.remove();
        }
      } else await applySensitivity(opts, quantOptions, undefined, false);
      let s;
      try {
        s = await interruptible(out, (progress) =>
          convertHfDir(dir, out, type, { pre: opts.pre, name: opts.name }, progress, q),
        );
      } finally {
        tmp?.remove();
      }
      warnFallbacks(s.plan);
      warnClamped(s.clamped, type);
      process.stdout.write(`${out}: ${s.tensors} tensors, ${s.vocab} tokens (${s.tokenizer})\n`);
    },
  );
}

/** llama.cpp's fallbacks replaced the requested type for some tensors: how many, and with what. */
function warnFallbacks(plan: QuantPlan | undefined): void {
  const fb = plan && fallbackWarning(plan);
  if (fb) process.stderr.write(`lowbit: warning: ${fb}\n`);
}

/** Values beyond F16/BF16 range were clamped, not turned into Inf: say where. */
function warnClamped(clamped: { tensor: string; count: number }[], type: string): void {
  for (const c of clamped)
    process.stderr.write(
      `lowbit: warning: tensor ${c.tensor}: ${c.count} value(s) beyond the ${type.toUpperCase()} range were clamped to its largest finite value\n`,
    );
}

/** Runs a conversion that reports progress; Ctrl-C then says how far it got (the atomic output removes the temp). */
async function interruptible<T>(
  out: string,
  run: (progress: (done: number, total: number, tensor: string) => void) => Promise<T>,
): Promise<T> {
  let at = { done: 0, total: 0, tensor: '' };
  const stop = onInterrupt(
    () =>
      `${at.total ? `${Math.floor((100 * at.done) / at.total)}% through, at ${at.tensor}` : 'before any tensor was written'}; ${out} was not written (nothing left behind)`,
  );
  try {
    return await run((done, total, tensor) => {
      at = { done, total, tensor };
    });
  } finally {
    stop();
  }
}
