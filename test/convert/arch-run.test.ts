// Converted Qwen3 / Qwen3-MoE / SmolLM3 checkpoints run in llama.cpp (node-llama-cpp): its
// log-probabilities after every position of a fixed prompt equal a float64 forward pass of the
// Hugging Face architecture (support/arch-forward.ts: per-head q/k RMSNorm, MoE top-k routing with
// norm_topk_prob, SmolLM3's no-RoPE layers); its tokenizer gives the reference tokenizer's ids on a
// multilingual / code / special-token text. Each reference is also shown to be sensitive to the
// feature (skipping the q/k norm, the routing renormalisation or the no-RoPE layers moves it far off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { cpuLlama, llamaLogProbs, maxLogProbDiff } from '../support/llama-logprobs.js';
import { logSoftmax } from '../support/llama2c-forward.js';
import { writeArchFixture, type ArchKind, type ArchWeights } from './support/arch-fixture.js';
import { forwardArch } from './support/arch-forward.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-archrun-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function worstDiff(got: Float64Array[], ref: Float64Array[]): number {
  return Math.max(...ref.map((r, p) => maxLogProbDiff(got[p]!, r)));
}

/** the same weights with the architecture's particular feature taken away */
function without(w: ArchWeights): ArchWeights {
  const t = new Map(w.tensors);
  if (w.kind === 'smollm3') return { ...w, useRope: w.useRope.map(() => true) };
  if (w.kind === 'qwen3') {
    for (const [n, v] of t) if (/\.(q|k)_norm\.weight$/.test(n)) t.set(n, new Float32Array(v.length).fill(1));
    return { ...w, tensors: t };
  }
  return { ...w, nExpertUsed: 1 }; // top-1 instead of top-2
}

for (const kind of ['qwen3', 'qwen3moe', 'smollm3'] as ArchKind[]) {
  test(`${kind}: llama.cpp runs the converted model as the Hugging Face architecture computes it; same token ids`, async (t) => {
    const ck = join(dir, kind);
    const fx = await writeArchFixture(ck, kind);
    const out = join(dir, `${kind}.gguf`);
    await convertHfDir(ck, out, 'F32');
    const sp = fx.specials;
    const first = kind === 'smollm3' ? sp['<|begin_of_text|>']! : sp['<|im_start|>']!;
    const tokens = [first, 300, 271, 290, 100, 72, 101, 310, 33, 10, 285, 256, sp['<|im_end|>']!, 13];
    const got = await llamaLogProbs(out, tokens);
    const ref = forwardArch(fx.weights, tokens).map(logSoftmax);
    const worst = worstDiff(got, ref);
    assert.ok(worst < 1e-3, `${kind}: max |log p| difference ${worst}`);
    const off = worstDiff(got, forwardArch(without(fx.weights), tokens).map(logSoftmax));
    assert.ok(off > 100 * Math.max(worst, 1e-5), `${kind}: the feature matters (${off} vs ${worst})`);
    t.diagnostic(`max |log p difference| ${worst.toExponential(2)}; without the feature ${off.toFixed(3)}`);

    const golden = JSON.parse(readFileSync(join('test/fixtures/arch-golden', `${kind}.tokenizer.json`), 'utf8')) as {
      text: string;
      ids: number[];
    };
    const model = await (await cpuLlama()).loadModel({ modelPath: out });
    try {
      assert.deepEqual([...model.tokenize(golden.text, true)], golden.ids);
      assert.equal(model.detokenize(model.tokenize(golden.text, true), true), golden.text);
    } finally {
      await model.dispose();
    }
  });
}

test('converted with --type (one pass), they run in llama.cpp, the error growing as bits shrink (MXFP4_MOE for qwen3moe too)', async (t) => {
  for (const kind of ['qwen3', 'qwen3moe', 'smollm3'] as ArchKind[]) {
    const ck = join(dir, `${kind}-q`);
    const fx = await writeArchFixture(ck, kind);
    const tokens = [300, 271, 290, 100, 72, 101, 310, 33];
    const ref = forwardArch(fx.weights, tokens).map(logSoftmax);
    const worst: Record<string, number> = {};
    for (const type of ['Q8_0', 'Q4_0', ...(kind === 'qwen3moe' ? ['MXFP4_MOE'] : [])]) {
      const out = join(dir, `${kind}-${type}.gguf`);
      await convertHfDir(ck, out, type);
      worst[type] = worstDiff(await llamaLogProbs(out, tokens), ref);
    }
    t.diagnostic(
      `${kind}: max |log p difference| ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')}`,
    );
    // log-probs of these random tiny models span tens of nats; 8-bit weights and activations move them by tenths
    assert.ok(worst.Q8_0! < 2 && worst.Q8_0! < worst.Q4_0! / 4, `${kind}: ${JSON.stringify(worst)}`);
    if (worst.MXFP4_MOE !== undefined)
      assert.ok(worst.MXFP4_MOE > worst.Q8_0! && worst.MXFP4_MOE < 10, `${kind}: ${JSON.stringify(worst)}`);
  }
});
