// Shared checks of the block-format tests against ggml: codec lookup, one-shot quantize, byte and
// float comparisons that name the first difference, and importance matrices of several kinds.
import assert from 'node:assert/strict';
import { codecByName } from '../../src/formats/registry.js';
import { rowBytes, type BlockCodec } from '../../src/formats/codec.js';
import { rng } from './oracle.js';

export function codec(name: string): BlockCodec {
  const c = codecByName(name);
  assert.ok(c, `${name} is registered`);
  return c;
}

export function quantize(c: BlockCodec, x: Float32Array, nRows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array {
  const out = new Uint8Array(nRows * rowBytes(c, nPerRow));
  c.quantize(x, out, nRows, nPerRow, imatrix);
  return out;
}

/** First differing byte, for a readable failure instead of a 100 KB diff. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string, blockBytes: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} (block ${Math.floor(i / blockBytes)}, offset ${i % blockBytes}) is ${actual[i]}, ggml has ${expected[i]}`);
  }
}

/** Bit-level float equality, -0 distinct from 0, any NaN equal to any NaN. */
export function assertFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: value ${i} is ${actual[i]}, ggml has ${expected[i]}`);
  }
}

/** Importances of kind 0 uniform, 1 zeros and a wide range, 2 all zero, 3 all one, 4 a few dominant columns. */
export function randomImatrix(seed: number, n: number, kind: number): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 0) w[i] = r() * 10;
    else if (kind === 1) w[i] = r() < 0.3 ? 0 : r() ** 4 * 1e4;
    else if (kind === 2) w[i] = 0;
    else if (kind === 3) w[i] = 1;
    else w[i] = r() < 0.05 ? 1e6 * r() : 1e-3 * r();
  }
  return w;
}
