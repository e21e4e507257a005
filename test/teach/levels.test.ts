import { test } from 'node:test';
import assert from 'node:assert/strict';
import { levels, roundToLevel, step, parseRange, parseBitsList } from '../../src/teach/levels.js';
import { LowbitError } from '../../src/errors.js';

test('2 bits give 4 levels 0, 1/3, 2/3, 1', () => {
  const l = levels(2, { min: 0, max: 1 });
  assert.deepEqual(
    l.map((x) => x.code),
    [0, 1, 2, 3],
  );
  assert.deepEqual(
    l.map((x) => +x.value.toFixed(6)),
    [0, 0.333333, 0.666667, 1],
  );
  assert.equal(step(2, { min: 0, max: 1 }), 1 / 3);
});

test('levels span the range ends exactly, and steps are even', () => {
  for (const bits of [1, 3, 8, 12]) {
    const r = { min: -2.5, max: 7 };
    const l = levels(bits, r);
    assert.equal(l.length, 2 ** bits);
    assert.equal(l[0]!.value, -2.5);
    assert.equal(l.at(-1)!.value, 7);
    const s = step(bits, r);
    for (let i = 1; i < l.length; i++) assert.ok(Math.abs(l[i]!.value - l[i - 1]!.value - s) < 1e-12);
  }
});

test('0.12 rounds to code 31 at 8 bits and code 2 at 4 bits', () => {
  const r8 = roundToLevel(0.12, 8, { min: 0, max: 1 });
  assert.equal(r8.code, 31);
  assert.ok(Math.abs(r8.value - 31 / 255) < 1e-15);
  assert.ok(Math.abs(r8.absError - (31 / 255 - 0.12)) < 1e-15);
  assert.equal(r8.savedVs32, 0.75);
  const r4 = roundToLevel(0.12, 4, { min: 0, max: 1 });
  assert.equal(r4.code, 2);
  assert.ok(Math.abs(r4.value - 2 / 15) < 1e-15);
  assert.ok(Math.abs(r4.relError! - (2 / 15 - 0.12) / 0.12) < 1e-12);
  assert.equal(r4.ratioVs32, 8);
});

test('rounding error never exceeds half a step inside the range; outside, values clamp', () => {
  const r = { min: -1, max: 1 };
  for (let i = 0; i <= 1000; i++) {
    const x = -1 + (2 * i) / 1000;
    const q = roundToLevel(x, 3, r);
    assert.ok(q.absError <= step(3, r) / 2 + 1e-12, `x=${x}`);
    assert.equal(q.clamped, false);
  }
  const hi = roundToLevel(5, 4, r);
  assert.equal(hi.code, 15);
  assert.equal(hi.clamped, true);
  assert.equal(roundToLevel(-5, 4, r).code, 0);
  assert.equal(roundToLevel(0, 4, r).relError, null);
});

test('bad bits and ranges are refused with a LowbitError', () => {
  assert.throws(() => levels(0, { min: 0, max: 1 }), LowbitError);
  assert.throws(() => levels(17, { min: 0, max: 1 }), LowbitError);
  assert.throws(() => levels(2.5, { min: 0, max: 1 }), LowbitError);
  assert.throws(() => parseRange('1,0'), LowbitError);
  assert.throws(() => parseRange('0'), LowbitError);
  assert.throws(() => parseRange('a,b'), LowbitError);
  assert.throws(() => parseBitsList('8,x'), LowbitError);
  assert.throws(() => roundToLevel(NaN, 4, { min: 0, max: 1 }), LowbitError);
});
