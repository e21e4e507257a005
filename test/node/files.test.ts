// The file-level API of lowbit/node (quantizeFile, planQuantizeFile, convertHfFolder,
// convertLlama2cFile, inspectGgufFile): the same bytes as the CLI for the same options, and every
// missing or wrong option a LowbitError that names it, before any output exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowbitError } from '../../src/errors.js';
import { FILE_TYPES, FILE_TYPE_ALIASES } from '../../src/plan/file-types.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import {
  compareGgufFiles,
  convertHfFolder,
  convertLlama2cFile,
  inspectGgufFile,
  planQuantizeFile,
  quantizeFile,
  type GgufFileTypeName,
  type QuantizeFileOptions,
} from '../../src/node/files.js';
import { REPO, runCli } from '../support/cli.js';
import { writeSyntheticLlama } from '../pipeline/synthetic-model.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-files-'));
const F32 = join(dir, 'stories-f32.gguf');
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('convertLlama2cFile writes the F32 GGUF the CLI writes', async () => {
  const s = await convertLlama2cFile(join(REPO, 'fixtures/stories260K.bin'), F32);
  assert.equal(s.tensors, 47);
  const cli = join(dir, 'cli-f32.gguf');
  const r = runCli(['convert', 'llama2c', join(REPO, 'fixtures/stories260K.bin'), cli]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(F32).equals(readFileSync(cli)));
});

test('quantizeFile: the bytes `lowbit quantize` writes, for a mix with per-tensor options', async () => {
  const opts: QuantizeFileOptions = {
    type: 'q4_k_m',
    tokenEmbeddingType: 'Q5_1',
    tensorTypes: [['attn_v', 'Q5_0']],
    threads: 2,
  };
  const out = join(dir, 'api-q4km.gguf');
  const r = await quantizeFile(F32, out, opts);
  assert.equal(r.type, 'Q4_K_M');
  assert.deepEqual(r.outputs, [out]);
  const cli = join(dir, 'cli-q4km.gguf');
  const c = runCli([
    'quantize',
    F32,
    cli,
    '--type',
    'Q4_K_M',
    '--token-embedding-type',
    'q5_1',
    '--tensor-type',
    'attn_v=q5_0',
    '--threads',
    '1',
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(cli)), 'same bytes as the CLI');
  assert.equal(r.outputBytes, readFileSync(out).length);
  // the options took effect: token_embd.weight is Q5_1 (the mix alone gives it Q8_0 here), attn_v Q5_0
  const info = await inspectGgufFile(out);
  assert.equal(info.fileType, 'Q4_K_M');
  assert.equal(info.tensors.find((t) => t.name === 'token_embd.weight')?.type, 'q5_1');
  assert.ok(info.tensors.filter((t) => t.name.endsWith('attn_v.weight')).every((t) => t.type === 'q5_0'));
  // the plan is what quantizeFile followed
  const plan = await planQuantizeFile(F32, opts);
  assert.deepEqual(
    plan.tensors.map((t) => t.dstType),
    r.plan.tensors.map((t) => t.dstType),
  );
});

test('inspectGgufFile: exact totals and the file type by name', async () => {
  const q8 = join(dir, 'q8.gguf');
  await quantizeFile(F32, q8, { type: 'Q8_0' });
  const info = await inspectGgufFile(q8);
  assert.equal(info.fileType, 'Q8_0');
  assert.equal(info.architecture, 'llama');
  assert.equal(info.tensors.length, 47);
  assert.equal(
    info.parameters,
    info.tensors.reduce((a, t) => a + t.elements, 0),
  );
  assert.ok(Number.isInteger(info.parameters) && info.parameters > 200_000);
  assert.equal(info.fileSize, readFileSync(q8).length);
  const c = await compareGgufFiles(F32, q8);
  assert.equal(c.total.elements, info.parameters);
  assert.ok(c.total.sqnrDb > 30 && c.total.sqnrDb < 80, `Q8_0 SQNR ${c.total.sqnrDb}`);
  assert.equal(c.tensors.length, 47);
});

test('convertHfFolder: a Hugging Face folder to F16, and to Q8_0 in one pass (= convert then quantize)', async () => {
  const hf = join(REPO, 'test/fixtures/hf-stories260K');
  const f16 = join(dir, 'hf-f16.gguf');
  await convertHfFolder(hf, f16, { type: 'F16', name: 'tiny' });
  const i16 = await inspectGgufFile(f16);
  assert.equal(i16.fileType, 'F16');
  assert.equal(i16.name, 'tiny');
  const direct = join(dir, 'hf-q8.gguf'),
    f32 = join(dir, 'hf-f32.gguf'),
    twoStep = join(dir, 'hf-q8-2.gguf');
  await convertHfFolder(hf, direct, { type: 'Q8_0', name: 'tiny' });
  await convertHfFolder(hf, f32, { name: 'tiny' });
  await quantizeFile(f32, twoStep, { type: 'Q8_0' });
  assert.ok(readFileSync(direct).equals(readFileSync(twoStep)));
});

