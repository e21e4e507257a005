// The finiteness checks the quantize pipeline runs over every weight: the summing fast path must
// find exactly what an element-by-element scan finds, and the u16 fast path for block scales must
// agree with the byte path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstInvalid, firstNonFinite } from '../../src/pipeline/validate.js';
import { GGML_TYPE, ggmlTypeById } from '../../src/formats/ggml-types.js';
import { rng } from '../support/oracle.js';

const slow = (x: Float32Array) => x.findIndex((v) => !Number.isFinite(v));

test('firstNonFinite finds the first NaN/Inf wherever it is, and nothing in finite data', () => {
  const r = rng(5);
  const n = 3 * 4096 + 7; // chunks plus a tail that is not a multiple of 4
  const x = Float32Array.from({ length: n }, () => (r() - 0.5) * 100);
  assert.equal(firstNonFinite(x), -1);
  // huge finite values: their float32 sum would overflow, the float64 one does not
  x.fill(3.4e38, 0, 5000);
  assert.equal(firstNonFinite(x), -1);
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 3, 4095, 4096, 8191, 2 * 4096 + 5, n - 1]) {
      const y = x.slice();
      y[at] = bad;
      if (at + 9 < n) y[at + 9] = bad; // a later one must not win
      assert.equal(firstNonFinite(y), at, `${bad} at ${at}`);
      assert.equal(firstNonFinite(y), slow(y));
    }
  }
  // +Inf and -Inf in one chunk sum to NaN: still found
  const z = x.slice();
  z[100] = Infinity;
  z[101] = -Infinity;
  assert.equal(firstNonFinite(z), 100);
  // a view at an offset reports indices relative to the view
  assert.equal(firstNonFinite(z.subarray(50)), 50);
});

test('firstInvalid on F32 bytes: aligned (fast) and unaligned (byte) paths agree', () => {
  const x = new Float32Array(5000).fill(1.5);
  x[4321] = NaN;
  const bytes = new Uint8Array(x.buffer);
  assert.equal(firstInvalid(GGML_TYPE.F32, bytes), 4321);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.equal(firstInvalid(GGML_TYPE.F32, shifted.subarray(1)), 4321);
});

test('firstInvalid on block scales: even (u16) and odd (byte) starts agree for every scale position', () => {
  const r = rng(11);
  for (const type of [
    GGML_TYPE.Q8_0,
    GGML_TYPE.Q4_0,
    GGML_TYPE.Q4_1,
    GGML_TYPE.Q4_K,
    GGML_TYPE.Q6_K,
    GGML_TYPE.Q2_K,
    GGML_TYPE.Q3_K,
  ]) {
    const info = ggmlTypeById(type)!;
    const nBlocks = 40;
    const data = new Uint8Array(info.typeSize * nBlocks);
    // random bytes, then every fp16 that could be a scale made finite (exponent < 31)
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256) & 0xbf;
    const check = (d: Uint8Array) => {
      const odd = new Uint8Array(d.length + 1);
      odd.set(d, 1);
      const a = firstInvalid(type, d),
        b = firstInvalid(type, odd.subarray(1));
      assert.equal(a, b, `${info.ggmlName}: u16 and byte paths`);
      return a;
    };
    assert.equal(check(data), -1, info.ggmlName);
    // an Inf fp16 (0x7c00) at each byte offset of block 17: found exactly when it is a scale
    let found = 0;
    for (let o = 0; o + 1 < info.typeSize; o += 2) {
      const d = data.slice();
      d[17 * info.typeSize + o] = 0x00;
      d[17 * info.typeSize + o + 1] = 0x7c;
      const at = check(d);
      assert.ok(at === -1 || at === 17, `${info.ggmlName} offset ${o}`);
      if (at === 17) found++;
    }
    assert.ok(found >= 1, `${info.ggmlName}: some scale offset is checked`);
  }
});
