// --sensitivity engine: how much the model's output moves when one kind of tensor is degraded,
// measured in the real engine (llama.cpp through node-llama-cpp), for --target-size / --target-bpw.
//
// For each tensor kind among the free tensors (token_embd, output, attn_q, attn_k, attn_v,
// attn_output, ffn_gate, ffn_up, ffn_down, other): a file with only those tensors quantized to a
// probe type (Q4_0, which fits every row of 32) and every other free tensor left as it is in the
// input, judged against the input with llama-perplexity's KL method on documents the input model
// writes (seed 2: not the documents `lowbit eval` scores by default, seed 1). The allocation then
// scales each tensor's measured relative error by its kind's KL per unit of relative error at the
// probe (src/pipeline/target.ts): nothing is fitted, every number comes from this model.
import { join } from 'node:path';
import { makeTempDir } from '../node/temp-dir.js';
import { GGML_TYPE as T } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import { tensorCategory } from '../plan/tensor-rules.js';
import { isFree, type KindSensitivity } from '../pipeline/target.js';
import { prepareQuantize, type QuantizeOptions } from '../pipeline/quantize-gguf.js';
import { openGgufInput } from '../node/quantize-file.js';
import { generateEvalText, openKlJudge } from './llama.js';
import { judgeAssignment } from './judge-file.js';

export const PROBE_TYPE = T.Q4_0;

export interface SensitivityOptions {
  /** one probe per kind of tensor (default) or per free tensor */
  per?: 'kind' | 'tensor';
  /** tokens per chunk and chunks of the probe evals (default 256 × 4) */
  ctx?: number;
  chunks?: number;
  onProgress?: (kind: string, done: number, total: number) => void;
}

/** KL of the input when each kind of free tensor (or each free tensor) alone is quantized to PROBE_TYPE. */
export async function measureKindSensitivity(
  input: string,
  opts: QuantizeOptions,
  so: SensitivityOptions = {},
): Promise<KindSensitivity> {
  const t0 = performance.now();
  const { src } = await openGgufInput(input);
  let plan;
  try {
    plan = (await prepareQuantize(src, { ...opts, target: undefined, assignment: undefined })).plan;
  } finally {
    await src.close();
  }
  for (const t of plan.tensors) {
    if (t.quantizable && ![T.F32, T.F16, T.BF16].includes(t.srcType as never))
      throw new LowbitError(`--sensitivity engine needs a float input (tensor ${t.name} is ${t.srcType})`);
  }
  const free = plan.tensors.filter(isFree);
  const per = so.per ?? 'kind';
  // probe groups: each kind's free tensors, or each free tensor whose rows the probe type fits
  const groups = new Map<string, Set<string>>();
  for (const t of free) {
    if (per === 'tensor' && t.shape[0]! % 32 !== 0) continue;
    const key = per === 'tensor' ? t.name : tensorCategory(t.name);
    if (!groups.has(key)) groups.set(key, new Set());
    groups.get(key)!.add(t.name);
  }
  const tmp = makeTempDir('sens');
  const dir = tmp.path;
  const ctx = so.ctx ?? 256,
    chunks = so.chunks ?? 4;
  try {
    const generated = await generateEvalText({ model: input, seed: 2, minTokens: ctx * chunks + 1, ctx });
    const judge = await openKlJudge({ ref: input, generated, ctx, chunks });
    const kl = new Map<string, number>();
    // what the user's own fixed types already cost (subtracted from each probe's KL)
    const fixedQuantized = plan.tensors.some((t) => !isFree(t) && t.convert);
    const evalWith = async (name: string, probe: Set<string>) => {
      const types = new Map(
        free.map((t) => [
          t.name,
          { type: probe.has(t.name) && t.shape[0]! % 32 === 0 ? PROBE_TYPE : t.srcType, reason: 'sensitivity probe' },
        ]),
      );
      return judgeAssignment(judge, input, opts, { types, fileType: plan.fileType }, join(dir, `${name}.gguf`));
    };
    try {
      const base = fixedQuantized ? await evalWith('base', new Set()) : 0;
      let done = 0;
      for (const [k, names] of groups) {
        so.onProgress?.(k, done++, groups.size);
        const v = await evalWith(`probe-${done}`, names);
        kl.set(k, Math.max(0, v - base));
      }
      so.onProgress?.('', groups.size, groups.size);
      return { probeType: PROBE_TYPE, per, kl, seconds: (performance.now() - t0) / 1000, tokens: ctx * chunks };
    } finally {
      await judge.close();
    }
  } finally {
    tmp.remove();
  }
}
