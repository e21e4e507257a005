// Node selection (--op-types, --exclude-nodes, as ONNX Runtime's op_types_to_quantize and
// nodes_to_exclude) and what a variant leaves in float: a model whose weights sit mostly in Conv and
// LSTM nodes, which q4 (MatMul/Gemm only) cannot shrink, must say so and say what would quantize them.
// Every written model runs in onnxruntime-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { DT, float32Tensor, int64Tensor } from '../../src/io/onnx/tensor.js';
import { node } from '../../src/onnx/graph.js';
import { quantizeOnnxFile } from '../../src/node/onnx-file.js';
import { model, randn, rng, valueInfo } from './support/build.js';
import { runCli } from '../support/cli.js';

/** x [1,3,16,16] -> Conv -> Relu -> Conv -> Reshape [16,1,256] -> LSTM (hidden 64) -> MatMul head -> y [16,10] */
function convLstmModel() {
  const r = rng(5);
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
  const inits = [
    w('conv1.w', [32, 3, 3, 3], 0.3),
    w('conv1.b', [32], 0.1),
    w('conv2.w', [16, 32, 3, 3], 0.08),
    w('conv2.b', [16], 0.1),
    int64Tensor('seq_shape', [3], [16, 1, 256]),
    w('lstm.W', [1, 256, 256], 0.06),
    w('lstm.R', [1, 256, 64], 0.1),
    w('lstm.B', [1, 512], 0.05),
    int64Tensor('flat', [2], [16, 64]),
    w('head.w', [64, 10], 0.2),
  ];
  const nodes = [
    node('Conv', ['x', 'conv1.w', 'conv1.b'], ['c1'], 'conv1', { pads: [1, 1, 1, 1] }),
    node('Relu', ['c1'], ['c1r'], 'relu1'),
    node('Conv', ['c1r', 'conv2.w', 'conv2.b'], ['c2'], 'conv2', { pads: [1, 1, 1, 1] }),
    node('Reshape', ['c2', 'seq_shape'], ['seq'], 'to_seq'),
    node('LSTM', ['seq', 'lstm.W', 'lstm.R', 'lstm.B'], ['h'], 'lstm', { hidden_size: 64 }),
    node('Reshape', ['h', 'flat'], ['hf'], 'flatten'),
    node('MatMul', ['hf', 'head.w'], ['y'], 'head'),
  ];
  return model(nodes, inits, [valueInfo('x', DT.FLOAT, [1, 3, 16, 16])], [valueInfo('y', DT.FLOAT, [16, 10])], 17);
}

const X = randn(rng(9), 3 * 16 * 16, 1);

