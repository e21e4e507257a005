// The scalar format table: every entry quantizes and reads back within its grid, out-of-range values
// are clamped and counted (never Inf), FP16/BF16 equal ONNX Runtime's Cast where in range, NF4 equals
// the ONNX Runtime-exact bnb4 quantizer, names and aliases resolve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { bitsPerValue, findScalarFormat, scalarFormat, scalarFormats } from '../../../src/formats/scalar/registry.js';
import { quantizeNf4 } from '../../../src/formats/scalar/nf4.js';
import { encodeModel } from '../../../src/io/onnx/model.js';
import { TensorProto_DataType as DT } from '../../../src/io/onnx/proto/onnx_pb.js';
import { node } from '../../../src/onnx/graph.js';
import { LowbitError } from '../../../src/errors.js';
import { model, randn, rng, valueInfo } from '../../onnx/support/build.js';

test('names are unique; aliases and case resolve', () => {
  const names = scalarFormats().flatMap((f) => [f.name, ...f.aliases]);
  assert.equal(new Set(names).size, names.length);
  assert.equal(findScalarFormat('fp8_e4m3')?.name, 'FP8_E4M3FN');
  assert.equal(findScalarFormat('fp8-e5m2')?.name, 'FP8_E5M2');
  assert.equal(findScalarFormat('int4')?.bits, 4);
  assert.equal(findScalarFormat('uint3')?.kind, 'integer');
  assert.equal(findScalarFormat('Q4_0'), undefined);
  assert.throws(() => scalarFormat('INT9'), LowbitError);
  for (const n of ['FP16', 'BF16', 'FP8_E4M3FN', 'FP8_E5M2', 'NF4', 'INT2', 'INT8', 'UINT2', 'UINT8'])
    assert.ok(findScalarFormat(n), n);
});

test('every format reads back close to the input, codes within its grid, scales per granularity', () => {
  const x = randn(rng(9), 16 * 64, 0.05);
  for (const f of scalarFormats()) {
    for (const opts of [
      {},
      { dims: [16, 64], granularity: 'channel' as const, axis: 0 },
      { dims: [16, 64], granularity: 'group' as const, axis: 1, groupSize: 32 },
    ]) {
      const q = f.quantize(x, opts);
      const y = f.dequantize(q);
      assert.equal(y.length, x.length);
      assert.equal(q.clampedCount, 0, f.name);
      const g = f.grid();
      if (f.kind === 'integer')
        assert.ok(
          q.codes.every((c) => c >= g.min && c <= g.max),
          f.name,
        );
      // error bound: a small share of the largest magnitude, looser for fewer bits
      let maxErr = 0,
        absmax = 0;
      for (let i = 0; i < x.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(y[i]! - x[i]!));
        absmax = Math.max(absmax, Math.abs(x[i]!));
      }
      const bound =
        f.kind === 'float' ? absmax * 2 ** -3 : absmax * (f.name === 'NF4' ? 0.2 : 1.01 / (2 ** (f.bits - 1) - 1));
      assert.ok(maxErr <= bound, `${f.name} ${JSON.stringify(opts)}: max error ${maxErr} > ${bound}`);
      if (f.name === 'FP16' || f.name === 'BF16') continue; // plain casts: one scale of 1
      const want = opts.granularity === 'channel' ? 16 : opts.granularity === 'group' ? 32 : f.name === 'NF4' ? 16 : 1;
      assert.equal(q.scales.length, want, `${f.name} ${JSON.stringify(opts)}`);
    }
  }
});

