// ONNX ModelProto reading and writing: byte-identical round trips (real model, unknown fields,
// subgraphs), external data both ways, and hostile files rejected with FileFormatError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { decodeModel, encodeModel, loadExternalData, readModel, writeModel } from '../../../src/io/onnx/model.js';
import { BufferSink, BufferSource } from '../../../src/io/source.js';
import { FileFormatError, LowbitError } from '../../../src/errors.js';
import {
  GraphProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
} from '../../../src/io/onnx/proto/onnx_pb.js';
import { float32Tensor, tensorToFloat32 } from '../../../src/io/onnx/tensor.js';
import { node, attr } from '../../../src/onnx/graph.js';
import { quantizeOnnxModel } from '../../../src/onnx/variants.js';
import { model, transformerModel, valueInfo } from '../../onnx/support/build.js';
import { mnistModelMissing, MNIST_MODEL } from '../../onnx/support/mnist.js';

test('mnist-cnn.onnx decodes and re-encodes byte-identically', { skip: mnistModelMissing }, async () => {
  const bytes = new Uint8Array(readFileSync(MNIST_MODEL));
  const m = await readModel(new BufferSource(bytes, 'mnist-cnn.onnx'));
  assert.equal(m.graph!.node.length, 11);
  assert.deepEqual(encodeModel(m), bytes);
});

test('unknown (newer) fields survive decode/encode', () => {
  const m = transformerModel();
  const bytes = encodeModel(m);
  // field 1000, varint 42: unknown to this schema; appended to the top-level message
  const extra = Uint8Array.of(0xc0, 0x3e, 42);
  const withUnknown = new Uint8Array([...bytes, ...extra]);
  const back = encodeModel(decodeModel(withUnknown));
  assert.deepEqual(back, withUnknown);
  assert.notDeepEqual(encodeModel(decodeModel(bytes)), withUnknown);
});

test('If subgraphs, metadata and doc strings are kept through a quantization', () => {
  const thenG = create(GraphProtoSchema, {
    name: 'then',
    node: [node('Identity', ['y'], ['t_out'], 'then_id')],
    output: [valueInfo('t_out', DT.FLOAT, [1, 8])],
  });
  const elseG = create(GraphProtoSchema, {
    name: 'else',
    node: [node('Neg', ['y'], ['e_out'], 'else_neg')],
    output: [valueInfo('e_out', DT.FLOAT, [1, 8])],
  });
  const ifNode = node('If', ['cond'], ['z'], 'branch');
  ifNode.attribute.push(attr('then_branch', { graph: thenG }), attr('else_branch', { graph: elseG }));
  const w = float32Tensor(
    'w',
    [64, 8],
    Float32Array.from({ length: 512 }, (_, i) => Math.sin(i)),
  );
  const m = model(
    [node('MatMul', ['x', 'w'], ['y'], 'mm'), ifNode],
    [w],
    [valueInfo('x', DT.FLOAT, [1, 64]), valueInfo('cond', DT.BOOL, [])],
    [valueInfo('z', DT.FLOAT, [1, 8])],
  );
  m.metadataProps.push({ $typeName: 'onnx.StringStringEntryProto', key: 'author', value: 'test' });
  m.docString = 'kept';
  quantizeOnnxModel(m, 'q4', { blockSize: 16 });
  const back = decodeModel(encodeModel(m));
  const ifBack = back.graph!.node.find((n) => n.opType === 'If')!;
  assert.equal(ifBack.attribute.find((a) => a.name === 'else_branch')!.g!.node[0]!.opType, 'Neg');
  assert.equal(back.graph!.node.find((n) => n.name === 'mm_Q4')!.opType, 'MatMulNBits');
  assert.equal(back.metadataProps[0]!.value, 'test');
  assert.equal(back.docString, 'kept');
});

test('external data: written to a side file and loaded back', async () => {
  const m = transformerModel();
  const before = new Map(m.graph!.initializer.map((t) => [t.name, t.rawData.slice()]));
  const sink = new BufferSink();
  const data = new BufferSink();
  const r = await writeModel(m, sink, { externalData: { location: 'model.onnx_data', threshold: 1024 } }, data);
  assert.ok(r.dataBytes > 100_000 && r.modelBytes < 10_000, JSON.stringify(r));
  // the in-memory model is unchanged by the write
  for (const t of m.graph!.initializer) assert.deepEqual(t.rawData, before.get(t.name));
  const back = decodeModel(sink.bytes());
  const ext = back.graph!.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL);
  assert.ok(ext.length >= 7);
  const offsets = ext.map((t) => Number(t.externalData.find((e) => e.key === 'offset')!.value));
  assert.ok(
    offsets.every((o) => o % 4096 === 0),
    'aligned to 4096',
  );
  const opened: string[] = [];
  const n = await loadExternalData(back, async (loc) => {
    opened.push(loc);
    return new BufferSource(data.bytes(), loc);
  });
  assert.equal(n, ext.length);
  assert.deepEqual(opened, ['model.onnx_data']);
  for (const t of back.graph!.initializer) assert.deepEqual(t.rawData, before.get(t.name), t.name);
  assert.deepEqual(encodeModel(back), encodeModel(m));
});

test('hostile external data references are rejected before reading', async () => {
  const mk = (loc: string, offset: string, length: string) => {
    const m = transformerModel();
    const t = m.graph!.initializer.find((x) => x.name === 'wq')!;
    t.rawData = new Uint8Array(0);
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.externalData = [
      ['location', loc],
      ['offset', offset],
      ['length', length],
    ].map(([key, value]) => ({ $typeName: 'onnx.StringStringEntryProto' as const, key: key!, value: value! }));
    return m;
  };
  const side = new BufferSource(new Uint8Array(20000), 'side.bin');
  const open = async () => side;
  await assert.rejects(
    loadExternalData(mk('../../etc/passwd', '0', '16384'), open, 'm.onnx'),
    /outside the model's folder/,
  );
  await assert.rejects(loadExternalData(mk('/etc/passwd', '0', '16384'), open, 'm.onnx'), /outside the model's folder/);
  await assert.rejects(
    loadExternalData(mk('side.bin', '8192', '16384'), open, 'm.onnx'),
    (e) => e instanceof FileFormatError && /runs past the end/.test(e.message),
  );
  await assert.rejects(loadExternalData(mk('side.bin', '0', '999999999999'), open, 'm.onnx'), /external length/);
  await assert.rejects(loadExternalData(mk('side.bin', '-5', '16384'), open, 'm.onnx'), /not a byte count/);
  // a good reference loads the right bytes
  const ok = mk('side.bin', '0', '16384');
  await loadExternalData(ok, open, 'm.onnx');
  assert.equal(tensorToFloat32(ok.graph!.initializer.find((x) => x.name === 'wq')!).length, 64 * 64);
});

test('garbage and truncated files are FileFormatErrors naming the file', async () => {
  assert.throws(
    () => decodeModel(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), 'junk.onnx'),
    (e) => e instanceof FileFormatError && /^junk\.onnx: /.test(e.message),
  );
  assert.throws(() => decodeModel(new TextEncoder().encode('hello world, not a model'), 'text.onnx'), FileFormatError);
  const bytes = encodeModel(transformerModel());
  assert.throws(() => decodeModel(bytes.subarray(0, bytes.length - 1000), 'cut.onnx'), FileFormatError);
  assert.throws(() => decodeModel(new Uint8Array(0), 'empty.onnx'), FileFormatError);
  await assert.rejects(
    writeModel(transformerModel(), new BufferSink(), { externalData: { location: 'x' } }),
    LowbitError,
  );
});
