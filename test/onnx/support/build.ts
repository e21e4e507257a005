// Builds small ONNX models in tests: a transformer-shaped block (Gather embeddings, LayerNormalization,
// attention with MatMul/Softmax, Gemm/MatMul MLP, residual Adds) with random weights.
import { create } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType as DT,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../../src/io/onnx/proto/onnx_pb.js';
import { float32Tensor, int64Tensor } from '../../../src/io/onnx/tensor.js';
import { node } from '../../../src/onnx/graph.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export function randn(r: () => number, n: number, std = 1): Float32Array {
  const o = new Float32Array(n);
  for (let i = 0; i < n; i++) o[i] = std * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return o;
}

export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
        }),
      },
    }),
  });
}

export function model(
  nodes: NodeProto[],
  inits: TensorProto[],
  inputs: ValueInfoProto[],
  outputs: ValueInfoProto[],
  opset = 17,
): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'lowbit-test',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph: create(GraphProtoSchema, { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs }),
  });
}

/**
 * A one-layer transformer encoder over token ids: [batch, seq] int64 -> last_hidden_state [batch, seq, H].
 * Inputs input_ids and attention_mask (as BERT exports have; the mask is read by a Cast so it is used).
 */
export function transformerModel(seed = 1, H = 64, vocab = 100, ff = 128): ModelProto {
  const r = rng(seed);
  const w = (name: string, dims: number[], std: number) =>
    float32Tensor(
      name,
      dims,
      randn(
        r,
        dims.reduce((a, b) => a * b, 1),
        std,
      ),
    );
  const ones = (name: string, n: number) => float32Tensor(name, [n], new Float32Array(n).fill(1));
  const zeros = (name: string, n: number) => float32Tensor(name, [n], new Float32Array(n));
  const inits = [
    w('embed', [vocab, H], 1),
    ones('ln1.g', H),
    zeros('ln1.b', H),
    w('wq', [H, H], 1 / Math.sqrt(H)),
    w('wk', [H, H], 1 / Math.sqrt(H)),
    w('wv', [H, H], 1 / Math.sqrt(H)),
    w('wo', [H, H], 1 / Math.sqrt(H)),
    float32Tensor('scale', [], Float32Array.of(1 / Math.sqrt(H))),
    ones('ln2.g', H),
    zeros('ln2.b', H),
    w('fc1.w', [ff, H], 1 / Math.sqrt(H)),
    w('fc1.b', [ff], 0.1),
    w('fc2.w', [H, ff], 1 / Math.sqrt(ff)),
    w('fc2.b', [H], 0.1),
    int64Tensor('flat', [2], [-1, H]),
  ];
  const nodes = [
    node('Gather', ['embed', 'input_ids'], ['x0'], 'embed'),
    node('Cast', ['attention_mask'], ['maskf'], 'mask_cast', { to: DT.FLOAT }),
    node('Unsqueeze', ['maskf', 'ax2'], ['mask3'], 'mask_unsq'),
    node('Mul', ['x0', 'mask3'], ['x'], 'mask_mul'),
    node('LayerNormalization', ['x', 'ln1.g', 'ln1.b'], ['h'], 'ln1', { axis: -1, epsilon: { float: 1e-5 } }),
    node('MatMul', ['h', 'wq'], ['q'], 'q_proj'),
    node('MatMul', ['h', 'wk'], ['k'], 'k_proj'),
    node('MatMul', ['h', 'wv'], ['v'], 'v_proj'),
    node('Transpose', ['k'], ['kt'], 'kt', { perm: [0, 2, 1] }),
    node('MatMul', ['q', 'kt'], ['s0'], 'scores'),
    node('Mul', ['s0', 'scale'], ['s'], 'scores_scale'),
    node('Softmax', ['s'], ['p'], 'softmax', { axis: -1 }),
    node('MatMul', ['p', 'v'], ['a'], 'attn'),
    node('MatMul', ['a', 'wo'], ['o'], 'o_proj'),
    node('Add', ['x', 'o'], ['x1'], 'res1'),
    node('LayerNormalization', ['x1', 'ln2.g', 'ln2.b'], ['h2'], 'ln2', { axis: -1, epsilon: { float: 1e-5 } }),
    node('Reshape', ['h2', 'flat'], ['h2f'], 'flatten'),
    node('Gemm', ['h2f', 'fc1.w', 'fc1.b'], ['f1'], 'fc1', { transB: 1 }),
    node('Relu', ['f1'], ['f1r'], 'act'),
    node('Gemm', ['f1r', 'fc2.w', 'fc2.b'], ['f2'], 'fc2', { transB: 1 }),
    node('Shape', ['x1'], ['x1shape'], 'shape'),
    node('Reshape', ['f2', 'x1shape'], ['f2r'], 'unflatten'),
    node('Add', ['x1', 'f2r'], ['last_hidden_state'], 'res2'),
  ];
  inits.push(int64Tensor('ax2', [1], [2]));
  return model(
    nodes,
    inits,
    [valueInfo('input_ids', DT.INT64, ['batch', 'seq']), valueInfo('attention_mask', DT.INT64, ['batch', 'seq'])],
    [valueInfo('last_hidden_state', DT.FLOAT, ['batch', 'seq', H])],
  );
}
