// Merged-decoder shaped graphs (optimum's decoder_model_merged: the MatMuls live in the branches of an
// If and read weights from the main graph): every variant quantizes inside the branches, and both
// branches run in ONNX Runtime close to FP32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, TensorProto_DataType as DT, type ModelProto } from '../../src/io/onnx/proto/onnx_pb.js';
import { encodeModel } from '../../src/io/onnx/model.js';
import { float32Tensor } from '../../src/io/onnx/tensor.js';
import { attr, node } from '../../src/onnx/graph.js';
import { quantizeOnnxModel, VARIANTS } from '../../src/onnx/variants.js';
import { model, randn, rng, valueInfo } from './support/build.js';

const H = 64;

function merged(): ModelProto {
  const r = rng(21);
  const w = (name: string) => float32Tensor(name, [H, H], randn(r, H * H, 1 / Math.sqrt(H)));
  const local = node('Constant', [], ['w_local'], 'local_weight', { value: w('w_local') });
  const thenG = create(GraphProtoSchema, {
    name: 'with_past',
    node: [
      local,
      node('MatMul', ['h', 'w1'], ['a'], 'then_mm1'),
      node('MatMul', ['h', 'w_local'], ['b'], 'then_mm2'),
      node('Add', ['a', 'b'], ['t'], 'then_add'),
    ],
    output: [valueInfo('t', DT.FLOAT, ['n', H])],
  });
  const elseG = create(GraphProtoSchema, {
    name: 'without_past',
    node: [node('MatMul', ['h', 'w1'], ['c'], 'else_mm'), node('Relu', ['c'], ['e'], 'else_relu')],
    output: [valueInfo('e', DT.FLOAT, ['n', H])],
  });
  const ifNode = node('If', ['use_past'], ['branch'], 'optimum::if');
  ifNode.attribute.push(attr('then_branch', { graph: thenG }), attr('else_branch', { graph: elseG }));
  const g = randn(r, H, 0.1).map((v) => v + 1);
  return model(
    [
      node('LayerNormalization', ['x', 'ln.g', 'ln.b'], ['h'], 'ln', { axis: -1 }),
      ifNode,
      node('MatMul', ['branch', 'w2'], ['logits'], 'lm_head'),
    ],
    [float32Tensor('ln.g', [H], g), float32Tensor('ln.b', [H], new Float32Array(H)), w('w1'), w('w2')],
    [valueInfo('x', DT.FLOAT, ['n', H]), valueInfo('use_past', DT.BOOL, [])],
    [valueInfo('logits', DT.FLOAT, ['n', H])],
  );
}

async function run(bytes: Uint8Array, usePast: boolean): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const x = randn(rng(5), 4 * H);
  const y = (await s.run({ x: new ort.Tensor('float32', x, [4, H]), use_past: new ort.Tensor('bool', [usePast], []) }))
    .logits!.data as Float32Array;
  await s.release();
  return y;
}

test('variants quantize MatMuls inside If branches (outer and branch-local weights) and run', async () => {
  const fp32 = encodeModel(merged());
  const refs = [await run(fp32, true), await run(fp32, false)];
  for (const v of VARIANTS) {
    const m = merged();
    const report = quantizeOnnxModel(m, v);
    if (v !== 'fp16') {
      const names = report.actions
        .filter((a) => !a.action.startsWith('kept'))
        .map((a) => a.node)
        .sort();
      assert.deepEqual(
        names,
        ['else_mm', 'lm_head', 'then_mm1', 'then_mm2'],
        `${v}: ${JSON.stringify(report.actions)}`,
      );
      // the shared outer weight is gone (replaced), the branch-local Constant too
      assert.ok(!m.graph!.initializer.some((t) => t.name === 'w1'), v);
    }
    const bytes = encodeModel(m);
    assert.ok(bytes.length < fp32.length * (v === 'fp16' ? 0.6 : 0.45), `${v}: ${bytes.length} of ${fp32.length}`);
    for (const [i, usePast] of [true, false].entries()) {
      const y = await run(bytes, usePast),
        ref = refs[i]!;
      let dot = 0,
        a = 0,
        b = 0;
      for (let k = 0; k < y.length; k++) {
        dot += y[k]! * ref[k]!;
        a += y[k]! ** 2;
        b += ref[k]! ** 2;
      }
      assert.ok(dot / Math.sqrt(a * b) > 0.98, `${v} use_past=${usePast}: cosine ${dot / Math.sqrt(a * b)}`);
    }
  }
});
