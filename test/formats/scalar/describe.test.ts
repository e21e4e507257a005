// Teaching text for scalar formats: the level grid each one prints is the format's real grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeScalarFormat } from '../../../src/formats/scalar/describe.js';
import { scalarFormat, scalarFormats } from '../../../src/formats/scalar/registry.js';

test('FP8 E4M3FN: 253 levels up to 448, a row per power of two with its step, every positive level listed', () => {
  const d = describeScalarFormat(scalarFormat('FP8_E4M3'));
  assert.equal(d.levels.count, 253);
  assert.equal(d.levels.max, 448);
  assert.match(d.text, /subnormal {2}step 0\.00195313: 0\.00195313 .* 0\.0136719\n/);
  assert.match(d.text, /\[2\^0, 2\^1\) {2}step 0\.125: 1 1\.125 1\.25 1\.375 1\.5 1\.625 1\.75 1\.875\n/);
  assert.match(d.text, /\[2\^8, 2\^9\) {2}step 32: 256 288 320 352 384 416 448\n/);
  // every positive level appears once in the rows
  const listed = d.text
    .split('\n')
    .filter((l) => /step/.test(l))
    .flatMap((l) => l.split(': ')[1]!.split(' ').map(Number));
  assert.equal(listed.length, 126);
});

test('INT4 and UINT3: code ranges, the scale formula, the step', () => {
  const i4 = describeScalarFormat(scalarFormat('INT4'));
  assert.deepEqual([i4.levels.count, i4.levels.min, i4.levels.max], [16, -8, 7]);
  assert.match(i4.text, /scale = absmax \/ 7/);
  assert.match(i4.text, /a step of 0\.142857/);
  const u3 = describeScalarFormat(scalarFormat('UINT3'));
  assert.deepEqual([u3.levels.count, u3.levels.min, u3.levels.max], [8, 0, 7]);
  assert.match(u3.text, /zero point = round\(-min \/ scale\)/);
});

test('NF4 lists its 16 levels; every format has a worked example that reads back close', () => {
  const n = describeScalarFormat(scalarFormat('NF4'));
  assert.match(n.text, / 7: {2}0\.0000000/);
  assert.match(n.text, /15: {2}1\.0000000/);
  for (const f of scalarFormats()) {
    const d = describeScalarFormat(f);
    assert.ok(d.example.rmse < (f.bits <= 2 ? 0.03 : 0.01), `${f.name} example error ${d.example.rmse}`);
    assert.ok(d.example.bitsPerValue >= f.bits);
    assert.ok(d.text.startsWith(`${f.name} (${f.bits} bits`));
  }
});
