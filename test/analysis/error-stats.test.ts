import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorAccumulator, errorStats, sqnrDb } from '../../src/analysis/error-stats.js';
import { Histogram, finiteRange, distinctValues } from '../../src/analysis/histogram.js';
import { LowbitError } from '../../src/errors.js';

test('error metrics of a small hand-checked case', () => {
  const s = errorStats([1, 2, 3, 4], [1, 2, 3, 5]);
  assert.equal(s.count, 4);
  assert.equal(s.rmse, 0.5); // sqrt(1/4)
  assert.equal(s.maxAbs, 1);
  assert.ok(Math.abs(s.sqnrDb - 10 * Math.log10(30 / 1)) < 1e-12);
  assert.ok(Math.abs(s.cosine - 34 / Math.sqrt(30 * 39)) < 1e-12); // dot 1+4+9+20, |b|² = 1+4+9+25
  assert.ok(Math.abs(s.refRms - Math.sqrt(30 / 4)) < 1e-12);
});

test('identical tensors: zero error, infinite SQNR, cosine 1', () => {
  const a = Float32Array.from([0.5, -1.25, 3]);
  const s = errorStats(a, a);
  assert.equal(s.rmse, 0);
  assert.equal(s.maxAbs, 0);
  assert.equal(s.sqnrDb, Infinity);
  assert.equal(s.cosine, 1);
  assert.equal(errorStats([0, 0], [0, 0]).cosine, 1);
  assert.equal(errorStats([0, 0], [1, 0]).cosine, 0);
  assert.equal(sqnrDb(0, 1), -Infinity);
});

test('sign flip gives cosine -1 and SQNR -6.02 dB', () => {
  const s = errorStats([1, -2, 3], [-1, 2, -3]);
  assert.ok(Math.abs(s.cosine + 1) < 1e-15);
  assert.ok(Math.abs(s.sqnrDb - 10 * Math.log10(1 / 4)) < 1e-12);
});

test('non-finite elements are counted apart and kept out of the sums', () => {
  const acc = new ErrorAccumulator();
  acc.add([1, NaN, 2], [1, 5, Infinity]);
  assert.equal(acc.count, 1);
  assert.equal(acc.nonFinite, 2);
  assert.equal(acc.result().rmse, 0);
});

test('chunked accumulation and merging equal the one-shot result', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 }),
          fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 }),
        ),
        { minLength: 1, maxLength: 200 },
      ),
      fc.nat(),
      (pairs, cutSeed) => {
        const a = pairs.map((p) => p[0]),
          b = pairs.map((p) => p[1]);
        const cut = cutSeed % (a.length + 1);
        const one = errorStats(a, b);
        const x = new ErrorAccumulator();
        x.add(a.slice(0, cut), b.slice(0, cut));
        const y = new ErrorAccumulator();
        y.add(a.slice(cut), b.slice(cut));
        x.merge(y);
        const two = x.result();
        assert.equal(two.count, one.count);
        assert.equal(two.maxAbs, one.maxAbs);
        const close = (u: number, v: number) =>
          u === v || Math.abs(u - v) <= 1e-9 * Math.max(1, Math.abs(u), Math.abs(v));
        assert.ok(close(two.rmse, one.rmse), `rmse ${two.rmse} vs ${one.rmse}`);
        assert.ok(close(two.cosine, one.cosine), `cosine ${two.cosine} vs ${one.cosine}`);
      },
    ),
    { numRuns: 200 },
  );
});

test('length mismatch is refused', () => {
  assert.throws(() => errorStats([1, 2], [1]), LowbitError);
});

test('histogram bins, clamps the ends, skips non-finite', () => {
  const h = new Histogram(0, 4, 4);
  h.add([0, 0.5, 1, 3.99, 4, -7, 9, NaN]);
  assert.deepEqual(Array.from(h.counts), [3, 1, 0, 3]);
  assert.equal(h.total, 7);
  assert.equal(h.binCenter(0), 0.5);
  assert.deepEqual(finiteRange([3, NaN, -2, 7, Infinity]), [-2, 7]);
  assert.deepEqual(finiteRange([NaN]), [0, 0]);
  assert.throws(() => new Histogram(1, 0, 3), LowbitError);
});

test('distinct values: the levels a block decodes to, most frequent first', () => {
  assert.deepEqual(distinctValues([0.5, -0.5, 0.5, 1.5, 0.5, -0.5]), [
    { value: 0.5, count: 3 },
    { value: -0.5, count: 2 },
    { value: 1.5, count: 1 },
  ]);
});
