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

export interface TargetCliOptions {
  targetSize?: string;
  targetBpw?: string;
  targetTypes?: string;
  sensitivity?: string;
  encoder?: string;
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
      '--encoder <NAME>',
      "ggml (default: llama.cpp's own codes, byte-identical) or best (lowbit's stronger search for the same formats: less importance-weighted error, decoded by stock llama.cpp; recorded as quantize.encoder)",
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

/**
 * Sets opts.target.sensitivity from --sensitivity: a saved file, or (engine) measured in llama.cpp
 * on `gguf`, the float model as a GGUF file (`convert hf` converts to a temporary one first).
 */
export async function applySensitivity(
  o: TargetCliOptions,
  opts: QuantizeOptions,
  gguf: string | undefined,
  quiet: boolean,
): Promise<void> {
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
