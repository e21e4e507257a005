// The size-target options of `quantize` and `convert hf` (--target-size, --target-bpw,
// --target-types, --sensitivity, --encoder): declared once here, read once here, so the two
// commands take the same options with the same meaning.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { LowbitError } from '../errors.js';
import { parseTargetOptions } from '../plan/options.js';
import { parseEncoder, type EncoderName } from '../formats/encoder.js';
import type { KindSensitivity, TargetOptions } from '../pipeline/target.js';
import type { QuantizeOptions } from '../pipeline/quantize-gguf.js';
import type { EngineRefiner } from '../eval/refine-engine.js';

export interface TargetCliOptions {
  targetSize?: string;
  targetBpw?: string;
  targetTypes?: string;
  sensitivity?: string;
  refine?: string | boolean;
  encoder?: string;
}

/** True when the target options run the float model in llama.cpp before quantizing. */
export function needsEngine(o: TargetCliOptions): boolean {
  return (
    o.sensitivity === 'engine' || o.sensitivity === 'engine-tensors' || (o.refine !== undefined && o.refine !== false)
  );
}

export function targetOptions(cmd: Command): Command {
  return cmd
    .option(
      '--target-size <SIZE>',
      "choose each tensor's type so the file is at most SIZE (e.g. 2.1GB, 750MiB, bytes) with the least predicted damage",
    )
    .option('--target-bpw <BITS>', 'as --target-size, for this many bits per weight of tensor data')
    .option(
      '--target-types <LIST>',
      '--target-*: the ggml types to choose from (default: all llama.cpp loads that lowbit writes)',
    )
    .option(
      '--sensitivity <HOW>',
      "--target-*: none (default: every tensor's relative error counts alike), engine (measure each kind of tensor's effect on the output in llama.cpp first: 9 short runs), engine-tensors (each free tensor's own effect: one run per tensor) or a JSON file a previous run's --json wrote (target.sensitivity)",
    )
    .option(
      '--refine [FILES]',
      "--target-*: after the search, move bytes between tensors judged by llama.cpp's own KL on documents the model writes: each tensor one type up and down, then the best trades, each kept only when the whole file measures better (at most FILES files judged; default 4 per tensor + 8)",
    )
    .option(
      '--encoder <NAME>',
      "ggml (default: llama.cpp's own codes, byte-identical), best (lowbit's stronger search per block: less importance-weighted error) or gptq (GPTQ: each rounding error compensated by the values still to round, from the activations --calibrate measures); same formats, decoded by stock llama.cpp, recorded as quantize.encoder",
    );
}

/** The target (undefined without --target-size/--target-bpw) and the encoder; --sensitivity is checked here too. */
export function readTargetOptions(o: TargetCliOptions): {
  target: TargetOptions | undefined;
  encoder: EncoderName | undefined;
} {
  const target = parseTargetOptions(o);
  if (o.sensitivity !== undefined && o.sensitivity !== 'none' && !target)
    throw new LowbitError('--sensitivity needs --target-size or --target-bpw');
  if (o.refine !== undefined && !target) throw new LowbitError('--refine needs --target-size or --target-bpw');
  refineEvals(o);
  return { target, encoder: o.encoder === undefined ? undefined : parseEncoder(o.encoder) };
}

/** --sensitivity FILE: a measurement a previous run saved (its --json's target.sensitivity). */
function readSensitivityFile(path: string): KindSensitivity {
  let j: { probeType?: unknown; per?: unknown; kl?: unknown; seconds?: unknown; tokens?: unknown };
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LowbitError(
      `--sensitivity: ${path} is not none, engine, engine-tensors or a readable JSON file (${(e as Error).message})`,
    );
  }
  if (
    typeof j.probeType !== 'number' ||
    !j.kl ||
    typeof j.kl !== 'object' ||
    Object.values(j.kl).some((v) => typeof v !== 'number' || !(v >= 0)) ||
    (j.per !== undefined && j.per !== 'kind' && j.per !== 'tensor')
  )
    throw new LowbitError(`--sensitivity: ${path} does not hold {probeType, kl: {kind: number}}`);
  return {
    probeType: j.probeType,
    per: j.per === 'tensor' ? 'tensor' : 'kind',
    kl: new Map(Object.entries(j.kl as Record<string, number>)),
    seconds: Number(j.seconds) || 0,
    tokens: Number(j.tokens) || 0,
  };
}

