// The FP16 pass on graphs built to hit its edges: FP32 graph inputs/outputs with Casts, blocked ops
// kept FP32, Resize's FP32-only inputs, an output also read inside the graph, If branches (converted,
// reading an outer value), out-of-range constants. Every result runs in ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, TensorProto_DataType as DT } from '../../src/io/onnx/proto/onnx_pb.js';
import { encodeModel } from '../../src/io/onnx/model.js';
import { float32Tensor, int64Tensor } from '../../src/io/onnx/tensor.js';
import { attr, node } from '../../src/onnx/graph.js';
import { convertToFp16 } from '../../src/onnx/fp16.js';
import { model, valueInfo } from './support/build.js';

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const r = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
}

function graph() {
  const thenG = create(GraphProtoSchema, {
    name: 'then',
    node: [node('Mul', ['h', 'h'], ['t'], 'sq')],
    output: [valueInfo('t', DT.FLOAT, [1, 4, 2, 2])],
  });
  const elseG = create(GraphProtoSchema, {
    name: 'else',
    node: [node('Neg', ['h'], ['e'], 'neg')],
    output: [valueInfo('e', DT.FLOAT, [1, 4, 2, 2])],
  });
  const ifNode = node('If', ['cond'], ['branch'], 'if');
  ifNode.attribute.push(attr('then_branch', { graph: thenG }), attr('else_branch', { graph: elseG }));
  return model(
    [
      node('Conv', ['x', 'w', 'b'], ['c'], 'conv', { pads: [1, 1, 1, 1] }),
      node('Relu', ['c'], ['h'], 'relu'),
      ifNode,
      node('Add', ['branch', 'h'], ['sum'], 'add'),
      node('Resize', ['sum', '', 'scales'], ['up'], 'resize', { mode: 'nearest' }),
      node('TopK', ['up', 'k'], ['top', 'idx'], 'topk', { axis: -1 }),
      node('Mul', ['top', 'big'], ['scaled'], 'mul_big'),
      node('Cast', ['idx'], ['idxf'], 'cast', { to: DT.FLOAT }),
      node('Add', ['scaled', 'idxf'], ['out'], 'out_add'),
      node('ReduceSum', ['h'], ['hs'], 'reduce', { keepdims: 0 }),
    ],
    [
      float32Tensor(
        'w',
        [4, 1, 3, 3],
        Float32Array.from({ length: 36 }, (_, i) => Math.sin(i) * 0.5),
      ),
      float32Tensor('b', [4], Float32Array.of(0.1, -0.2, 0.3, 0)),
      float32Tensor('scales', [4], Float32Array.of(1, 1, 2, 2)),
      int64Tensor('k', [1], [2]),
      float32Tensor('big', [], Float32Array.of(1e5)),
    ],
    [valueInfo('x', DT.FLOAT, [1, 1, 2, 2]), valueInfo('cond', DT.BOOL, [])],
    [valueInfo('out', DT.FLOAT, [1, 4, 4, 2]), valueInfo('h', DT.FLOAT, [1, 4, 2, 2]), valueInfo('hs', DT.FLOAT, [])],
    17,
  );
}

test('fp16 pass: edges stay FP32, blocked/outer-scope/out-of-range parts stay FP32, results match', async () => {
  const feeds = (c: boolean) => ({
    x: new ort.Tensor('float32', Float32Array.of(1, -2, 3, 0.5), [1, 1, 2, 2]),
    cond: new ort.Tensor('bool', [c], []),
  });
  const ref = await run(encodeModel(graph()), feeds(true));
  const m = graph();
  const report = convertToFp16(m);
  const g = m.graph!;
  // initializers: conv weight/bias in FP16; Resize scales (FP32 by spec) and the out-of-range 1e5 stay FP32
  const dt = (n: string) => g.initializer.find((t) => t.name === n)!.dataType;
  assert.equal(dt('w'), DT.FLOAT16);
  assert.equal(dt('b'), DT.FLOAT16);
  assert.equal(dt('scales'), DT.FLOAT);
  assert.equal(dt('big'), DT.FLOAT);
  const kept = report.actions.map((a) => `${a.node}: ${a.action}`);
  assert.ok(kept.includes('topk: kept FP32 (blocked)'), kept.join('\n'));
  assert.ok(kept.includes('mul_big: kept FP32: reads constants outside FP16 range'), kept.join('\n'));
  // the If's branches are converted too: the then-branch casts the outer FP32 h, squares in FP16 and
  // casts its output back
  const thenG = g.node.find((n) => n.opType === 'If')!.attribute.find((a) => a.name === 'then_branch')!.g!;
  assert.deepEqual(
    thenG.node.map((n) => n.opType),
    ['Cast', 'Mul', 'Cast'],
  );
  assert.equal(thenG.node[2]!.output[0], 't');
  // h is a graph output (and read by the branches): it stays FP32 under its name
  const relu = g.node.find((n) => n.name === 'relu')!;
  assert.notEqual(relu.output[0], 'h');
  assert.ok(g.node.some((n) => n.opType === 'Cast' && n.output[0] === 'h'));
  assert.equal(g.input[0]!.type!.value.case === 'tensorType' && g.input[0]!.type!.value.value.elemType, DT.FLOAT);
  for (const c of [true, false]) {
    const want = c ? ref : await run(encodeModel(graph()), feeds(false));
    const got = await run(encodeModel(m), feeds(c));
    for (const k of ['out', 'h', 'hs']) {
      const a = got[k]!,
        b = want[k]!;
      // FP16 keeps 11 significant bits: errors relative to the tensor's largest value
      const scale = Math.max(...Array.from(b, Math.abs));
      for (let i = 0; i < b.length; i++)
        assert.ok(Math.abs(a[i]! - b[i]!) <= 5e-3 * scale, `${k}[${i}] cond=${c}: ${a[i]} vs ${b[i]} (max ${scale})`);
    }
  }
});

test('fp16 pass: clamping instead of keeping FP32 is reported', () => {
  const m = graph();
  const r = convertToFp16(m, { keepOutOfRangeFp32: false });
  assert.equal(r.clamped, 1);
  assert.match(r.notes.join('\n'), /1 value\(s\) outside FP16's range were clamped to ±65504/);
});
