// The Node edge: quantizeOnnxFile (files, external data, dry runs), `lowbit quantize-dir`, and the
// variants loaded by transformers.js itself from a local model folder, offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxFile } from '../../src/node/onnx-file.js';
import { transformerModel } from './support/build.js';

const S = 8;
const ids = BigInt64Array.from({ length: S }, (_, i) => BigInt((i * 13 + 2) % 100));
const mask = new BigInt64Array(S).fill(1n);

async function runPath(path: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const y = (
    await s.run({
      input_ids: new ort.Tensor('int64', ids, [1, S]),
      attention_mask: new ort.Tensor('int64', mask, [1, S]),
    })
  ).last_hidden_state!.data as Float32Array;
  await s.release();
  return y;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lowbit-onnx-'));
}

test('quantizeOnnxFile: output runs from its path; --external-data gives the same model in two files', async () => {
  const dir = tmp();
  try {
    const input = join(dir, 'model.onnx');
    writeFileSync(input, encodeModel(transformerModel()));
    const a = await quantizeOnnxFile(input, join(dir, 'model_q4.onnx'), { type: 'q4' });
    assert.equal(a.outputBytes, statSync(join(dir, 'model_q4.onnx')).size);
    mkdirSync(join(dir, 'ext'));
    const c = await quantizeOnnxFile(input, join(dir, 'ext', 'model_q4.onnx'), { type: 'q4', externalData: true });
    assert.equal(c.externalDataFile, 'model_q4.onnx_data');
    assert.ok(statSync(join(dir, 'ext', 'model_q4.onnx')).size < 10_000);
    assert.deepEqual(readdirSync(join(dir, 'ext')).sort(), ['model_q4.onnx', 'model_q4.onnx_data']);
    assert.deepEqual(await runPath(join(dir, 'ext', 'model_q4.onnx')), await runPath(join(dir, 'model_q4.onnx')));
    // and an external-data input is read back: quantizing it again to fp16 works from its side file
    const d = await quantizeOnnxFile(join(dir, 'ext', 'model_q4.onnx'), join(dir, 'again_q4f16.onnx'), {
      type: 'fp16',
    });
    assert.ok(d.inputBytes > 40_000, `input counted with its external data: ${d.inputBytes}`);
    const y = await runPath(join(dir, 'again_q4f16.onnx'));
    const ref = await runPath(join(dir, 'model_q4.onnx'));
    let err = 0,
      norm = 0;
    for (let i = 0; i < y.length; i++) {
      err += (y[i]! - ref[i]!) ** 2;
      norm += ref[i]! ** 2;
    }
    assert.ok(err / norm < 1e-4, `fp16 of the q4 model: relative error ${err / norm}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dry run writes nothing and predicts the exact size; bad requests are one-line errors', async () => {
  const dir = tmp();
  try {
    const input = join(dir, 'model.onnx');
    writeFileSync(input, encodeModel(transformerModel()));
    for (const type of ['q8', 'q4', 'fp16', 'q4f16']) {
      const plan = await quantizeOnnxFile(input, join(dir, `p_${type}.onnx`), { type, dryRun: true });
      assert.deepEqual(readdirSync(dir), ['model.onnx']);
      const real = await quantizeOnnxFile(input, join(dir, `p_${type}.onnx`), { type });
      assert.equal(plan.outputBytes, real.outputBytes, type);
      assert.deepEqual(plan.actions, real.actions);
      rmSync(join(dir, `p_${type}.onnx`));
    }
    await assert.rejects(quantizeOnnxFile(input, join(dir, 'x.onnx'), { type: 'q3' }), /unknown ONNX variant "q3"/);
    await assert.rejects(quantizeOnnxFile(input, join(dir, 'x.onnx'), { type: 'q4', blockSize: 48 }), /block-size/);
    await assert.rejects(quantizeOnnxFile(input, input, { type: 'q4' }), /is the input file/);
    writeFileSync(join(dir, 'bad.onnx'), 'not a model at all');
    await assert.rejects(
      quantizeOnnxFile(join(dir, 'bad.onnx'), join(dir, 'y.onnx'), { type: 'q4' }),
      /bad\.onnx: not an ONNX model/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts'), ...args],
    { encoding: 'utf8' },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A transformers.js model folder: config.json + onnx/model.onnx (BERT-shaped inputs and output). */
function modelFolder(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'bert',
      architectures: ['BertModel'],
      hidden_size: 64,
      vocab_size: 100,
      num_attention_heads: 1,
      num_hidden_layers: 1,
    }),
  );
  writeFileSync(join(dir, 'onnx', 'model.onnx'), encodeModel(transformerModel(5)));
  return dir;
}

test('lowbit quantize-dir writes the transformers.js file names; --dry-run lists and writes nothing', () => {
  const root = tmp();
  try {
    const dir = modelFolder(root, 'm');
    const plan = cli(['quantize-dir', dir, '--variants', 'q4,q8', '--dry-run']);
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, /q_proj\s+MatMul\s+MatMulNBits 4-bit block 32 symmetric\s+64x64/);
    assert.match(plan.stdout, /fc1\s+Gemm\s+MatMulInteger int8 per-tensor symmetric/);
    assert.match(plan.stdout, /predicted size: .* -> .*%\)/);
    assert.deepEqual(readdirSync(join(dir, 'onnx')), ['model.onnx']);
    const r = cli(['quantize-dir', dir, '--variants', 'fp16,q8,int8,uint8,q4,q4f16']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'onnx')).sort(), [
      'model.onnx',
      'model_fp16.onnx',
      'model_int8.onnx',
      'model_q4.onnx',
      'model_q4f16.onnx',
      'model_quantized.onnx',
      'model_uint8.onnx',
    ]);
    // variants already there are not quantized again
    const again = cli(['quantize-dir', dir, '--variants', 'q4', '--dry-run']);
    assert.equal((again.stdout.match(/plan for/g) ?? []).length, 1);
    const bad = cli(['quantize-dir', dir, '--variants', 'q5']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^lowbit: unknown ONNX variant "q5"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('transformers.js loads the q4, fp16, q8 and bnb4 variants from a local folder, offline, and they agree with fp32', async () => {
  const root = tmp();
  try {
    const dir = modelFolder(root, 'tiny-bert');
    const r = cli(['quantize-dir', dir, '--variants', 'fp16,q8,q4,bnb4']);
    assert.equal(r.status, 0, r.stderr);
    const { AutoModel, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = root + '/';
    const outputs: Record<string, Float32Array> = {};
    for (const dtype of ['fp32', 'fp16', 'q8', 'q4', 'bnb4'] as const) {
      const model = await AutoModel.from_pretrained(basename(dir), { dtype, local_files_only: true });
      const out = await model({
        input_ids: new Tensor('int64', ids, [1, S]),
        attention_mask: new Tensor('int64', mask, [1, S]),
      });
      outputs[dtype] = out.last_hidden_state.data as Float32Array;
      await model.dispose();
    }
    const ref = outputs.fp32!;
    for (const dtype of ['fp16', 'q8', 'q4', 'bnb4']) {
      const y = outputs[dtype]!;
      let dot = 0,
        a = 0,
        b = 0;
      for (let i = 0; i < y.length; i++) {
        dot += y[i]! * ref[i]!;
        a += y[i]! ** 2;
        b += ref[i]! ** 2;
      }
      const cos = dot / Math.sqrt(a * b);
      assert.ok(cos > 0.98, `${dtype}: cosine ${cos}`);
      assert.notDeepEqual(y, ref, `${dtype} really is a different file`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('quantize-dir finds every model base (encoder/decoder too) and skips existing variants', async () => {
  const { baseModels } = await import('../../src/cli/commands/quantize-dir.js');
  const dir = tmp();
  try {
    for (const f of [
      'encoder_model.onnx',
      'decoder_model_merged.onnx',
      'decoder_model_merged_q4.onnx',
      'encoder_model_quantized.onnx',
      'model_fp16.onnx',
      'decoder_model_merged.onnx_data',
      'vision_encoder.onnx',
    ])
      writeFileSync(join(dir, f), '');
    assert.deepEqual(baseModels(dir), ['decoder_model_merged', 'encoder_model', 'vision_encoder']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
