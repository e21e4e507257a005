import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  perplexityChunks,
  tokenNll,
  encodeBaseLogProbs,
  KlAccumulator,
  PerplexityAccumulator,
  meanAndUncertainty,
  percentile,
  logProbStride,
} from '../../src/analysis/perplexity.js';
import { rng, gaussian } from '../support/oracle.js';

// float64 textbook definitions, to check the llama-perplexity style arithmetic against
function logSoftmax(l: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(l));
  const s = Array.from(l).reduce((a, v) => a + Math.exp(v - m), 0);
  return Array.from(l, (v) => v - m - Math.log(s));
}
function klExact(ref: ArrayLike<number>, model: ArrayLike<number>): number {
  const a = logSoftmax(ref),
    b = logSoftmax(model);
  // llama-perplexity drops reference entries below -16 nats
  return a.reduce((s, la, i) => (la > -16 ? s + Math.exp(la) * (la - b[i]!) : s), 0);
}
function randomLogits(r: () => number, n: number, spread: number): Float32Array {
  return Float32Array.from({ length: n }, () => gaussian(r) * spread);
}

test('chunks: floor(n/nCtx) chunks, BOS replaces the first token, second half scored', () => {
  const toks = Array.from({ length: 2 * 8 + 5 }, (_, i) => 100 + i);
  const c = perplexityChunks(toks, 8, 1);
  assert.equal(c.length, 2);
  assert.deepEqual(c[0]!.tokens, [1, 101, 102, 103, 104, 105, 106, 107]);
  assert.deepEqual(c[1]!.tokens, [1, 109, 110, 111, 112, 113, 114, 115]);
  assert.equal(c[0]!.first, 4);
  assert.deepEqual(perplexityChunks(toks, 8, null)[1]!.tokens[0], 108);
  assert.equal(perplexityChunks(toks, 8, 1, 1).length, 1);
  assert.throws(() => perplexityChunks(toks.slice(0, 15), 8, 1), /at least 16 tokens/);
});

test('token NLL equals -log softmax', () => {
  const r = rng(3);
  for (let k = 0; k < 20; k++) {
    const l = randomLogits(r, 50, 3);
    const tok = k % 50;
    assert.ok(Math.abs(tokenNll(l, tok) + logSoftmax(l)[tok]!) < 1e-5);
  }
});

test('stored reference log-probs decode to within scale/2 of the truth (top 16 nats)', () => {
  const r = rng(5);
  const n = 101;
  const l = randomLogits(r, n, 4);
  const buf = new Uint16Array(logProbStride(n) * 2);
  const off = logProbStride(n); // second slot, to exercise the offset
  const nll = encodeBaseLogProbs(l, 7, buf, off);
  const ls = logSoftmax(l);
  assert.ok(Math.abs(nll + ls[7]!) < 1e-5);
  const head = new Float32Array(buf.buffer, off * 2, 2);
  const [scale, minLp] = [head[0]!, head[1]!];
  assert.ok(scale > 0 && scale <= 16 / 65535 + 1e-9);
  for (let i = 0; i < n; i++) {
    if (ls[i]! < minLp) continue;
    const dec = scale * buf[off + 4 + i]! + minLp;
    assert.ok(Math.abs(dec - ls[i]!) <= scale / 2 + 1e-5, `entry ${i}: ${dec} vs ${ls[i]}`);
  }
  assert.equal(buf[0], 0); // the first slot is untouched
});

test('KL(ref ‖ model), same-top and PPL against float64 definitions', () => {
  const r = rng(11);
  const nVocab = 64,
    positions = 150;
  const stride = logProbStride(nVocab);
  const base = new Uint16Array(stride * positions);
  const acc = new KlAccumulator();
  const ppl = new PerplexityAccumulator();
  let klSum = 0,
    nllSum = 0,
    same = 0;
  const kls: number[] = [];
  for (let p = 0; p < positions; p++) {
    const ref = randomLogits(r, nVocab, 2.5);
    const model = Float32Array.from(ref, (v) => v + gaussian(r) * 0.3);
    const tok = Math.floor(r() * nVocab);
    encodeBaseLogProbs(ref, tok, base, p * stride);
    const { kld } = acc.add(model, base, p * stride, tok);
    ppl.add(model, tok);
    const exact = klExact(ref, model);
    kls.push(exact);
    assert.ok(Math.abs(kld - exact) < 2e-3, `position ${p}: ${kld} vs ${exact}`);
    klSum += exact;
    nllSum -= logSoftmax(model)[tok]!;
    const am = (a: ArrayLike<number>) => Array.from(a).indexOf(Math.max(...Array.from(a)));
    if (am(ref) === am(model)) same++;
  }
  const res = acc.result();
  assert.equal(res.count, positions);
  assert.ok(Math.abs(res.klMean - klSum / positions) < 1e-3);
  assert.ok(res.klMean > 0.01, 'noisy logits must diverge');
  assert.equal(res.sameTop, same / positions);
  assert.ok(Math.abs(res.perplexity - Math.exp(nllSum / positions)) < 1e-4 * res.perplexity);
  assert.ok(Math.abs(ppl.result().perplexity - res.perplexity) < 1e-6 * res.perplexity);
  const sorted = kls.sort((a, b) => a - b);
  const pos = 0.99 * (positions - 1);
  const p99 = sorted[Math.floor(pos)]! * (1 - (pos % 1)) + sorted[Math.ceil(pos)]! * (pos % 1);
  assert.ok(Math.abs(res.klP99 - p99) < 3e-3, `p99 ${res.klP99} vs ${p99}`);
  assert.ok(res.klMax >= res.klP99 && res.klP99 >= res.klMedian);
});

test('a model identical to the reference: KL ≈ 0, all tops agree, PPL equals the reference PPL', () => {
  const r = rng(2);
  const nVocab = 40,
    stride = logProbStride(nVocab);
  const base = new Uint16Array(stride * 30);
  const acc = new KlAccumulator();
  for (let p = 0; p < 30; p++) {
    const l = randomLogits(r, nVocab, 3);
    encodeBaseLogProbs(l, p % nVocab, base, p * stride);
    acc.add(l, base, p * stride, p % nVocab);
  }
  const res = acc.result();
  // only the uint16 storage of the reference (steps of ≤ 16/65535 nats) separates them
  assert.ok(Math.abs(res.klMean) < 1e-4, `KL ${res.klMean}`);
  assert.equal(res.sameTop, 1);
  assert.ok(Math.abs(res.perplexity / res.refPerplexity - 1) < 1e-3);
});

test('mean ± uncertainty and percentile follow the tool', () => {
  assert.deepEqual(meanAndUncertainty(0, 0, 0), { mean: 0, uncertainty: 0 });
  assert.deepEqual(meanAndUncertainty(10, 30, 5), { mean: 2, uncertainty: 0 }); // ≤ 10 samples: no uncertainty
  const xs = Array.from({ length: 20 }, (_, i) => i);
  const s = xs.reduce((a, b) => a + b, 0),
    s2 = xs.reduce((a, b) => a + b * b, 0);
  const m = meanAndUncertainty(s, s2, 20);
  assert.equal(m.mean, 9.5);
  assert.ok(Math.abs(m.uncertainty - Math.sqrt((s2 / 20 - 90.25) / 19)) < 1e-12);
  const v = Float32Array.from([0, 1, 2, 3, 4]);
  assert.equal(percentile(v, 0.5), 2);
  assert.equal(percentile(v, 0.99), Math.fround(3.96));
  assert.equal(percentile(v, 0), 0);
  assert.equal(percentile(v, 1), 4);
});
