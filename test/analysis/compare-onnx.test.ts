// compare reads back every ONNX variant lowbit writes: each one against its source, every weight
// decoded from its own storage (MatMulNBits, MatMulBnb4, GatherBlockQuantized, QDQ int8/int4,
// dynamic int8, FP16), with the bits per weight the storage costs and a real, non-zero error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel } from '../../src/io/onnx/model.js';
import { BufferSource } from '../../src/io/source.js';
import { compareOnnx } from '../../src/analysis/compare-onnx.js';
import { quantizeOnnxModel, type OnnxQuantOptions, type Variant } from '../../src/onnx/variants.js';
import type { ModelProto } from '../../src/io/onnx/proto/onnx_pb.js';
import { transformerModel } from '../onnx/support/build.js';
import { MNIST_MODEL, mnistModelMissing } from '../onnx/support/mnist.js';
import { runCli } from '../support/cli.js';

/** [variant, options, the weights it quantizes -> expected type (regex) and bits per weight] */
type Case = [Variant, OnnxQuantOptions, Record<string, [RegExp, number]>];

const MM = ['wq', 'wk', 'wv', 'wo', 'fc1.w', 'fc2.w'];
const each = (names: string[], v: [RegExp, number]) => Object.fromEntries(names.map((n) => [n, v]));
// H = 64, ff = 128: per-tensor int8 costs 8 bits plus one scale and one zero point over the tensor
const int8Bits = (n: number, zpBits = 8) => 8 + (32 + zpBits) / n;

const TRANSFORMER_CASES: Case[] = [
  ['fp16', {}, { ...each([...MM, 'embed'], [/^FLOAT16$/, 16]) }],
  [
    'q8',
    {},
    {
      ...each(['wq', 'wk', 'wv', 'wo'], [/^INT8 per-tensor/, int8Bits(64 * 64)]),
      ...each(['fc1.w', 'fc2.w'], [/^INT8 per-tensor/, int8Bits(64 * 128)]),
    },
  ],
  ['uint8', {}, { wq: [/^UINT8 per-tensor/, int8Bits(64 * 64)] }],
  [
    'int8',
    { perChannel: true },
    {
      wq: [/^INT8 per-channel \(axis 1\)/, 8 + 40 / 64],
      'fc1.w': [/^INT8 per-channel \(axis 1\), transposed/, 8 + 40 / 64],
    },
  ],
  // fc1 and fc2 are Gemms with transB: their [N, K] weights come back transposed
  [
    'q4',
    {},
    {
      ...each(['wq', 'wk', 'wv', 'wo'], [/^MatMulNBits 4-bit, block 32$/, 5]),
      ...each(['fc1.w', 'fc2.w'], [/^MatMulNBits 4-bit, block 32, transposed$/, 5]),
    },
  ],
  [
    'q4',
    { embeddings: true, asymmetric: true, blockSize: 16 },
    {
      wq: [/^MatMulNBits 4-bit, block 16, asymmetric$/, 4 + 2 + 0.25],
      embed: [/^GatherBlockQuantized 4-bit, block 16$/, 4 + 2 + (8 * 2) / 64],
    },
  ],
  ['q4f16', {}, { wq: [/^MatMulNBits 4-bit, block 32$/, 4.5], embed: [/^FLOAT16$/, 16] }],
  ['bnb4', {}, { ...each(['wq', 'wk', 'wv', 'wo', 'fc2.w', 'fc1.w'], [/^MatMulBnb4 NF4, block 64$/, 4.5]) }],
  ['q8', { weightOnly: 'int8' }, { wq: [/^INT8 per-tensor/, int8Bits(64 * 64, 0)] }],
  [
    'q4',
    { weightOnly: 'int4' },
    {
      wq: [/^INT4 block 32 \(DequantizeLinear\)$/, 5],
      'fc1.w': [/^INT4 block 32 \(DequantizeLinear\), transposed$/, 5],
    },
  ],
  ['q4', { weightOnly: 'int4', asymmetric: true }, { wq: [/^UINT4 block 32 \(DequantizeLinear\)$/, 4 + 1 + 4 / 32] }],
];

