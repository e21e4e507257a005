// `lowbit quantize <in.gguf> <out.gguf> --type Q4_K_M`: llama-quantize's job, with its per-tensor
// choices and byte-identical output (see src/plan and src/pipeline). .onnx inputs go to the ONNX
// quantizer with the transformers.js variant names instead.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { LowbitError } from '../../errors.js';
import { fmtBytes, fmtNum, targetLines } from '../format.js';
import { interruptiblePhase, onInterrupt } from '../interrupt.js';
import { parseFileType, FILE_TYPES, FILE_TYPE_ALIASES } from '../../plan/file-types.js';
import { ggmlTypeByName } from '../../formats/ggml-types.js';
import { fallbackWarning, typeName, type TensorTypeOverride } from '../../plan/plan.js';
import { parseKvOverride } from '../../plan/kv-override.js';
import { parsePruneLayers } from '../../plan/prune.js';
import { FileSource } from '../../node/file-io.js';
import { loadImatrix } from '../../node/imatrix-file.js';
import {
  filterImatrix,
  parseGgmlType,
  parseTargetOptions,
  parseTensorType,
  parseTensorTypeText,
} from '../../plan/options.js';
import {
  GPTQ_NEEDS_ACTIVATIONS,
  type ImatrixInput,
  type QuantizeOptions,
  type QuantizeSummary,
} from '../../pipeline/quantize-gguf.js';
import { keepSplitPaths, quantizeGgufFile } from '../../node/quantize-file.js';
import { describeMissing, ggufInputFiles, refuseOutputOverInputs, requireInputFiles } from '../../node/output-guard.js';
import { defaultThreads } from '../../node/workers.js';
import type { OnnxCliOptions } from '../../onnx/options.js';

export { filterImatrix, parseGgmlType, parseTargetOptions, parseTensorType };
import { calibrateOptions, checkCalibrateOptions, runCalibration, type CalibrateCliOptions } from '../calibrate.js';
import { applySensitivity, readTargetOptions, targetOptions, type TargetCliOptions } from '../target-options.js';
import { planJson, printDryRun } from '../dry-run.js';

interface CliOpts extends OnnxCliOptions, CalibrateCliOptions, TargetCliOptions {
  type?: string;
  pure?: boolean;
  tensorType: string[];
  overrideKv: string[];
  pruneLayers?: string;
  keepSplit?: boolean;
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  imatrix?: string;
  includeWeights: string[];
  excludeWeights: string[];
  threads?: string;
  allowNonfinite?: boolean;
}