async function run(path: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const y = (await s.run({ x: new ort.Tensor('float32', X, [1, 3, 16, 16]) })).y!.data as Float32Array;
  await s.release();
  return y;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/** initializer name -> ONNX data type in a written model */
function initTypes(path: string): Map<string, number> {
  return new Map(decodeModel(readFileSync(path)).graph!.initializer.map((t) => [t.name, t.dataType]));
}

function withModel(f: (dir: string, input: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-select-'));
    try {
      const input = join(dir, 'model.onnx');
      writeFileSync(input, encodeModel(convLstmModel()));
      await f(dir, input);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'q4 on a Conv+LSTM model says which weights stayed float, and what would quantize them',
  withModel(async (dir, input) => {
    const r = await quantizeOnnxFile(input, join(dir, 'q4.onnx'), { type: 'q4' });
    assert.ok(r.outputBytes > 0.95 * r.inputBytes, `q4 cannot shrink this model: ${r.outputBytes} of ${r.inputBytes}`);
    const left = new Map((r.unquantized ?? []).map((u) => [u.op, u]));
    assert.deepEqual([...left.keys()].sort(), ['Conv', 'LSTM']);
    // W, R and the [1, 8*hidden] bias B
    assert.equal(left.get('LSTM')!.count, 3);
    assert.equal(left.get('LSTM')!.bytes, (256 * 256 + 256 * 64 + 512) * 4);
    assert.equal(left.get('Conv')!.bytes, (32 * 27 + 16 * 288) * 4);
    assert.match(left.get('Conv')!.how, /--type q8/);
    assert.match(left.get('LSTM')!.how, /no LSTM quantizer/);
    const cos = cosine(await run(join(dir, 'q4.onnx')), await run(input));
    assert.ok(cos > 0.99, `q4 output cosine ${cos}`);

    const cli = runCli(['quantize', input, join(dir, 'q4-cli.onnx'), '--type', 'q4']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /not quantized: 5 weight tensor\(s\), .* \(9\d\.\d% of the weight bytes\)/);
    assert.match(cli.stdout, /3 LSTM weights, 322 KiB: lowbit has no LSTM quantizer/);
    assert.match(cli.stdout, /2 Conv weights, .*: --type q8, int8 or uint8 .*--weight-only int8/);
    assert.match(
      cli.stderr,
      /^lowbit: warning: .*q4-cli\.onnx: q4 left 9\d% of the weight bytes in float \(LSTM, Conv weights\)/m,
    );
  }),
);

test(
  '--op-types and --exclude-nodes: chosen nodes stay FP32, the rest is quantized, the model runs in ONNX Runtime',
  withModel(async (dir, input) => {
    const ref = await run(input);
    // quantize: int8 everywhere but conv2
    const out = join(dir, 'q8.onnx');
    const a = runCli(['quantize', input, out, '--type', 'q8', '--exclude-nodes', 'conv2']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /conv2 +Conv +kept FP32: excluded by --exclude-nodes/);
    let t = initTypes(out);
    assert.equal(t.get('conv2.w'), DT.FLOAT, 'the excluded Conv keeps its float weight');
    assert.equal(t.get('conv1.w_quantized'), DT.UINT8);
    // q8 on a model with convolutions: uint8 weights everywhere, as transformers.js's "quantized"
    assert.equal(t.get('head.w_quantized'), DT.UINT8);
    assert.ok(cosine(await run(out), ref) > 0.99);

    // --op-types MatMul: both Conv nodes stay float, reported as deselected, not as a missing quantizer
    const out2 = join(dir, 'q8-matmul.onnx');
    const b = runCli(['quantize', input, out2, '--type', 'q8', '--op-types', 'MatMul']);
    assert.equal(b.code, 0, b.stderr);
    t = initTypes(out2);
    assert.equal(t.get('conv1.w'), DT.FLOAT);
    assert.equal(t.get('conv2.w'), DT.FLOAT);
    assert.equal(t.get('head.w_quantized'), DT.UINT8);
    assert.match(b.stdout, /2 Conv weights, .*: left out by --op-types\/--exclude-nodes/);
    assert.ok(cosine(await run(out2), ref) > 0.99);

    // quantize-dir: the same selection for every variant it writes
    const mdir = join(dir, 'm');
    mkdirSync(join(mdir, 'onnx'), { recursive: true });
    writeFileSync(join(mdir, 'onnx', 'model.onnx'), readFileSync(input));
    const c = runCli(['quantize-dir', mdir, '--variants', 'uint8,q4f16', '--exclude-nodes', 'head,conv1']);
    assert.equal(c.code, 0, c.stderr);
    const u8 = join(mdir, 'onnx', 'model_uint8.onnx'),
      q4f16 = join(mdir, 'onnx', 'model_q4f16.onnx');
    assert.ok(existsSync(u8) && existsSync(q4f16));
    t = initTypes(u8);
    assert.equal(t.get('head.w'), DT.FLOAT);
    assert.equal(t.get('conv1.w'), DT.FLOAT);
    assert.equal(t.get('conv2.w_quantized'), DT.UINT8);
    // q4f16: the excluded head stays FP32 (not FP16, not 4-bit), the rest of the graph is FP16
    t = initTypes(q4f16);
    assert.equal(t.get('head.w'), DT.FLOAT);
    assert.equal(t.get('conv2.w'), DT.FLOAT16);
    for (const p of [u8, q4f16]) {
      const cos = cosine(await run(p), ref);
      assert.ok(cos > 0.99, `${p}: cosine ${cos}`);
    }
  }),
);

test(
  'selection mistakes are one-line errors and write nothing',
  withModel(async (dir, input) => {
    const cases: [string[], RegExp][] = [
      [
        ['--type', 'q8', '--op-types', 'LSTM'],
        /^lowbit: --op-types LSTM: q8 quantizes MatMul, Gemm, Conv; for LSTM: lowbit has no LSTM quantizer/,
      ],
      [
        ['--type', 'q4', '--op-types', 'Conv'],
        /^lowbit: --op-types Conv: q4 quantizes MatMul, Gemm; for Conv: --type q8, int8 or uint8/,
      ],
      [
        ['--type', 'q8', '--exclude-nodes', 'conv3,head'],
        /^lowbit: --exclude-nodes: no node named "conv3" in the model/,
      ],
      [
        ['--type', 'fp16', '--op-types', 'MatMul'],
        /^lowbit: --op-types: fp16 converts the whole graph to FP16; keep nodes FP32 with --exclude-nodes instead/,
      ],
      [['--type', 'q8', '--op-types', ','], /^lowbit: --op-types needs a comma-separated list/],
    ];
    for (const [args, re] of cases) {
      const out = join(dir, 'bad.onnx');
      const r = runCli(['quantize', input, out, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), 'nothing written');
    }
  }),
);
