// FP8 over whole tensors against ONNX Runtime: a sweep of float32 bit patterns (every exponent, both
// signs, a dense mantissa sample with the patterns one bit either side) plus every FP8 code's
// midpoints ±1 float32 ulp through Cast (opset 19, saturate 0/1); scaled tensors through
// QuantizeLinear/DequantizeLinear with an FP8 zero point; out-of-range counting. Where ORT 1.30's
// conversion (float8.h) departs from the Cast spec's table without saturation, lowbit follows the
// spec; the test pins both places down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { fp8ToFloat, floatToFp8, type Fp8Format } from '../../../src/formats/scalar/fp8.js';
import { dequantizeFp8, FP8_MAX, fp8Levels, quantizeFp8 } from '../../../src/formats/scalar/fp8-tensor.js';
import { encodeModel } from '../../../src/io/onnx/model.js';
import { TensorProto_DataType as DT } from '../../../src/io/onnx/proto/onnx_pb.js';
import { float32Tensor, makeTensor } from '../../../src/io/onnx/tensor.js';
import { node } from '../../../src/onnx/graph.js';
import { f32Bits, f32FromBits } from '../../../src/formats/half.js';
import { model, randn, rng, valueInfo } from '../../onnx/support/build.js';

const dtOf = (f: Fp8Format) => (f === 'e4m3fn' ? DT.FLOAT8E4M3FN : DT.FLOAT8E5M2);

/** ORT's Cast float -> FP8 -> float (the decode is exact, so this shows the code ORT chose) */
async function ortCast(x: Float32Array, f: Fp8Format, saturate: boolean): Promise<Float32Array> {
  const m = model(
    [
      node('Cast', ['x'], ['q'], 'to8', { to: dtOf(f), saturate: saturate ? 1 : 0 }),
      node('Cast', ['q'], ['y'], 'back', { to: DT.FLOAT }),
    ],
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

function sweep(f: Fp8Format): Float32Array {
  const bits: number[] = [];
  for (let sign = 0; sign < 2; sign++) {
    for (let e = 0; e < 256; e++) {
      for (let k = 0; k < 1024; k++) {
        // the top 10 mantissa bits hold every FP8 mantissa and the rounding bit below it (ties)
        const b = ((sign << 31) | (e << 23) | (k << 13)) >>> 0;
        bits.push(b, (b + 1) >>> 0, (b | 0x1fff) >>> 0);
      }
    }
  }
  // every code's midpoint with its upper neighbour, and one float32 ulp either side of it
  const pos = fp8Levels(f).filter((v) => v >= 0);
  for (let i = 0; i + 1 < pos.length; i++) {
    const mid = f32Bits((pos[i]! + pos[i + 1]!) / 2); // exact: midpoints of FP8 values are float32 values
    for (const d of [-1, 0, 1]) bits.push(mid + d, (mid + d) | 0x80000000);
  }
  const top = f32Bits(FP8_MAX[f] + (FP8_MAX[f] - pos[pos.length - 2]!) / 2);
  for (const d of [-1, 0, 1]) bits.push(top + d, (top + d) | 0x80000000);
  return Float32Array.from(bits, (b) => f32FromBits(b));
}

test('float32 -> FP8 equals ONNX Runtime Cast on a sweep of every exponent and every midpoint ±1 ulp', async () => {
  for (const f of ['e4m3fn', 'e5m2'] as const) {
    const x = sweep(f);
    for (const saturate of [true, false]) {
      const ref = await ortCast(x, f, saturate);
      let ortE5m2Nan = 0,
        ortE4m3Max = 0;
      for (let i = 0; i < x.length; i++) {
        const ours = fp8ToFloat(floatToFp8(x[i]!, f, saturate), f);
        const r = ref[i]!;
        if (Object.is(ours, r) || (Number.isNaN(ours) && Number.isNaN(r))) continue;
        // ORT 1.30 ORs the infinity code into the max code when E5M2 rounds up past 57344 without
        // saturation: NaN for [61440, 65536); the ONNX spec (and lowbit) give ±Inf there
        const a = Math.abs(x[i]!);
        if (f === 'e5m2' && !saturate && a >= 61440 && a < 65536 && Number.isNaN(r) && Math.abs(ours) === Infinity) {
          ortE5m2Nan++;
          continue;
        }
        // and for E4M3FN without saturation it truncates mantissa 111 at the top exponent to 110 before
        // rounding: [480, 512) with the rounding bit clear gives ±448 where the spec's x > max says NaN
        if (f === 'e4m3fn' && !saturate && a >= 480 && a < 512 && Math.abs(r) === 448 && Number.isNaN(ours)) {
          ortE4m3Max++;
          continue;
        }
        assert.fail(
          `${f} saturate=${saturate} x=${x[i]} (bits ${f32Bits(x[i]!).toString(16)}): ours ${ours}, ORT ${r}`,
        );
      }
      // the one known ORT deviation is confined to the range above and does occur in the sweep
      if (f === 'e5m2' && !saturate) assert.ok(ortE5m2Nan > 0);
      if (f === 'e4m3fn' && !saturate) assert.ok(ortE4m3Max > 0);
    }
  }
});

/** ORT's QuantizeLinear to FP8 then DequantizeLinear back, with our scales */
async function ortQdqFp8(
  x: Float32Array,
  f: Fp8Format,
  scales: Float32Array,
  dims: number[],
  attrs: Record<string, number>,
  saturate: boolean,
): Promise<Float32Array> {
  const sdims = scales.length === 1 && attrs.axis === undefined ? [] : [scales.length];
  const m = model(
    [
      node('QuantizeLinear', ['x', 's', 'z'], ['q'], 'q', { ...attrs, saturate: saturate ? 1 : 0 }),
      node('DequantizeLinear', ['q', 's', 'z'], ['y'], 'dq', attrs),
    ],
    [float32Tensor('s', sdims, scales), makeTensor('z', dtOf(f), sdims, new Uint8Array(scales.length))],
    [valueInfo('x', DT.FLOAT, dims)],
    [valueInfo('y', DT.FLOAT, dims)],
    21,
  );
  const s = await ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 3 });
  const y = (await s.run({ x: new ort.Tensor('float32', x, dims) })).y!.data as Float32Array;
  await s.release();
  return y;
}