/** --refine's FILES (undefined: the default), checked. */
function refineEvals(o: TargetCliOptions): number | undefined {
  if (o.refine === undefined || o.refine === true) return undefined;
  const n = Number(o.refine);
  if (!Number.isInteger(n) || n < 1)
    throw new LowbitError(`--refine takes a number of files to judge (a whole number ≥ 1), not ${o.refine}`, 'EUSAGE');
  return n;
}

/**
 * Sets opts.target.sensitivity from --sensitivity: a saved file, or (engine) measured in llama.cpp
 * on `gguf`, the float model as a GGUF file (`convert hf` converts to a temporary one first); and
 * opts.target.refine from --refine (judging files made from `gguf`).
 */
export async function applySensitivity(
  o: TargetCliOptions,
  opts: QuantizeOptions,
  gguf: string | undefined,
  quiet: boolean,
): Promise<void> {
  await applyRefine(o, opts, gguf, quiet);
  if (o.sensitivity === undefined || o.sensitivity === 'none') return;
  if (!opts.target) throw new LowbitError('--sensitivity needs --target-size or --target-bpw');
  if (o.sensitivity !== 'engine' && o.sensitivity !== 'engine-tensors') {
    opts.target.sensitivity = readSensitivityFile(o.sensitivity);
    return;
  }
  if (!gguf) throw new LowbitError(`internal: --sensitivity ${o.sensitivity} without a GGUF model`, 'EINTERNAL');
  const { measureKindSensitivity } = await import('../eval/sensitivity.js');
  const per = o.sensitivity === 'engine' ? 'kind' : 'tensor';
  if (!quiet && process.stderr.isTTY)
    process.stderr.write(`measuring each ${per === 'kind' ? 'kind of tensor' : 'tensor'}'s effect in llama.cpp...\n`);
  opts.target.sensitivity = await measureKindSensitivity(gguf, opts, { per });
}

/** --refine: the target's refiner runs on `gguf` (the float model) in llama.cpp. */
async function applyRefine(o: TargetCliOptions, opts: QuantizeOptions, gguf: string | undefined, quiet: boolean) {
  if (o.refine === undefined || o.refine === false) return;
  if (!opts.target) throw new LowbitError('--refine needs --target-size or --target-bpw');
  if (!gguf) throw new LowbitError('internal: --refine without a GGUF model', 'EINTERNAL');
  const { engineRefiner } = await import('../eval/refine-engine.js');
  const tty = !quiet && process.stderr.isTTY;
  opts.target.refine = engineRefiner(gguf, opts, {
    maxEvals: refineEvals(o),
    onProgress: tty
      ? (n, max, kl) =>
          process.stderr.write(
            `\rrefining in llama.cpp: ${n}/${max} files judged, KL of the choice kept ${kl.toExponential(3)} `,
          )
      : undefined,
    onDone: tty ? () => process.stderr.write('\n') : undefined,
  });
}

/**
 * `convert hf`: runs the search and --refine on the F32 model now, while it exists; the conversion
 * that follows asks the refiner the same question and gets the kept answer.
 */
export async function refineNow(gguf: string, opts: QuantizeOptions): Promise<void> {
  if (!opts.target?.refine) return;
  const { openGgufInput } = await import('../node/quantize-file.js');
  const { resolveTarget } = await import('../pipeline/quantize-gguf.js');
  const { src } = await openGgufInput(gguf);
  try {
    await resolveTarget(src, opts);
  } finally {
    await src.close();
  }
  (opts.target.refine as Partial<EngineRefiner>).replayOnly?.();
}
