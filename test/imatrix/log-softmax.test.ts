// The perplexity lowbit imatrix prints (llama-imatrix's log_softmax over the vocabulary) uses its
// own exp for x ≤ 0 (src/node/imatrix-llama.ts, ~3× faster than Math.exp): it must be as exact as
// the float32 expf llama-imatrix sums, and the log-softmax the same as with Math.exp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expNonPositive, logSoftmax } from '../../src/node/imatrix-llama.js';

test('expNonPositive: within 3e-10 of Math.exp on (−104, 0], 0 below, NaN kept', () => {
  let worst = 0,
    differ = 0,
    n = 0;
  for (let x = 0; x > -104; x -= 0.000731) {
    const a = expNonPositive(x),
      b = Math.exp(x);
    worst = Math.max(worst, Math.abs(a - b) / b);
    if (Math.fround(a) !== Math.fround(b)) differ++;
    n++;
  }
  assert.ok(worst < 3e-10, `worst relative error ${worst}`);
  // as float32 (what llama-imatrix's expf gives) they differ only where exp lies within 3e-10 of a rounding midpoint
  assert.ok(differ / n < 0.01, `${differ} of ${n} float32 values differ`);
  assert.equal(expNonPositive(0), 1);
  assert.equal(expNonPositive(-104), 0);
  assert.equal(expNonPositive(-Infinity), 0);
  assert.ok(Number.isNaN(expNonPositive(NaN)));
  // every float32 near the bottom of the range, where the results are float32 denormals
  for (let x = -87; x > -104; x -= 0.01) {
    const a = Math.fround(expNonPositive(x)),
      b = Math.fround(Math.exp(x));
    assert.ok(Math.abs(a - b) <= Math.max(Math.abs(b) * 1.2e-7, 1.5e-45), `${x}: ${a} vs ${b}`);
  }
});

test('logSoftmax equals the Math.exp formula on vocabulary-sized logits', () => {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const n of [512, 32000]) {
    const l = Float32Array.from({ length: n }, () => 12 * rnd());
    let max = -Infinity;
    for (const v of l) max = Math.max(max, v);
    let sum = 0;
    for (const v of l) sum += Math.fround(Math.exp(Math.fround(v - max)));
    for (const tok of [0, 7, n - 1]) {
      const ref = Math.fround(l[tok]! - max) - Math.log(sum);
      const got = logSoftmax(l, 0, n, tok);
      assert.ok(Math.abs(got - ref) < 1e-9, `n ${n} tok ${tok}: ${got} vs ${ref}`);
    }
  }
});
