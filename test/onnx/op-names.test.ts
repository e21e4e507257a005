// Op types are looked up in the handler tables (and fp16's and the registry's tables) as own keys
// only: a node whose op type is an Object.prototype name ("constructor", "toString") is an unknown op,
// passed through, not taken for a handler (lowbit used to fail with an internal TypeError).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TensorProto_DataType as DT } from '../../src/io/onnx/proto/onnx_pb.js';
import { float32Tensor } from '../../src/io/onnx/tensor.js';
import { node } from '../../src/onnx/graph.js';
import { quantizeOnnxModel, VARIANTS } from '../../src/onnx/variants.js';
import { model, randn, rng, valueInfo } from './support/build.js';

function withOddOps() {
  const w = float32Tensor('w', [32, 32], randn(rng(3), 32 * 32, 0.2));
  return model(
    [
      node('constructor', ['x', 'w'], ['a'], 'odd1'),
      node('toString', ['a'], ['b'], 'odd2'),
      node('MatMul', ['b', 'w'], ['y'], 'mm'),
    ],
    [w],
    [valueInfo('x', DT.FLOAT, [1, 32])],
    [valueInfo('y', DT.FLOAT, [1, 32])],
  );
}

test('op types named like Object.prototype members are unknown ops, left as they are', () => {
  for (const v of VARIANTS) {
    const m = withOddOps();
    const r = quantizeOnnxModel(m, v);
    const ops = m.graph!.node.map((n) => n.opType);
    assert.ok(ops.includes('constructor') && ops.includes('toString'), `${v}: ${ops.join(',')}`);
    assert.ok(!r.actions.some((a) => a.op === 'constructor' || a.op === 'toString'), v);
    if (v !== 'fp16') {
      assert.ok(
        r.actions.some((a) => a.node === 'mm' && !a.action.startsWith('kept')),
        `${v}: MatMul quantized`,
      );
      // the weight's first reader is "constructor": the hint says lowbit has no quantizer for it
      const left = r.unquantized?.find((u) => u.op === 'constructor');
      if (left) assert.equal(left.how, 'lowbit has no constructor quantizer');
    }
  }
});
