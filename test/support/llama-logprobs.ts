// Next-token log-probabilities from llama.cpp itself (node-llama-cpp 3.21.1, CPU). With greedy
// sampling the sampler leaves the logits untouched, so node-llama-cpp's "probabilities" are the
// softmax of the raw logits over the whole vocabulary: log(p) = logit - logsumexp(logits).
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';

let llamaP: Promise<Llama> | undefined;
export function cpuLlama(): Promise<Llama> {
  // one thread: these models are tiny, and on a busy machine llama.cpp's spinning threads only slow it down
  llamaP ??= getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: 'never', maxThreads: 1 });
  return llamaP;
}

/** log-probs (Float64Array per position; -Infinity where llama.cpp's float underflowed) after each token. */
export async function llamaLogProbs(modelPath: string, tokens: number[]): Promise<Float64Array[]> {
  const llama = await cpuLlama();
  const model = await llama.loadModel({ modelPath });
  try {
    // No flash attention (its CPU path rounds through F16, ~4e-3 off in log-prob) and an F32 KV
    // cache: then llama.cpp matches a float reference to ~1e-5.
    const ctx = await model.createContext({
      contextSize: Math.max(32, tokens.length + 1),
      batchSize: tokens.length,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    try {
      const seq = ctx.getSequence();
      const res = await seq.controlledEvaluate(
        tokens.map(
          (t) => [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }] as const,
        ) as never,
      );
      return tokens.map((_, p) => {
        const probs = res[p]?.next.probabilities;
        if (!probs) throw new Error(`no probabilities at position ${p}`);
        const out = new Float64Array(probs.size);
        for (const [t, pr] of probs) out[t] = Math.log(pr);
        return out;
      });
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** Largest |a - b| over entries where the reference probability is not negligible. */
export function maxLogProbDiff(llamaLp: Float64Array, refLp: ArrayLike<number>, floor = Math.log(1e-6)): number {
  let md = 0;
  for (let i = 0; i < refLp.length; i++) if (refLp[i]! > floor) md = Math.max(md, Math.abs(llamaLp[i]! - refLp[i]!));
  return md;
}