test('beyond the range: clamped to the largest code and counted, never Inf', () => {
  const x = Float32Array.of(0.5, -0.25, 1e38, -3.4e38, Infinity, -Infinity, NaN, 70000, 65519, 0);
  for (const f of scalarFormats()) {
    const q = f.quantize(x);
    const y = f.dequantize(q);
    assert.equal(q.nanCount, 1, f.name);
    for (let i = 0; i < x.length; i++)
      if (i !== 6) assert.ok(Number.isFinite(y[i]!), `${f.name}: x=${x[i]} -> ${y[i]}`);
    // infinities are clamped everywhere; the finite giants only where they exceed the format (or, scaled, its scale)
    assert.ok(q.clampedCount >= 2, `${f.name} clamped ${q.clampedCount}`);
  }
  const h = scalarFormat('FP16').quantize(x);
  // 1e38, -3.4e38, ±Inf, 70000 would be Inf; 65519 rounds down to 65504 by itself
  assert.equal(h.clampedCount, 5);
  assert.deepEqual(
    [...scalarFormat('FP16').dequantize(h)].slice(2, 9).map((v) => (Number.isNaN(v) ? 'NaN' : v)),
    [65504, -65504, 65504, -65504, 'NaN', 65504, 65504],
  );
  const b = scalarFormat('BF16').quantize(Float32Array.of(3.4e38, Infinity, 3.38e38));
  assert.equal(b.clampedCount, 2);
  assert.ok(scalarFormat('BF16').dequantize(b).every(Number.isFinite));
  // without saturation FP16 keeps IEEE's overflow, as ONNX Cast does
  assert.equal(
    scalarFormat('FP16').dequantize(scalarFormat('FP16').quantize(Float32Array.of(70000), { saturate: false }))[0],
    Infinity,
  );
});

async function ortCastBack(x: Float32Array, to: DT): Promise<Float32Array> {
  const m = model(
    [node('Cast', ['x'], ['h'], 'to', { to }), node('Cast', ['h'], ['y'], 'back', { to: DT.FLOAT })],
    [],
    [valueInfo('x', DT.FLOAT, [x.length])],
    [valueInfo('y', DT.FLOAT, [x.length])],
    19,
  );
  const s = await ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 3 });
  const y = (await s.run({ x: new ort.Tensor('float32', x, [x.length]) })).y!.data as Float32Array;
  await s.release();
  return y;
}

test('FP16 and BF16 equal ONNX Runtime Cast in range (ties, subnormals, random)', async () => {
  const r = rng(21);
  const xs: number[] = [...randn(r, 4000, 1), ...randn(r, 1000, 1e-5), ...randn(r, 500, 3e4)];
  // exact ties for FP16 (11-bit significand) and BF16 (8-bit): k + 0.5 ulp
  for (let k = 1024; k < 1100; k++) xs.push((k + 0.5) * 2 ** -10, (k + 0.5) * 2 ** -24);
  for (let k = 128; k < 200; k++) xs.push((k + 0.5) * 2 ** -7, -(k + 0.5) * 2 ** 20);
  const x = Float32Array.from(xs.filter((v) => Math.abs(v) <= 65504)); // beyond, ORT gives Inf and lowbit clamps (test above)
  for (const [name, dt] of [
    ['FP16', DT.FLOAT16],
    ['BF16', DT.BFLOAT16],
  ] as const) {
    const f = scalarFormat(name);
    const ours = f.dequantize(f.quantize(x));
    const ref = await ortCastBack(x, dt);
    for (let i = 0; i < x.length; i++)
      assert.ok(Object.is(ours[i], ref[i]), `${name} x=${x[i]}: ours ${ours[i]}, ORT ${ref[i]}`);
  }
});

test('NF4 equals the ONNX Runtime-exact bnb4 quantizer (codes high nibble first, absmax scales)', () => {
  const x = randn(rng(3), 64 * 10, 0.1);
  for (const bs of [16, 64]) {
    const q = scalarFormat('NF4').quantize(x, { groupSize: bs });
    const ref = quantizeNf4(x, bs);
    assert.deepEqual([...q.scales], [...ref.absmax]);
    const packed = new Uint8Array(x.length / 2);
    for (let i = 0; i < x.length; i += 2) packed[i >> 1] = (q.codes[i]! << 4) | q.codes[i + 1]!;
    assert.deepEqual([...packed], [...ref.data]);
  }
});

test('storage per value counts scales and zero points', () => {
  const x = randn(rng(1), 4096, 1);
  assert.equal(bitsPerValue(scalarFormat('NF4'), scalarFormat('NF4').quantize(x)), 4.5);
  assert.equal(bitsPerValue(scalarFormat('FP16'), scalarFormat('FP16').quantize(x)), 16);
  const u = scalarFormat('UINT4').quantize(x, { granularity: 'group', groupSize: 32 });
  assert.equal(bitsPerValue(scalarFormat('UINT4'), u), 4 + (32 + 4) / 32);
  assert.equal(bitsPerValue(scalarFormat('INT8'), scalarFormat('INT8').quantize(x)), 8 + 32 / 4096);
});
