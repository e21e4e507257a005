// --refine: the judge of src/plan/refine.ts is the real engine. Each choice the local search asks
// about is written as a whole GGUF file (the very assignment the run would write, with ggml's
// encoder, or under --encoder gptq with GPTQ's, as the run writes it) and scored by llama.cpp
// against the input model with llama-perplexity's KL method, on documents the input model writes
// (seed 2, as --sensitivity engine: not the documents `lowbit eval` scores by default, seed 1).
// Node only (llama.cpp through node-llama-cpp).
import { join } from 'node:path';
import { makeTempDir } from '../node/temp-dir.js';
import type { QuantizeOptions } from '../pipeline/quantize-gguf.js';
import type { RefineRequest, RefineSummary, TargetRefiner } from '../pipeline/target.js';
import { LowbitError } from '../errors.js';
import { refineChoice } from '../plan/refine.js';
import { defaultEvalCtx, generateEvalText, ggufTrainContext, openKlJudge } from './llama.js';
import { judgeAssignment } from './judge-file.js';

/** tokens of the judge's documents (chunks of the eval's default length) */
export const REFINE_TOKENS = 4096;

export interface EngineRefineOptions {
  maxEvals?: number;
  onProgress?: (evals: number, maxEvals: number, kl: number) => void;
  /** after the last judged file */
  onDone?: (summary: RefineSummary) => void;
}

/** A refiner that can be told to only replay what it has answered (its input is then gone). */
export type EngineRefiner = TargetRefiner & { replayOnly(): void };

/** A refiner for `input` (the float GGUF model the run quantizes) with the run's options. */
export function engineRefiner(input: string, opts: QuantizeOptions, ro: EngineRefineOptions = {}): EngineRefiner {
  // a run asks once; `convert hf` asks again while converting, when the F32 model is gone: the
  // answer is kept by the search's choice (tensor:type) and replayed as types
  const done = new Map<string, { summary: RefineSummary; types: number[] }>();
  let replayOnly = false;
  const keyOf = (req: RefineRequest, choice: readonly number[]) =>
    req.items.map((it, k) => `${it.name}:${it.candidates[choice[k]!]!.type}`).join(',');
  const refiner = async (req: RefineRequest): Promise<RefineSummary> => {
    const key = keyOf(req, req.choice);
    const prev = done.get(key);
    if (prev) {
      const choice = req.items.map((it, k) => {
        const i = it.candidates.findIndex((c) => c.type === prev.types[k]);
        if (i < 0) throw new LowbitError(`internal: --refine cannot replay its choice for ${it.name}`, 'EINTERNAL');
        return i;
      });
      return { ...prev.summary, choice };
    }
    if (replayOnly)
      throw new LowbitError(
        "internal: --refine was asked about another search than the one it measured (the converted model's plan differs from its F32 conversion's)",
        'EINTERNAL',
      );
    const summary = await refineOnce(input, opts, ro, req);
    done.set(key, { summary, types: summary.choice.map((i, k) => req.items[k]!.candidates[i]!.type) });
    return summary;
  };
  return Object.assign(refiner, {
    replayOnly: () => {
      replayOnly = true;
    },
  });
}

async function refineOnce(
  input: string,
  opts: QuantizeOptions,
  ro: EngineRefineOptions,
  req: RefineRequest,
): Promise<RefineSummary> {
  const t0 = performance.now();
  const ctx = defaultEvalCtx(await ggufTrainContext(input));
  const chunks = Math.max(2, Math.ceil(REFINE_TOKENS / ctx));
  const generated = await generateEvalText({ model: input, seed: 2, minTokens: ctx * chunks + 1, ctx, docs: 1000 });
  const judge = await openKlJudge({ ref: input, generated, ctx, chunks });
  // --encoder gptq: the files judged are rounded as the run rounds them (`--encoder best` is judged
  // by ggml's encoding: several times faster, and best only lowers each tensor's error further)
  const encoder = opts.encoder === 'gptq' && opts.gptq ? ('gptq' as const) : undefined;
  const tmp = makeTempDir('refine');
  const dir = tmp.path;
  try {
    const seen = new Map<string, number>();
    let n = 0;
    const r = await refineChoice(
      req.items,
      req.choice,
      req.budget,
      async (choice) => {
        const key = choice.join(',');
        const known = seen.get(key);
        if (known !== undefined) return known;
        const v = await judgeAssignment(
          judge,
          input,
          opts,
          req.assignmentOf(choice),
          join(dir, `judge-${n++}.gguf`),
          encoder,
        );
        seen.set(key, v);
        return v;
      },
      { maxEvals: ro.maxEvals, onProgress: ro.onProgress },
    );
    const summary = {
      ...r,
      seconds: (performance.now() - t0) / 1000,
      judge: `llama.cpp KL on ${judge.chunks}×${judge.ctx} tokens the model wrote (seed 2), files written with ${encoder ? "GPTQ's" : "ggml's"} encoder`,
    };
    ro.onDone?.(summary);
    return summary;
  } finally {
    await judge.close();
    tmp.remove();
  }
}