async function check(
  label: string,
  ref: ModelProto,
  v: Variant,
  o: OnnxQuantOptions,
  expect: Record<string, [RegExp, number]>,
): Promise<void> {
  const a = encodeModel(ref);
  const m = decodeModel(a);
  quantizeOnnxModel(m, v, o);
  const r = await compareOnnx(new BufferSource(a, 'a.onnx'), new BufferSource(encodeModel(m), 'b.onnx'));
  const what = `${label} ${v} ${JSON.stringify(o)}`;
  assert.deepEqual(r.skipped, [], `${what}: not compared`);
  assert.deepEqual(r.onlyInA, [], `${what}: weights not found in B`);
  assert.deepEqual(r.onlyInB, [], `${what}: B's tensors not matched to A's`);
  const by = new Map(r.tensors.map((t) => [t.name, t]));
  for (const [name, [type, bits]] of Object.entries(expect)) {
    const t = by.get(name);
    assert.ok(t, `${what}: ${name} not compared`);
    assert.match(t.typeB, type, `${what}: ${name}`);
    assert.ok(
      Math.abs(t.bitsPerWeightB - bits) < 1e-9,
      `${what}: ${name} ${t.bitsPerWeightB} bits per weight, expected ${bits}`,
    );
    // decoded right: a real error, small against the weight (a wrong layout would give SQNR near 0 dB)
    assert.ok(
      Number.isFinite(t.stats.sqnrDb) && t.stats.rmse > 0,
      `${what}: ${name} shows no error (${t.stats.sqnrDb} dB)`,
    );
    assert.ok(t.stats.sqnrDb > (bits >= 16 ? 50 : bits >= 8 ? 30 : 12), `${what}: ${name} SQNR ${t.stats.sqnrDb} dB`);
  }
  assert.ok(r.total.bitsPerWeightB < 32, `${what}: total ${r.total.bitsPerWeightB} bits per weight`);
  assert.ok(Number.isFinite(r.total.sqnrDb), `${what}: shown lossless`);
}

test('compare decodes every ONNX variant of a transformer block against its source', async () => {
  for (const [v, o, expect] of TRANSFORMER_CASES) {
    const ref = transformerModel(2);
    if (o.weightOnly === 'int4') ref.opsetImport[0]!.version = 21n; // block-wise DequantizeLinear
    await check('transformer', ref, v, o, expect);
  }
});

test(
  'compare decodes every ONNX variant of the MNIST CNN (Conv, Gemm with transB)',
  { skip: mnistModelMissing },
  async () => {
    const cases: Case[] = [
      [
        'q8',
        {},
        {
          'conv2.weight': [/^UINT8 per-tensor/, int8Bits(64 * 32 * 9)],
          'fc1.weight': [/^UINT8 per-tensor.*transposed/, int8Bits(128 * 3136)],
        },
      ],
      ['q4', {}, { 'fc1.weight': [/^MatMulNBits 4-bit, block 32, transposed$/, 5] }],
      ['bnb4', {}, { 'fc1.weight': [/^MatMulBnb4 NF4, block 64$/, 4.5] }],
      ['q4f16', {}, { 'conv2.weight': [/^FLOAT16$/, 16] }],
      ['fp16', {}, { 'fc1.weight': [/^FLOAT16$/, 16] }],
    ];
    for (const [v, o, expect] of cases) await check('mnist', decodeModel(readFileSync(MNIST_MODEL)), v, o, expect);
  },
);

test('lowbit compare on a bnb4 file: NF4 at 4.5 bits per weight, not lossless FP32', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-'));
  try {
    const ref = transformerModel(2);
    writeFileSync(join(dir, 'model.onnx'), encodeModel(ref));
    const q = runCli(['quantize', join(dir, 'model.onnx'), join(dir, 'model_bnb4.onnx'), '--type', 'bnb4']);
    assert.equal(q.code, 0, q.stderr);
    assert.ok(existsSync(join(dir, 'model_bnb4.onnx')));
    const r = runCli(['compare', join(dir, 'model.onnx'), join(dir, 'model_bnb4.onnx')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wq +\[64, 64\] +FLOAT +MatMulBnb4 NF4, block 64 +4\.5 /m);
    assert.doesNotMatch(r.stdout, /only in [AB]/);
    const total = /bits per weight ([\d.]+) → ([\d.]+), .*SQNR ([\d.]+) dB/.exec(r.stdout);
    assert.ok(total, r.stdout);
    assert.equal(Number(total[1]), 32);
    assert.ok(Number(total[2]) < 16, `total ${total[2]} bits per weight`);
    assert.ok(Number(total[3]) > 10 && Number(total[3]) < 60, `SQNR ${total[3]}`);
    // and report reads it the same way
    const q4 = runCli(['quantize', join(dir, 'model.onnx'), join(dir, 'model_q4.onnx'), '--type', 'q4']);
    assert.equal(q4.code, 0, q4.stderr);
    const rep = runCli([
      'report',
      join(dir, 'model.onnx'),
      join(dir, 'model_bnb4.onnx'),
      join(dir, 'model_q4.onnx'),
      '--json',
    ]);
    assert.equal(rep.code, 0, rep.stderr);
    const data = JSON.parse(rep.stdout) as {
      variants: {
        label: string;
        comparison: { total: { bitsPerWeightB: number; sqnrDb: number }; onlyInA: string[] };
      }[];
    };
    assert.deepEqual(
      data.variants.map((v) => v.label),
      ['model_bnb4', 'model_q4'],
    );
    for (const v of data.variants) {
      // the FP32 embedding table and norms keep the totals above 4.5
      assert.ok(
        v.comparison.total.bitsPerWeightB < 12,
        `${v.label}: ${v.comparison.total.bitsPerWeightB} bits per weight`,
      );
      assert.ok(Number.isFinite(v.comparison.total.sqnrDb), `${v.label}: shown lossless`);
      assert.deepEqual(v.comparison.onlyInA, []);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