/** --tensor-type-file FILE: its entries (see parseTensorTypeText). */
export function readTensorTypeFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LowbitError(`--tensor-type-file: ${describeMissing(path, e)}`, 'EUSAGE');
  }
  return parseTensorTypeText(text, path);
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  // --tensor-type and --tensor-type-file entries in command-line order (the first match wins); the
  // files are read in the action, after the output is known not to be one of them
  const tensorTypes: (string | { file: string })[] = [];
  const cmd = calibrateOptions(program.command('quantize'))
    .description(
      'quantize a GGUF model the way llama-quantize does (same per-tensor types, byte-identical output); .onnx inputs get transformers.js variants',
    )
    .argument('<input>', 'model to read (.gguf, or .onnx)')
    .argument('[output]', 'file to write (not needed with --dry-run)')
    .option(
      '--type <TYPE>',
      `file type: ${FILE_TYPES.map((f) => f.name).join(', ')} (aliases ${Object.keys(FILE_TYPE_ALIASES).join(', ')}); for .onnx: fp16, q8, q4, q4f16, ...`,
    );
  targetOptions(cmd)
    .option('--pure', 'no k-quant mixture: every quantizable tensor gets the default type')
    .option(
      '--tensor-type <REGEX=TYPE>',
      'type for tensors matching REGEX (repeatable; the first match wins)',
      (v: string) => {
        tensorTypes.push(v);
        return tensorTypes;
      },
    )
    .option(
      '--tensor-type-file <FILE>',
      'REGEX=TYPE entries separated by spaces or newlines, each as a --tensor-type (in order with them)',
      (f: string) => {
        tensorTypes.push({ file: f });
        return tensorTypes;
      },
    )
    .option(
      '--override-kv <KEY=TYPE:VALUE>',
      "metadata value in the output (TYPE int, float, bool or str; repeatable), also read by the plan as llama.cpp's loader does",
      collect,
      [],
    )
    .option(
      '--prune-layers <L0,L1,...>',
      'leave these layers out; the later ones are renumbered and block_count updated',
    )
    .option('--keep-split', 'one output per input shard: <output minus .gguf>-00001-of-0000N.gguf, ...')
    .option('--output-tensor-type <TYPE>', 'ggml type for output.weight')
    .option('--token-embedding-type <TYPE>', 'ggml type for token_embd.weight')
    .option('--leave-output-tensor', 'leave output.weight as it is')
    .option('--allow-requantize', 'allow quantizing tensors that are already quantized')
    .option('--imatrix <FILE>', 'importance matrix (llama-imatrix .gguf or legacy .dat)')
    .option(
      '--include-weights <NAME>',
      'use the imatrix only for tensors whose name contains NAME (repeatable)',
      collect,
      [],
    )
    .option(
      '--exclude-weights <NAME>',
      'do not use the imatrix for tensors whose name contains NAME (repeatable)',
      collect,
      [],
    )
    .option('--dry-run', 'print the per-tensor plan with reasons and the predicted size; write nothing')
    .option('--threads <N>', `worker threads (default: all ${defaultThreads()} cores)`)
    .option('--allow-nonfinite', 'quantize even when the input holds NaN or infinite values')
    .option('--json', 'print a JSON summary on stdout')
    .option('--per-channel', 'onnx int8: one scale per output channel')
    .option('--symmetric', 'onnx int8: symmetric weights')
    .option('--asymmetric', 'onnx q4: zero points per block')
    .option('--reduce-range', 'onnx int8: 7-bit weights')
    .option('--block-size <n>', 'onnx q4: 16, 32 (default), 64 or 128; bnb4: 16-256 (default 64)')
    .option(
      '--weight-only <bits>',
      'onnx: int8 or int4 weights as QDQ (DequantizeLinear) instead of MatMulInteger/MatMulNBits',
    )
    .option('--embeddings', 'onnx q4: embedding tables too, as GatherBlockQuantized')
    .option('--accuracy-level <n>', 'onnx q4: MatMulNBits accuracy_level')
    .option(
      '--op-types <list>',
      "onnx: quantize only these op types, e.g. MatMul,Gemm (ONNX Runtime's op_types_to_quantize)",
    )
    .option(
      '--exclude-nodes <names>',
      "onnx: comma-separated node names to leave in FP32 (ONNX Runtime's nodes_to_exclude)",
    )
    .option('--external-data', 'onnx: weights in a side file')
    .action(async (input: string, output: string | undefined, o: CliOpts) => {
      if (!output && !o.dryRun) throw new LowbitError('quantize: missing <output> (or use --dry-run)');
      // a missing --type is a usage error: said before any file is looked at
      if (!o.type) {
        if (input.toLowerCase().endsWith('.onnx')) throw new LowbitError('quantize: --type is required');
        if (!parseTargetOptions(o))
          throw new LowbitError('quantize: --type is required (or --target-size / --target-bpw)');
      }
      // every file read, named before any is opened: missing ones say so, and none may be an output
      const typeFiles = tensorTypes.flatMap((t) => (typeof t === 'string' ? [] : [t.file]));
      const named = [input, ...(o.imatrix ? [o.imatrix] : []), ...typeFiles];
      requireInputFiles(named);
      // a first shard's name stands for all its shards (a file so named that is not split has none to miss)
      const inputs = [...ggufInputFiles(input), ...named.slice(1)];
      if (output && !o.dryRun) {
        const onnx = input.toLowerCase().endsWith('.onnx');
        refuseOutputOverInputs(
          onnx ? [output] : o.keepSplit ? keepSplitPaths(output, ggufInputFiles(input).length) : [output],
          inputs,
        );
      }
      const entries = tensorTypes.flatMap((t) => (typeof t === 'string' ? [t] : readTensorTypeFile(t.file)));
      if (input.toLowerCase().endsWith('.onnx')) {
        if (!o.type) throw new LowbitError('quantize: --type is required');
        // loaded only for ONNX inputs: protobuf and the graph transforms cost start-up time
        const [{ quantizeOnnxFile }, { onnxOptions }, { formatOnnxResult, unquantizedWarning }] = await Promise.all([
          import('../../node/onnx-file.js'),
          import('../../onnx/options.js'),
          import('../onnx-result.js'),
        ]);
        const r = await quantizeOnnxFile(input, output ?? input, onnxOptions(o, o.type!));
        process.stdout.write(
          o.json ? JSON.stringify(r, null, 2) + '\n' : formatOnnxResult(input, output ?? '(dry run)', r) + '\n',
        );
        const warn = unquantizedWarning(output ?? input, r);
        if (warn) process.stderr.write(warn + '\n');
        return;
      }
      await runGguf(input, output, { ...o, tensorType: entries });
    });
}