test("the file-type names in GgufFileTypeName are exactly llama-quantize's (FILE_TYPES and aliases)", () => {
  // compile-time list, checked against the runtime table so neither drifts
  const names: Record<GgufFileTypeName, true> = {
    F32: true,
    F16: true,
    BF16: true,
    Q8_0: true,
    Q4_0: true,
    Q4_1: true,
    Q5_0: true,
    Q5_1: true,
    Q2_K: true,
    Q2_K_S: true,
    Q3_K_S: true,
    Q3_K_M: true,
    Q3_K_L: true,
    Q4_K_S: true,
    Q4_K_M: true,
    Q5_K_S: true,
    Q5_K_M: true,
    Q6_K: true,
    IQ1_S: true,
    IQ1_M: true,
    IQ2_XXS: true,
    IQ2_XS: true,
    IQ2_S: true,
    IQ2_M: true,
    IQ3_XXS: true,
    IQ3_XS: true,
    IQ3_S: true,
    IQ3_M: true,
    IQ4_NL: true,
    IQ4_XS: true,
    TQ1_0: true,
    TQ2_0: true,
    MXFP4_MOE: true,
    Q1_0: true,
    Q2_0: true,
    Q3_K: true,
    Q4_K: true,
    Q5_K: true,
  };
  assert.deepEqual(
    Object.keys(names).sort(),
    [...FILE_TYPES.map((f) => f.name), ...Object.keys(FILE_TYPE_ALIASES)].sort(),
  );
});

/** The call rejects with a LowbitError whose message matches, and leaves no file in the output's folder. */
async function refuses(p: Promise<unknown>, message: RegExp): Promise<void> {
  const before = readdirSync(dir).sort();
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LowbitError, `a LowbitError, got ${String(e)}`);
    assert.match((e as Error).message, message);
    assert.doesNotMatch((e as Error).message, /undefined|  /, 'no "undefined" or blank in the message');
    return true;
  });
  assert.deepEqual(readdirSync(dir).sort(), before, 'nothing written');
}

test('bad or missing options: a LowbitError naming the option, nothing written', async () => {
  const out = join(dir, 'never.gguf');
  const anyOpts = (o: unknown) => o as QuantizeFileOptions;
  await refuses(
    quantizeFile(F32, out, anyOpts({})),
    /^quantizeFile: option 'type' is required: a llama.cpp file type such as 'Q4_K_M'/,
  );
  await refuses(
    quantizeFile(F32, out, anyOpts(undefined)),
    /quantizeFile: needs options with at least \{ type: 'Q4_K_M' \}/,
  );
  await refuses(
    quantizeFile(F32, out, anyOpts({ fileType: 'Q8_0' })),
    /unknown option 'fileType' \(did you mean 'type'\?\)/,
  );
  await refuses(quantizeFile(F32, out, anyOpts({ type: 'Q9_K' })), /option 'type': unknown file type 'Q9_K'/);
  await refuses(
    quantizeFile(F32, out, anyOpts({ type: 8 })),
    /option 'type' must be a file type name such as 'Q4_K_M', got number/,
  );
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', threads: 0 }),
    /option 'threads' must be a positive integer, got 0/,
  );
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', outputTensorType: 'Q9_9' }),
    /option 'outputTensorType': unknown ggml type 'Q9_9'/,
  );
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', tensorTypes: [['attn_v', 'nope']] }),
    /tensorTypes\[0\] \(attn_v\).*unknown ggml type 'nope'/,
  );
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', excludeWeights: ['x'] }),
    /'includeWeights' and 'excludeWeights' need 'imatrix'/,
  );
  await refuses(quantizeFile(F32, out, anyOpts({ type: 'Q8_0', pure: 'yes' })), /option 'pure' must be true or false/);
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', imatrix: join(dir, 'missing.dat') }),
    /option 'imatrix': cannot open .*missing\.dat \(ENOENT\)/,
  );
  await refuses(
    quantizeFile('model.onnx', out, { type: 'Q8_0' }),
    /model\.onnx is an ONNX model: use quantizeOnnxFile/,
  );
  await refuses(quantizeFile(F32, F32, { type: 'Q8_0' }), /./); // the output may not be the input
  await refuses(
    quantizeFile(F32, out, { type: 'Q8_0', overrideKv: ['nokey'] }),
    /option 'overrideKv': malformed 'nokey'/,
  );
  // llama.cpp refuses IQ2_XXS without an imatrix (on rows of 256; stories260K's fall back); so does quantizeFile
  const wide = join(dir, 'wide.gguf');
  await writeSyntheticLlama(wide, { nLayer: 1, nEmbd: 256, nHead: 4, nFf: 512, nVocab: 512, seed: 3 });
  await refuses(quantizeFile(wide, out, { type: 'IQ2_XXS' }), /requires an importance matrix/);
  await refuses(
    convertLlama2cFile(join(REPO, 'fixtures/stories260K.bin'), out, { type: anyOpts({}).type ?? ('F8' as 'F16') }),
    /option 'type': unknown file type 'F8'/,
  );
  await refuses(
    convertHfFolder(join(REPO, 'test/fixtures/hf-stories260K'), out, anyOpts({ keepSplit: true })),
    /convertHfFolder: unknown option 'keepSplit'/,
  );
});

test('quantizeGgufFile (the pipeline-level call) takes a file type name, and says what it needs when it is missing', async () => {
  const out = join(dir, 'pipe-q8.gguf');
  const r = await quantizeGgufFile(F32, out, { fileType: 'Q8_0' } as never);
  assert.equal(r.plan.fileType.name, 'Q8_0');
  assert.ok(existsSync(out));
  await refuses(
    quantizeGgufFile(F32, join(dir, 'never.gguf'), {} as never),
    /quantizeGgufFile: options\.fileType is required: a file type such as 'Q4_K_M'/,
  );
});
