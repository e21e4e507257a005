// --calibrate [TEXT] for `quantize` and `convert hf`: compute an importance matrix on the float model
// in the same run (as `lowbit imatrix` would: same chunks, same file), then quantize with it exactly
// as `--imatrix FILE` does. --save-imatrix FILE keeps the matrix; otherwise it lives in a temp folder.
import type { Command } from 'commander';
import { makeTempDir, type TempDir } from '../node/temp-dir.js';
import { join } from 'node:path';
import { LowbitError } from '../errors.js';
import { computeImatrixFile } from '../node/imatrix.js';
import { gptqPassGroups } from '../imatrix/hessian.js';
import { GptqMoments, denseWeights, gptqMemoryBudget } from '../node/gptq-moments.js';

export interface CalibrateCliOptions {
  calibrate?: string | boolean;
  ctx?: string;
  chunks?: string;
  saveImatrix?: string;
  imatrix?: string;
}

export function calibrateOptions(cmd: Command): Command {
  return cmd
    .option(
      '--calibrate [text]',
      "compute an importance matrix on the float model first (llama-imatrix's method, in llama.cpp) from this text file, or from documents the model writes; then quantize with it",
    )
    .option('--ctx <n>', '--calibrate: tokens per chunk', '512')
    .option('--chunks <n>', '--calibrate: at most this many chunks')
    .option('--save-imatrix <file>', '--calibrate: keep the matrix in this file (llama-imatrix GGUF)');
}

function int(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new LowbitError(`${what} must be a positive integer, got '${v}'`);
  return n;
}

/** Checks the --calibrate options before any work (a bad value fails at once). */
export function checkCalibrateOptions(o: CalibrateCliOptions): boolean {
  const on = o.calibrate !== undefined && o.calibrate !== false;
  if (!on) {
    if (o.saveImatrix) throw new LowbitError('--save-imatrix needs --calibrate', 'EUSAGE');
    return false;
  }
  if (o.imatrix)
    throw new LowbitError(
      '--calibrate and --imatrix cannot be used together (one computes the matrix, the other reads one)',
      'EUSAGE',
    );
  int(o.ctx, '--ctx');
  int(o.chunks, '--chunks');
  return true;
}

/**
 * Runs the calibration on `model` (a GGUF llama.cpp runs). Returns the matrix file to pass on as
 * --imatrix, the label to record as quantize.imatrix.file, and a clean-up for the temp folder.
 */
export async function runCalibration(
  model: string,
  o: CalibrateCliOptions,
  threads: number | undefined,
  inputs: readonly string[],
  log: (s: string) => void,
  gptq = false,
): Promise<{ path: string; label: string; cleanup: () => Promise<void>; moments?: GptqMoments }> {
  const text = typeof o.calibrate === 'string' ? o.calibrate : undefined;
  let dir: TempDir | null = null;
  let path = o.saveImatrix;
  if (!path) {
    dir = makeTempDir('calibrate');
    path = join(dir.path, 'imatrix.gguf');
  }
  const cleanup = async () => {
    dir?.remove();
  };
  try {
    const { refuseOutputIsInput } = await import('../node/imatrix.js');
    await refuseOutputIsInput(path, inputs);
    log(text ? `calibrating on ${text} ...\n` : 'calibrating on documents the model writes (seeded) ...\n');
    // --encoder gptq: the layers' activation matrices too, the first group's in this run
    // (half of the budget for the matrices: each distinct input's GPTQ factor, the same size, is kept
    // beside its matrix while the group is held)
    const budget = gptq ? gptqMemoryBudget() : 0;
    const groups = gptq ? gptqPassGroups(await denseWeights(model), budget / 2) : null;
    const hessian = groups ? GptqMoments.firstAccumulator(groups) : undefined;
    const r = await computeImatrixFile({
      model,
      output: path,
      textFile: text,
      textOption: '--calibrate',
      ctx: int(o.ctx, '--ctx') ?? 512,
      chunks: int(o.chunks, '--chunks'),
      threads,
      outputFrequency: 0,
      hessian,
    });
    let moments: GptqMoments | undefined;
    if (groups && hessian) {
      const ctx = int(o.ctx, '--ctx') ?? 512;
      moments = new GptqMoments(
        groups,
        hessian,
        groups.length > 1 ? { model, ...r.input, ctx, chunks: int(o.chunks, '--chunks'), threads } : null,
        log,
      );
      log(
        `activation correlations for --encoder gptq: ${hessian.names().length} tensors (${(hessian.byteSize / 2 ** 20).toFixed(1)} MiB)${groups.length > 1 ? `; ${groups.length - 1} more pass${groups.length > 2 ? 'es' : ''} over the same text for the other layers as the quantizer reaches them (LOWBIT_GPTQ_MEMORY: ${(budget / 2 ** 20).toFixed(0)} MiB per pass)` : ''}\n`,
      );
    }
    log(
      `importance matrix: ${r.entries} tensors from ${r.chunks} chunks of ${r.chunkSize} tokens${r.run && Number.isFinite(r.run.ppl) ? ` (perplexity ${r.run.ppl.toFixed(4)})` : ''}${o.saveImatrix ? `, saved to ${o.saveImatrix}` : ''}\n`,
    );
    return { path, label: o.saveImatrix ?? 'imatrix.gguf', cleanup, moments };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