async function runGguf(input: string, output: string | undefined, o: CliOpts): Promise<void> {
  if (o.includeWeights.length && o.excludeWeights.length)
    throw new LowbitError('--include-weights and --exclude-weights cannot be used together', 'EUSAGE');
  let threads: number | undefined;
  if (o.threads !== undefined) {
    threads = Number(o.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024)
      throw new LowbitError(`--threads must be a whole number from 1 to 1024, not '${o.threads}'`, 'EUSAGE');
  }
  const { target, encoder } = readTargetOptions(o);
  if (!o.type && !target) throw new LowbitError('quantize: --type is required (or --target-size / --target-bpw)');
  const opts: QuantizeOptions = {
    // with a target, --type only names the mix whose rules fix what the user does not choose (default Q8_0)
    fileType: parseFileType(o.type ?? 'Q8_0'),
    target,
    encoder,
    pure: !!o.pure,
    tensorTypes: o.tensorType.map(parseTensorType),
    kvOverrides: o.overrideKv.map(parseKvOverride),
    pruneLayers: o.pruneLayers === undefined ? undefined : parsePruneLayers(o.pruneLayers),
    keepSplit: !!o.keepSplit,
    outputTensorType:
      o.outputTensorType === undefined ? undefined : parseGgmlType(o.outputTensorType, '--output-tensor-type'),
    tokenEmbeddingType:
      o.tokenEmbeddingType === undefined ? undefined : parseGgmlType(o.tokenEmbeddingType, '--token-embedding-type'),
    leaveOutputTensor: !!o.leaveOutputTensor,
    allowRequantize: !!o.allowRequantize,
    allowNonfinite: !!o.allowNonfinite,
    imatrix: o.imatrix ? await loadImatrix(o.imatrix, o.includeWeights, o.excludeWeights) : undefined,
    threads,
  };
  const calibrating = checkCalibrateOptions(o);
  // (a --dry-run plan is the same with any encoder: it needs no activations)
  if (encoder === 'gptq' && !calibrating && !o.dryRun) throw new LowbitError(GPTQ_NEEDS_ACTIVATIONS, 'EUSAGE');
  if (calibrating) {
    if (o.dryRun) throw new LowbitError('--calibrate runs the model; it cannot be used with --dry-run', 'EUSAGE');
    const cal = await interruptiblePhase('calibrating', output, () =>
      runCalibration(
        input,
        o,
        threads,
        [input, ...(output ? [output] : [])],
        (s) => {
          if (!o.json) process.stderr.write(s);
        },
        encoder === 'gptq',
      ),
    );
    const moments = cal.moments;
    if (moments) opts.gptq = { moments: (name) => moments.get(name) };
    try {
      const im = await loadImatrix(cal.path, o.includeWeights, o.excludeWeights);
      if (im) im.provenance.file = cal.label;
      opts.imatrix = im;
    } finally {
      await cal.cleanup();
    }
  }

  await interruptiblePhase('measuring the model in llama.cpp for --target-*', output, () =>
    applySensitivity(o, opts, input, !!o.json),
  );

  if (o.dryRun) {
    await printDryRun(input, output, opts, !!o.json);
    return;
  }

  const showBar = !o.json && process.stderr.isTTY;
  const bar = showBar
    ? new SingleBar(
        { format: 'quantizing [{bar}] {percentage}% {tensor}', hideCursor: true, stream: process.stderr },
        Presets.shades_classic,
      )
    : null;
  let started = false;
  let summary: QuantizeSummary & { outputs: string[] };
  // Ctrl-C: say how far the run got; the atomic output's own handler (registered later, so it runs
  // after this one) then removes the temp file and exits 130, leaving any existing output as it was
  const progress = { done: 0, total: 0, tensor: '' };
  const stopListening = onInterrupt(() => {
    if (started) bar!.stop();
    const where = progress.total
      ? `${fmtBytes(progress.done)} of ${fmtBytes(progress.total)} of tensor data done${progress.tensor ? `, at ${progress.tensor}` : ''}`
      : 'before any tensor data';
    return `${where}; ${output} was not written (nothing left behind)`;
  });
  try {
    summary = await quantizeGgufFile(input, output!, {
      ...opts,
      onProgress: (done, total, tensor) => {
        Object.assign(progress, { done, total, tensor });
        if (!bar) return;
        if (!started) {
          bar.start(total, 0, { tensor });
          started = true;
        }
        bar.update(done, { tensor });
      },
    });
  } finally {
    stopListening();
    if (started) bar!.stop();
  }
  // llama.cpp's fallbacks replaced the requested type for some tensors: say how many and with what
  const fb = fallbackWarning(summary.plan);
  if (fb) process.stderr.write(`lowbit: warning: ${fb}\n`);
  // values beyond F16/BF16 range were clamped, not turned into Inf (llama.cpp would fail): say where
  for (const c of summary.clamped) {
    const t = summary.plan.tensors.find((x) => x.name === c.tensor);
    process.stderr.write(
      `lowbit: warning: tensor ${c.tensor}: ${c.count} value(s) beyond the ${t ? typeName(t.dstType) : 'float'} range were clamped to its largest finite value\n`,
    );
  }
  if (o.json) {
    const { plan, tensors: tensorCount, target: allocation, ...rest } = summary;
    process.stdout.write(
      JSON.stringify({ ...planJson(input, output, plan, opts, allocation), ...rest, tensorCount }, null, 2) + '\n',
    );
    return;
  }
  const s = summary;
  process.stdout.write(
    [
      `wrote ${s.outputs.join(', ')} as ${s.plan.fileType.name}: ${s.tensors} tensors (${s.converted} converted${s.imatrixUsed ? `, ${s.imatrixUsed} with imatrix` : ''}${opts.encoder && opts.encoder !== 'ggml' ? `, --encoder ${opts.encoder}` : ''})`,
      `size ${fmtBytes(s.inputBytes)} -> ${fmtBytes(s.outputBytes)}, ${fmtNum(s.bitsPerWeight, 4)} bits per weight, ${s.seconds.toFixed(2)} s on ${s.threads} thread${s.threads > 1 ? 's' : ''}`,
      ...(s.target ? targetLines(s.target) : []),
    ].join('\n') + '\n',
  );
}
