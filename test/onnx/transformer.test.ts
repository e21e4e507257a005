// Every variant of a transformer-shaped graph (embeddings, LayerNormalization, attention, Gemm MLP,
// residuals; random weights) loads and runs in onnxruntime-node and stays close to FP32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { encodeModel, decodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel, VARIANTS, type Variant } from '../../src/onnx/variants.js';
import { transformerModel } from './support/build.js';
import { tensorToFloat32, float32Tensor } from '../../src/io/onnx/tensor.js';
import { quantizeBlockwise4, dequantizeBlockwise4 } from '../../src/formats/scalar/blockwise4.js';
import { dequantizeNf4, quantizeNf4 } from '../../src/formats/scalar/nf4.js';

const B = 2,
  S = 16;
const ids = new BigInt64Array(B * S).map((_, i) => BigInt((i * 37 + 5) % 100));
const mask = new BigInt64Array(B * S).fill(1n);

async function run(bytes: Uint8Array, opts: ort.InferenceSession.SessionOptions = {}): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3, ...opts });
  const out = await s.run({
    input_ids: new ort.Tensor('int64', ids, [B, S]),
    attention_mask: new ort.Tensor('int64', mask, [B, S]),
  });
  await s.release();
  return out.last_hidden_state!.data as Float32Array;
}

function compare(y: Float32Array, ref: Float32Array): { cos: number; sqnr: number } {
  let dot = 0,
    a = 0,
    b = 0,
    err = 0;
  for (let i = 0; i < y.length; i++) {
    dot += y[i]! * ref[i]!;
    a += y[i]! ** 2;
    b += ref[i]! ** 2;
    err += (y[i]! - ref[i]!) ** 2;
  }
  return { cos: dot / Math.sqrt(a * b), sqnr: 10 * Math.log10(b / err) };
}

// thresholds from the formats' resolution: fp16 keeps ~11 bits, int8 ~7, 4-bit blocks ~3
const MIN_SQNR: Record<Variant, number> = { fp16: 45, q8: 25, int8: 25, uint8: 25, q4: 12, q4f16: 12, bnb4: 12 };

test('transformer graph: every variant runs in ONNX Runtime, close to FP32, smaller', async () => {
  const fp32 = encodeModel(transformerModel());
  const ref = await run(fp32);
  for (const v of VARIANTS) {
    const m = transformerModel();
    const report = quantizeOnnxModel(m, v);
    const bytes = encodeModel(m);
    const y = await run(bytes);
    const { cos, sqnr } = compare(y, ref);
    console.log(`${v}: SQNR ${sqnr.toFixed(1)} dB, cosine ${cos.toFixed(5)}, ${bytes.length} of ${fp32.length} bytes`);
    console.log(`${v}: SQNR ${sqnr.toFixed(1)} dB, cosine ${cos.toFixed(5)}, ${bytes.length} of ${fp32.length} bytes`);
    assert.ok(sqnr >= MIN_SQNR[v], `${v}: SQNR ${sqnr.toFixed(1)} dB < ${MIN_SQNR[v]}`);
    assert.ok(cos > 0.97, `${v}: cosine ${cos}`);
    assert.ok(
      bytes.length < fp32.length * (v === 'fp16' ? 0.55 : v.startsWith('q4') || v === 'bnb4' ? 0.5 : 0.45),
      `${v}: ${bytes.length} vs ${fp32.length} bytes`,
    );
    const quantized = report.actions.filter((a) => !a.action.startsWith('kept'));
    if (v !== 'fp16')
      assert.equal(quantized.length, 6, `${v}: 4 projections + 2 Gemms quantized: ${JSON.stringify(report.actions)}`);
    // the attention MatMuls (both operands activations) are never quantized
    assert.ok(!quantized.some((a) => a.node === 'scores' || a.node === 'attn'));
  }
});

test('q4: MatMulNBits computes exactly with the weights our dequantizer gives (packing order, scales, zero points)', async () => {
  for (const asymmetric of [false, true]) {
    for (const blockSize of [16, 32, 64]) {
      const q = transformerModel(3);
      quantizeOnnxModel(q, 'q4', { blockSize, asymmetric });
      // the same FP32 model with each weight replaced by its dequantized 4-bit form
      const d = transformerModel(3);
      for (const t of d.graph!.initializer) {
        if (!['wq', 'wk', 'wv', 'wo', 'fc1.w', 'fc2.w'].includes(t.name)) continue;
        const dims = t.dims.map(Number) as [number, number];
        const trans = t.name.startsWith('fc');
        const w = tensorToFloat32(t);
        const [K, N] = trans ? [dims[1], dims[0]] : dims;
        const wk = trans ? transpose(w, dims[0], dims[1]) : w;
        let dq = dequantizeBlockwise4(quantizeBlockwise4(wk, K, N, blockSize, !asymmetric), K, N, blockSize);
        if (trans) dq = transpose(dq, K, N);
        Object.assign(t, float32Tensor(t.name, dims, dq));
      }
      const a = await run(encodeModel(q), { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } });
      const b = await run(encodeModel(d));
      let maxErr = 0,
        maxRef = 0;
      for (let i = 0; i < a.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
        maxRef = Math.max(maxRef, Math.abs(b[i]!));
      }
      console.log(`q4 block ${blockSize} asym=${asymmetric}: max |diff| ${maxErr} (max |y| ${maxRef})`);
      assert.ok(maxErr <= 1e-4 * maxRef, `block ${blockSize} asym=${asymmetric}: max error ${maxErr} of ${maxRef}`);
    }
  }
});

