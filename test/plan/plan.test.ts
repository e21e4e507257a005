// Unit tests of the plan pieces that need no llama.cpp: names, order, reasons, metadata.
// (plan-vs-llama.test.ts checks every type choice against llama.cpp itself.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFileType, FILE_TYPES } from '../../src/plan/file-types.js';
import { llamaTensorOrder, planQuantization, typeName, type TensorDesc } from '../../src/plan/plan.js';
import { quantizedMetadata } from '../../src/plan/metadata.js';
import { whyNotQuantized, type ModelInfo } from '../../src/plan/tensor-rules.js';
import { modelInfoFromMetadata } from '../../src/plan/model-info.js';
import { gv } from '../../src/io/gguf/metadata.js';
import { GGML_TYPE as T } from '../../src/formats/ggml-types.js';
import { LowbitError } from '../../src/errors.js';

test('file types parse as llama-quantize parses them', () => {
  assert.equal(parseFileType('q4_k').name, 'Q4_K_M');
  assert.equal(parseFileType('Q5_K').name, 'Q5_K_M');
  assert.equal(parseFileType('q3_k').name, 'Q3_K_M');
  assert.equal(parseFileType('q4_k_s').id, 14);
  assert.equal(parseFileType('15').name, 'Q4_K_M');
  assert.equal(parseFileType('mxfp4_moe').defaultType, T.MXFP4);
  assert.throws(() => parseFileType('q4'), LowbitError);
  assert.equal(new Set(FILE_TYPES.map((f) => f.id)).size, FILE_TYPES.length);
});

test('tensors are ordered as llama.cpp orders them: non-layer first, then by layer number, then by bytes', () => {
  const names = [
    'output.weight',
    'blk.10.attn_q.weight',
    'blk.2.ffn_up.weight',
    'token_embd.weight',
    'blk.2.attn_k.weight',
    'output_norm.weight',
    'blk.1.x',
  ];
  assert.deepEqual(
    llamaTensorOrder(names.map((name) => ({ name }))).map((t) => t.name),
    [
      'output.weight',
      'output_norm.weight',
      'token_embd.weight',
      'blk.1.x',
      'blk.2.attn_k.weight',
      'blk.2.ffn_up.weight',
      'blk.10.attn_q.weight',
    ],
  );
});

const model: ModelInfo = { arch: 'llama', nLayer: 8, nHead: 4, nHeadKv: 4, nExpert: 0, is70B: false };
function tensors(nLayer: number, ff = 256): TensorDesc[] {
  const out: TensorDesc[] = [
    { name: 'token_embd.weight', shape: [256, 32], type: T.F16 },
    { name: 'output.weight', shape: [256, 32], type: T.F16 },
    { name: 'output_norm.weight', shape: [256], type: T.F32 },
  ];
  for (let l = 0; l < nLayer; l++) {
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output'])
      out.push({ name: `blk.${l}.${n}.weight`, shape: [256, 256], type: T.F16 });
    out.push({ name: `blk.${l}.ffn_down.weight`, shape: [ff, 256], type: T.F16 });
    out.push({ name: `blk.${l}.attn_norm.weight`, shape: [256], type: T.F32 });
  }
  return out;
}

test('Q4_K_M: attn_v and ffn_down get Q6_K on the first and last eighth and every third layer, with reasons', () => {
  const plan = planQuantization(model, tensors(8), { fileType: parseFileType('Q4_K_M') });
  const v = plan.tensors.filter((t) => t.name.endsWith('attn_v.weight')).map((t) => typeName(t.dstType));
  assert.deepEqual(v, ['q6_K', 'q4_K', 'q4_K', 'q6_K', 'q4_K', 'q4_K', 'q6_K', 'q6_K']);
  const out = plan.tensors.find((t) => t.name === 'output.weight')!;
  assert.equal(out.kind, 'rule');
  assert.match(out.reason, /Q6_K/);
  const norm = plan.tensors.find((t) => t.name === 'output_norm.weight')!;
  assert.equal(norm.convert, false);
  assert.equal(norm.kind, 'kept');
  assert.equal(plan.tensors.find((t) => t.name === 'blk.1.attn_q.weight')!.kind, 'default');
});

test('row lengths that do not fit fall back (to a 32-block type, or F16), with the reason', () => {
  const plan = planQuantization(model, tensors(8, 320).concat([{ name: 'odd.weight', shape: [100, 2], type: T.F16 }]), {
    fileType: parseFileType('Q4_K_S'),
  });
  const down = plan.tensors.find((t) => t.name === 'blk.4.ffn_down.weight')!;
  assert.equal(typeName(down.dstType), 'q5_0');
  assert.equal(down.kind, 'fallback');
  assert.match(down.reason, /320 is not a multiple of 256/);
  assert.equal(plan.tensors.find((t) => t.name === 'odd.weight')!.dstType, T.F16);
  assert.equal(plan.nFallback, 9);
});

