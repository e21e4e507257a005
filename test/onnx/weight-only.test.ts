// --weight-only QDQ: DequantizeLinear in front of the float ops. The outputs equal the FP32 graph run
// with the weights replaced by their dequantized values (ONNX Runtime reads our packing and scales
// as we mean them), and sizes shrink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel } from '../../src/onnx/variants.js';
import { float32Tensor, tensorToFloat32 } from '../../src/io/onnx/tensor.js';
import { quantizePerChannel, quantizePerTensor } from '../../src/formats/scalar/affine.js';
import { dequantizeBlockwise4, quantizeBlockwise4 } from '../../src/formats/scalar/blockwise4.js';
import type { ModelProto } from '../../src/io/onnx/proto/onnx_pb.js';
import { transformerModel } from './support/build.js';

const B = 1,
  S = 8;
const ids = BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 17 + 3) % 100));
const mask = new BigInt64Array(B * S).fill(1n);
const PROJ = ['wq', 'wk', 'wv', 'wo'];

async function run(bytes: Uint8Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, {
    logSeverityLevel: 3,
    extra: { session: { qdq_matmulnbits_accuracy_level: '0' } },
  });
  const y = (
    await s.run({
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
    })
  ).last_hidden_state!.data as Float32Array;
  await s.release();
  return y;
}

function opset21(): ModelProto {
  const m = transformerModel(9);
  m.opsetImport[0]!.version = 21n;
  return m;
}

function withWeights(m: ModelProto, names: string[], f: (w: Float32Array, dims: number[]) => Float32Array): ModelProto {
  for (const t of m.graph!.initializer)
    if (names.includes(t.name))
      Object.assign(t, float32Tensor(t.name, t.dims.map(Number), f(tensorToFloat32(t), t.dims.map(Number))));
  return m;
}

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = x[r * cols + c]!;
  return o;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let e = 0,
    r = 0;
  for (let i = 0; i < a.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    r = Math.max(r, Math.abs(b[i]!));
  }
  return e / r;
}

test('weight-only int4 (block-wise DequantizeLinear, opset 21): exact against dequantized weights', async () => {
  for (const asymmetric of [false, true]) {
    const m = opset21();
    const fp32 = encodeModel(m).length;
    const report = quantizeOnnxModel(m, 'q4', { weightOnly: 'int4', blockSize: 16, asymmetric });
    assert.equal(
      report.actions.filter((a) => a.action.startsWith('DequantizeLinear int4')).length,
      6,
      JSON.stringify(report.actions),
    );
    const bytes = encodeModel(m);
    assert.ok(bytes.length < fp32 * 0.4, `${bytes.length} of ${fp32}`);
    // projections are MatMul [K,N]; fc1/fc2 are Gemm with transB ([N,K]), quantized down K all the same
    const ref = opset21();
    for (const t of ref.graph!.initializer) {
      if (![...PROJ, 'fc1.w', 'fc2.w'].includes(t.name)) continue;
      const dims = t.dims.map(Number) as [number, number];
      const trans = t.name.startsWith('fc');
      const [K, N] = trans ? [dims[1], dims[0]] : dims;
      const w = tensorToFloat32(t);
      let d = dequantizeBlockwise4(
        quantizeBlockwise4(trans ? transpose(w, dims[0], dims[1]) : w, K, N, 16, !asymmetric),
        K,
        N,
        16,
      );
      if (trans) d = transpose(d, K, N);
      Object.assign(t, float32Tensor(t.name, dims, d));
    }
    const err = maxRelErr(await run(bytes), await run(encodeModel(ref)));
    assert.ok(err < 1e-5, `asymmetric=${asymmetric}: ${err}`);
  }
});

test('weight-only int8 per-tensor and per-channel: exact against dequantized weights', async () => {
  for (const perChannel of [false, true]) {
    const m = opset21();
    quantizeOnnxModel(m, 'int8', { weightOnly: 'int8', perChannel });
    const names = [...PROJ, 'fc1.w', 'fc2.w'];
    const ref = withWeights(opset21(), names, (w, dims) => {
      const axis = dims[0] === 64 && dims[1] === 64 ? 1 : 0; // MatMul [K,N]: axis 1; Gemm transB [N,K]: axis 0
      const q = perChannel ? quantizePerChannel(w, dims, axis, 'int8', true) : quantizePerTensor(w, 'int8', true);
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Float32Array.from(q.q, (v, i) =>
        Math.fround(v * q.scales[perChannel ? Math.floor(i / inner) % dims[axis]! : 0]!),
      );
    });
    const err = maxRelErr(await run(encodeModel(m)), await run(encodeModel(ref)));
    assert.ok(err < 1e-5, `perChannel=${perChannel}: ${err}`);
  }
});

test('weight-only int4 refuses models below opset 21 with the q4 alternative', () => {
  assert.throws(() => quantizeOnnxModel(transformerModel(), 'q4', { weightOnly: 'int4' }), /opset 21.*--type q4/);
});