test('variants survive a write/read round trip unchanged', () => {
  for (const v of VARIANTS) {
    const m = transformerModel();
    quantizeOnnxModel(m, v);
    const bytes = encodeModel(m);
    assert.deepEqual(encodeModel(decodeModel(bytes)), bytes);
  }
});

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = x[r * cols + c]!;
  return o;
}

test('q4 with embeddings: GatherBlockQuantized rows equal our dequantized table in ONNX Runtime', async () => {
  for (const asymmetric of [false, true]) {
    const q = transformerModel(4);
    const report = quantizeOnnxModel(q, 'q4', { embeddings: true, asymmetric, blockSize: 16 });
    assert.ok(report.actions.some((a) => a.node === 'embed' && a.action.startsWith('GatherBlockQuantized')));
    assert.ok(q.graph!.node.some((n) => n.opType === 'GatherBlockQuantized'));
    // reference: the same q4 model (MatMulNBits) but the table replaced by its dequantized 4-bit form
    const d = transformerModel(4);
    quantizeOnnxModel(d, 'q4', { asymmetric, blockSize: 16 });
    const t = d.graph!.initializer.find((x) => x.name === 'embed')!;
    const [V, H] = t.dims.map(Number) as [number, number];
    const deq = dequantizeBlockwise4(
      quantizeBlockwise4(transpose(tensorToFloat32(t), V, H), H, V, 16, !asymmetric),
      H,
      V,
      16,
    );
    Object.assign(t, float32Tensor('embed', [V, H], transpose(deq, H, V)));
    const a = await run(encodeModel(q), { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } });
    const b = await run(encodeModel(d), { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } });
    let maxErr = 0;
    for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    assert.ok(maxErr < 1e-5, `asymmetric=${asymmetric}: ${maxErr}`);
    assert.ok(encodeModel(q).length < encodeModel(d).length - 15_000, 'the table shrank');
  }
});

test('bnb4: MatMulBnb4 computes exactly with our dequantized NF4 weights (packing, block order, absmax)', async () => {
  for (const blockSize of [16, 64, 256]) {
    const q = transformerModel(6);
    quantizeOnnxModel(q, 'bnb4', { blockSize });
    assert.ok(q.graph!.node.filter((n) => n.opType === 'MatMulBnb4').length === 6);
    const d = transformerModel(6);
    for (const t of d.graph!.initializer) {
      if (!['wq', 'wk', 'wv', 'wo', 'fc1.w', 'fc2.w'].includes(t.name)) continue;
      const dims = t.dims.map(Number) as [number, number];
      const trans = t.name.startsWith('fc'); // Gemm transB: already [N, K]
      const w = tensorToFloat32(t);
      const nk = trans ? w : transpose(w, dims[0], dims[1]);
      const deq = dequantizeNf4(quantizeNf4(nk, blockSize), nk.length, blockSize);
      Object.assign(t, float32Tensor(t.name, dims, trans ? deq : transpose(deq, dims[1], dims[0])));
    }
    const a = await run(encodeModel(q));
    const b = await run(encodeModel(d));
    let maxErr = 0,
      maxRef = 0;
    for (let i = 0; i < a.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
      maxRef = Math.max(maxRef, Math.abs(b[i]!));
    }
    assert.ok(maxErr <= 1e-4 * maxRef, `block ${blockSize}: max error ${maxErr} of ${maxRef}`);
  }
});

test('int8 options reach the weights: asymmetric gives zero points, per-channel one scale per column', () => {
  const scales = (v: Variant, o: { perChannel?: boolean; asymmetric?: boolean }) => {
    const m = transformerModel();
    quantizeOnnxModel(m, v, o);
    const g = m.graph!;
    const zp = g.initializer.find((t) => t.name === 'wq_zero_point')!;
    const sc = g.initializer.find((t) => t.name === 'wq_scale')!;
    return { zeros: [...zp.rawData], scaleCount: tensorToFloat32(sc).length };
  };
  assert.deepEqual(scales('int8', {}), { zeros: [0], scaleCount: 1 });
  assert.notDeepEqual(scales('int8', { asymmetric: true }).zeros, [0]);
  assert.equal(scales('int8', { perChannel: true }).scaleCount, 64);
  assert.notDeepEqual(scales('uint8', {}).zeros, [128]);
});