test('--tensor-type: first match wins, --pure skips the mixture, the output/token-embedding types win over both', () => {
  const plan = planQuantization(model, tensors(8), {
    fileType: parseFileType('Q4_K_M'),
    pure: true,
    outputTensorType: T.Q8_0,
    tokenEmbeddingType: T.Q4_0,
    tensorTypes: [
      { pattern: 'attn_v', type: T.Q8_0 },
      { pattern: 'attn_.*', type: T.Q5_0 },
      { pattern: 'output', type: T.Q4_1 },
    ],
  });
  const get = (n: string) => plan.tensors.find((t) => t.name === n)!;
  assert.equal(get('blk.0.attn_v.weight').dstType, T.Q8_0);
  assert.equal(get('blk.0.attn_k.weight').dstType, T.Q5_0);
  assert.match(get('blk.0.attn_k.weight').reason, /--tensor-type attn_\.\*=q5_0/);
  assert.equal(get('blk.0.ffn_down.weight').kind, 'pure');
  assert.equal(get('blk.0.ffn_down.weight').dstType, T.Q4_K);
  assert.equal(get('output.weight').dstType, T.Q8_0);
  assert.equal(get('token_embd.weight').dstType, T.Q4_0);
  assert.throws(
    () =>
      planQuantization(model, tensors(1), {
        fileType: parseFileType('Q8_0'),
        tensorTypes: [{ pattern: '[', type: T.Q8_0 }],
      }),
    /invalid regular expression/,
  );
});

test('tensors llama.cpp never quantizes', () => {
  assert.equal(whyNotQuantized('blk.0.attn_norm.weight', [256, 1]), '1-D tensor');
  assert.match(whyNotQuantized('blk.0.ffn_gate_inp.weight', [256, 8])!, /ffn_gate_inp/);
  assert.match(whyNotQuantized('blk.0.attn_q.bias', [256, 8])!, /not a weight/);
  assert.equal(whyNotQuantized('blk.0.attn_q.weight', [256, 8]), null);
  assert.equal(whyNotQuantized('proj5', [256, 8]), null, "llama.cpp's size_t arithmetic lets 5-byte names through");
  assert.match(whyNotQuantized('proj', [256, 8])!, /not a weight/);
  assert.match(whyNotQuantized('output.weight', [256, 8], false)!, /left as is/);
});

test('metadata as llama.cpp writes it: input order, version and file type moved last, split keys dropped, imatrix keys after', () => {
  const input = new Map([
    ['general.architecture', gv.str('llama')],
    ['general.file_type', gv.u32(1)],
    ['split.count', gv.u16(2)],
    ['general.quantization_version', gv.u32(1)],
    ['llama.block_count', gv.u32(2)],
  ]);
  const long = 'é'.repeat(70); // 140 UTF-8 bytes: cut to 127 bytes on a character boundary
  const out = quantizedMetadata(input, 15, { file: long, dataset: 'wiki', entries: 5, chunks: 0 });
  assert.deepEqual(
    [...out.keys()],
    [
      'general.architecture',
      'llama.block_count',
      'general.quantization_version',
      'general.file_type',
      'quantize.imatrix.file',
      'quantize.imatrix.dataset',
      'quantize.imatrix.entries_count',
    ],
  );
  assert.deepEqual(out.get('general.file_type'), gv.u32(15));
  assert.deepEqual(out.get('general.quantization_version'), gv.u32(2));
  assert.equal(out.get('quantize.imatrix.file')!.value as string, 'é'.repeat(63));
  assert.deepEqual(input.get('split.count'), gv.u16(2), 'input untouched');
});

test('model info: GQA from head counts, 70B detection, missing keys are errors', () => {
  const m = new Map([
    ['general.architecture', gv.str('llama')],
    ['llama.block_count', gv.u32(80)],
    ['llama.attention.head_count', gv.u32(64)],
    ['llama.attention.head_count_kv', gv.u32(8)],
  ]);
  assert.deepEqual(modelInfoFromMetadata(m), {
    arch: 'llama',
    nLayer: 80,
    nHead: 64,
    nHeadKv: 8,
    nExpert: 0,
    is70B: true,
  });
  m.delete('llama.attention.head_count_kv');
  assert.equal(modelInfoFromMetadata(m).nHeadKv, 64);
  assert.equal(modelInfoFromMetadata(m).is70B, false);
  assert.throws(() => modelInfoFromMetadata(new Map([['general.architecture', gv.str('llama')]])), /block_count/);
});
