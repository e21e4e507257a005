import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecByName } from '../../src/formats/registry.js';
import { loadGolden } from '../support/golden.js';
import { oracle, randomRows } from '../support/oracle.js';
import { fp32ToFp16, fp16ToFp32 } from '../../src/formats/half.js';

for (const name of ['F16', 'BF16']) {
  test(`${name} matches the ggml golden vectors`, () => {
    const g = loadGolden();
    const c = codecByName(name)!;
    const gt = g.types[name]!;
    const out = new Uint8Array(g.rows * gt.rowBytes);
    c.quantize(g.input, out, g.rows, g.rowLength, null);
    assert.deepEqual(out, g.bytes(gt.quant.file));
  });

  test(`${name} quantize and dequantize match ggml over random seeds`, () => {
    const o = oracle();
    const c = codecByName(name)!;
    for (let seed = 1; seed <= 20; seed++) {
      const x = randomRows(seed, 8, 256);
      const out = new Uint8Array(x.length * 2);
      c.quantize(x, out, 8, 256, null);
      const ref = o.quantize(c.type.id, x, 8, 256, null);
      assert.deepEqual(out, ref, `seed ${seed}`);
      const y = new Float32Array(x.length);
      c.dequantize(out, y, x.length);
      assert.deepEqual(y, o.dequantize(c.type.id, ref, x.length), `seed ${seed} dequant`);
    }
  });
}

test('FP16 conversion matches ggml on every float32 exponent and special value', () => {
  const o = oracle();
  const xs: number[] = [
    0,
    -0,
    Infinity,
    -Infinity,
    NaN,
    65504,
    65519.99,
    65520,
    -65520,
    6.1e-5,
    5.96e-8,
    2.98e-8,
    2.99e-8,
    1e-10,
  ];
  for (let e = -30; e <= 20; e++)
    for (const m of [1, 1.0004882, 1.000976, 1.5, 1.99951, 1.999999]) xs.push(m * 2 ** e, -m * 2 ** e);
  const x = new Float32Array(xs);
  const ref = o.quantize(1, x, 1, x.length, null);
  const refv = new Uint16Array(ref.buffer);
  for (let i = 0; i < x.length; i++) {
    assert.equal(fp32ToFp16(x[i]!), refv[i], `fp32ToFp16(${x[i]})`);
    const back = fp16ToFp32(refv[i]!);
    assert.ok(
      Object.is(back, o.dequantize(1, ref.subarray(2 * i, 2 * i + 2), 1)[0]) || Number.isNaN(back),
      `fp16ToFp32 ${refv[i]}`,
    );
  }
});

test('FP16 and BF16 conversions match ggml on 16M float32 bit patterns spanning every exponent', () => {
  const o = oracle();
  const n = 1 << 24;
  const bits = new Uint32Array(n);
  // a stride coprime to 2^32 walks every exponent and many mantissas, both signs, NaNs and Infs
  for (let i = 0; i < n; i++) bits[i] = Math.imul(i, 0x9e3779b1) >>> 0;
  bits.set(
    [0x7f800000, 0xff800000, 0x7fc00000, 0x477fefff, 0x477ff000, 0x33000000, 0x33000001, 0x387fffff, 0x38800000],
    0,
  );
  const x = new Float32Array(bits.buffer);
  for (const name of ['F16', 'BF16']) {
    const c = codecByName(name)!;
    const ours = new Uint8Array(n * 2);
    c.quantize(x, ours, 1, n, null);
    const ref = o.quantize(c.type.id, x, 1, n, null);
    if (Buffer.compare(ours, ref) !== 0) {
      const a = new Uint16Array(ours.buffer),
        b = new Uint16Array(ref.buffer);
      const i = a.findIndex((v, k) => v !== b[k]);
      assert.fail(`${name}: bits 0x${bits[i]!.toString(16)} → 0x${a[i]!.toString(16)}, ggml 0x${b[i]!.toString(16)}`);
    }
    const back = new Float32Array(n);
    c.dequantize(ours, back, n);
    const refBack = o.dequantize(c.type.id, ref, n);
    assert.equal(Buffer.compare(new Uint8Array(back.buffer), new Uint8Array(refBack.buffer)), 0, `${name} dequantize`);
  }
});