test('scaled FP8 (absmax per tensor and per channel) equals ONNX Runtime QuantizeLinear -> DequantizeLinear', async () => {
  const r = rng(4);
  const x = randn(r, 8 * 32, 0.02);
  x[5] = 0.5; // an outlier in channel 0
  for (const f of ['e4m3fn', 'e5m2'] as const) {
    for (const saturate of [true, false]) {
      const t = quantizeFp8(x, f, { scaled: true, saturate });
      assert.equal(t.scales[0], Math.fround(0.5 / FP8_MAX[f]));
      assert.deepEqual([...dequantizeFp8(t)], [...(await ortQdqFp8(x, f, t.scales, [x.length], {}, saturate))]);
      const c = quantizeFp8(x, f, { scaled: true, saturate, dims: [8, 32], granularity: 'channel', axis: 0 });
      assert.equal(c.scales.length, 8);
      assert.deepEqual([...dequantizeFp8(c)], [...(await ortQdqFp8(x, f, c.scales, [8, 32], { axis: 0 }, saturate))]);
      // the absmax of each channel lands on ±max exactly, so nothing is clamped
      assert.equal(c.clampedCount, 0);
    }
  }
});

test('out of range: saturate clamps to ±max and counts; non-saturating gives NaN (E4M3FN) / Inf (E5M2) and counts', () => {
  // 460 rounds to 448 either way (below 448 + 16): not counted; 470, 1e6 and Inf would not fit
  const x = Float32Array.of(1, 460, 470, -1e6, Infinity, -Infinity, NaN, 1e-9, 0);
  const s = quantizeFp8(x, 'e4m3fn');
  assert.deepEqual([...dequantizeFp8(s)].slice(0, 6), [1, 448, 448, -448, 448, -448]);
  assert.equal(s.clampedCount, 4);
  assert.equal(s.nanCount, 1);
  assert.equal(s.underflowCount, 1);
  const n = quantizeFp8(x, 'e4m3fn', { saturate: false });
  const dn = dequantizeFp8(n);
  assert.equal(dn[1], 448);
  assert.ok([2, 3, 4, 5].every((i) => Number.isNaN(dn[i]!)));
  assert.equal(n.clampedCount, 0);
  assert.equal(n.overflowCount, 2); // 470 and -1e6: the infinities were never finite
  const e = quantizeFp8(Float32Array.of(60000, 1e6, -Infinity), 'e5m2', { saturate: false });
  assert.deepEqual([...dequantizeFp8(e)], [57344, Infinity, -Infinity]);
  assert.equal(e.overflowCount, 1);
  const es = quantizeFp8(Float32Array.of(60000, 1e6, -Infinity), 'e5m2');
  assert.deepEqual([...dequantizeFp8(es)], [57344, 57344, -57344]);
  assert.equal(es.clampedCount, 2);
});

test('level grids: 126 finite positive E4M3FN values up to 448, E5M2 up to 57344', () => {
  const a = fp8Levels('e4m3fn');
  assert.equal(a.length, 253); // 256 codes - 2 NaN - (-0)
  assert.equal(a[a.length - 1], 448);
  assert.equal(a.filter((v) => v > 0)[0], 2 ** -9);
  const b = fp8Levels('e5m2');
  assert.equal(b.length, 256 - 6 - 2 - 1); // 6 NaN, ±Inf, -0
  assert.equal(b[b.length - 1], 57344);
  assert.equal(b.filter((v) => v > 0)[0], 2 ** -16);
  assert.throws(() => quantizeFp8(new Float32Array(4), 'e5m2', { scales: Float32Array.of(-1) }), /positive finite/);
});
