// The core proof: `lowbit quantize` writes the same file as llama.cpp's own llama_model_quantize
// (through koffi), byte for byte: per-tensor types, tensor data, metadata, layout and padding.
// Synthetic llama-architecture models with compact matrices keep it fast: llama.cpp's rules look at
// names, row lengths, layer counts and head counts, not at how many rows a matrix has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaOracle, type LlamaQuantizeOptions } from '../../tools/llama-oracle.js';
import {
  encodeGguf,
  encodeGgufSplit,
  syntheticLlama,
  writeSyntheticLlama,
  type SyntheticSpec,
} from './synthetic-model.js';
import { assertSameGguf } from './compare-gguf.js';
import { quantizeGgufFile, planGgufFile } from '../../src/node/quantize-file.js';
import type { QuantizeOptions } from '../../src/pipeline/quantize-gguf.js';
import { FILE_TYPES, parseFileType } from '../../src/plan/file-types.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { rng } from '../support/oracle.js';
import { parseKvOverride } from '../../src/plan/kv-override.js';

const llama = loadLlamaOracle();
if (!llama) throw new Error('llama oracle (libllama from @node-llama-cpp/linux-x64) is not available');

const dir = mkdtempSync(join(tmpdir(), 'lowbit-quant-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const VARIANTS: Record<string, SyntheticSpec> = {
  base: { nLayer: 8, nFf: 256, nVocab: 32, compactRows: 8 },
  gqaTied: { nLayer: 9, nHead: 8, nHeadKv: 2, tied: true, nVocab: 32, compactRows: 8, seed: 7 },
  oddRows: {
    nLayer: 8,
    nFf: 320,
    nVocab: 32,
    compactRows: 6,
    seed: 11,
    extra: [{ name: 'odd_proj.weight', shape: [100, 4] }],
  },
  moe4: { nLayer: 4, nExpert: 4, nFf: 256, nVocab: 32, compactRows: 4, seed: 13 },
  bf16: { nLayer: 8, nFf: 256, nVocab: 32, compactRows: 8, weightType: GGML_TYPE.BF16, seed: 17 },
  f32: { nLayer: 8, nFf: 256, nVocab: 32, compactRows: 8, weightType: GGML_TYPE.F32, seed: 19 },
};

const written = new Map<string, Promise<string>>();
function model(name: string): Promise<string> {
  if (!written.has(name)) {
    const p = join(dir, `${name}.gguf`);
    written.set(
      name,
      writeSyntheticLlama(p, VARIANTS[name]!).then(() => p),
    );
  }
  return written.get(name)!;
}

let n = 0;
/** Quantizes with both and asserts the files are equal. */
async function same(
  input: string,
  ft: string,
  llamaOpts: Partial<LlamaQuantizeOptions>,
  opts: Partial<QuantizeOptions>,
  what: string,
): Promise<string> {
  const f = parseFileType(ft);
  const id = n++;
  const expected = join(dir, `llama-${id}.gguf`);
  const actual = join(dir, `lowbit-${id}.gguf`);
  llama!.quantize(input, expected, { ftype: f.id, nthread: 1, ...llamaOpts });
  await quantizeGgufFile(input, actual, { fileType: f, threads: 1, ...opts });
  await assertSameGguf(actual, expected, `${what} ${ft}`);
  return actual;
}

/** File types whose every planned tensor type has a codec in the registry. */
async function runnable(input: string, withImatrix = false): Promise<string[]> {
  const out: string[] = [];
  for (const ft of FILE_TYPES) {
    let plan;
    try {
      plan = await planGgufFile(input, { fileType: ft });
    } catch {
      continue;
    }
    if (
      plan.tensors.every((t) => !t.convert || codecByTypeId(t.dstType)) &&
      (withImatrix || !plan.tensors.some((t) => t.requiresImatrix && t.quantizable))
    )
      out.push(ft.name);
  }
  return out;
}

test('every file type lowbit can produce equals llama.cpp (8 layers, F16 weights)', async () => {
  const input = await model('base');
  const types = await runnable(input);
  // the codecs of all of these exist: the proof must not silently shrink
  for (const must of ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0']) assert.ok(types.includes(must), must);
  for (const ft of types) await same(input, ft, {}, {}, 'base');
});

test('GQA with tied embeddings, and row lengths that force fallbacks, equal llama.cpp', async () => {
  const gqa = await model('gqaTied');
  const odd = await model('oddRows');
  const want = ['Q8_0', 'Q4_0', 'Q5_1', 'Q2_K', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'IQ4_XS', 'TQ2_0'];
  const gqaOk = await runnable(gqa);
  const oddOk = await runnable(odd);
  for (const ft of want) {
    if (gqaOk.includes(ft)) await same(gqa, ft, {}, {}, 'gqaTied');
    if (oddOk.includes(ft)) await same(odd, ft, {}, {}, 'oddRows');
  }
});

test('BF16 and F32 sources equal llama.cpp', async () => {
  for (const v of ['bf16', 'f32']) {
    const input = await model(v);
    const ok = await runnable(input);
    for (const ft of ['F16', 'BF16', 'Q8_0', 'Q4_1', 'Q4_K_M']) if (ok.includes(ft)) await same(input, ft, {}, {}, v);
  }
});

test('--pure, --tensor-type (first match wins), --output-tensor-type, --token-embedding-type equal llama.cpp', async () => {
  const base = await model('base');
  const gqa = await model('gqaTied');
  const tt = [
    { pattern: 'attn_v', type: GGML_TYPE.Q8_0 },
    { pattern: 'blk\\.[0-3]\\.ffn_down', type: GGML_TYPE.Q6_K },
    { pattern: 'ffn_.*', type: GGML_TYPE.Q5_0 },
    { pattern: 'ATTN_K', type: GGML_TYPE.F16 },
  ];
  const lower = tt.map((t) => ({ ...t, pattern: t.pattern.toLowerCase() }));
  const ok = await runnable(base);
  const k = ok.includes('Q4_K_M') ? 'Q4_K_M' : 'Q8_0';
  await same(base, k, { pure: true }, { pure: true }, '--pure');
  await same(base, k, { tensorTypes: tt }, { tensorTypes: lower }, '--tensor-type');
  await same(
    base,
    'Q4_0',
    { outputTensorType: GGML_TYPE.Q8_0, tokenEmbeddingType: GGML_TYPE.Q4_1 },
    { outputTensorType: GGML_TYPE.Q8_0, tokenEmbeddingType: GGML_TYPE.Q4_1 },
    'output/token-embd types',
  );
  await same(
    gqa,
    'Q5_0',
    { outputTensorType: GGML_TYPE.Q4_0 },
    { outputTensorType: GGML_TYPE.Q4_0 },
    'tied --output-tensor-type',
  );
  await same(
    gqa,
    'Q8_0',
    { tokenEmbeddingType: GGML_TYPE.F16 },
    { tokenEmbeddingType: GGML_TYPE.F16 },
    'tied --token-embedding-type',
  );
});

/** Random positive importances for every weight matrix (one slice per expert); token_embd deliberately the wrong size. */
async function imatrixFor(variant: string): Promise<Map<string, Float32Array>> {
  const m = syntheticLlama(VARIANTS[variant]!);
  const r = rng(99);
  const out = new Map<string, Float32Array>();
  for (const t of m.tensors) {
    if (t.shape.length < 2 || t.name.includes('_norm') || t.name.includes('gate_inp')) continue;
    const len = t.name === 'token_embd.weight' ? 7 : t.shape[0]! * (t.shape[2] ?? 1);
    out.set(
      t.name,
      Float32Array.from({ length: len }, () => Math.fround(r() * r() * 10 + 1e-3)),
    );
  }
  return out;
}

test('an importance matrix (per expert for 3-D tensors) and its provenance metadata equal llama.cpp', async () => {
  for (const variant of ['base', 'moe4']) {
    const input = await model(variant);
    const data = await imatrixFor(variant);
    const ok = await runnable(input, true);
    assert.ok(ok.includes('Q2_K_S'));
    for (const ft of [
      'Q4_0',
      'Q5_0',
      'Q4_K_M',
      'Q2_K',
      'Q2_K_S',
      'Q3_K_S',
      'IQ4_NL',
      'IQ4_XS',
      'Q6_K',
      'MXFP4_MOE',
      'TQ1_0',
    ]) {
      if (!ok.includes(ft)) continue;
      await same(
        input,
        ft,
        { imatrix: data, imatrixFile: 'imatrix.gguf', imatrixDataset: 'wiki.train.raw', imatrixChunks: 42 },
        {
          imatrix: {
            data,
            provenance: { file: 'imatrix.gguf', dataset: 'wiki.train.raw', entries: data.size, chunks: 42 },
          },
        },
        `${variant} imatrix`,
      );
    }
  }
});

test('the IQ1/IQ2/IQ3 file types with an importance matrix (the ones llama.cpp refuses without) equal llama.cpp', async () => {
  const input = await model('base');
  const data = await imatrixFor('base');
  const ok = await runnable(input, true);
  const want = ['IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ1_S', 'IQ1_M', 'IQ3_XXS', 'IQ3_XS', 'IQ3_S', 'IQ3_M'];
  // every one of these has its codecs: the proof must not silently shrink
  for (const ft of want) assert.ok(ok.includes(ft), `${ft} is producible`);
  for (const ft of want) {
    await same(
      input,
      ft,
      { imatrix: data, imatrixFile: 'imatrix.gguf', imatrixDataset: 'wiki.train.raw', imatrixChunks: 42 },
      {
        imatrix: {
          data,
          provenance: { file: 'imatrix.gguf', dataset: 'wiki.train.raw', entries: data.size, chunks: 42 },
        },
      },
      'base imatrix',
    );
  }
});

test('output does not depend on --threads or the slab size', async () => {
  const input = await model('base');
  const ft = parseFileType((await runnable(input)).includes('Q4_K_M') ? 'Q4_K_M' : 'Q4_0');
  const a = join(dir, 't1.gguf'),
    b = join(dir, 't3.gguf');
  await quantizeGgufFile(input, a, { fileType: ft, threads: 1 });
  await quantizeGgufFile(input, b, { fileType: ft, threads: 3, slabF32Bytes: 256 * 4 * 3, parallelMinElements: 0 });
  await assertSameGguf(b, a, 'threads 3 with 3-row slabs vs threads 1');
});

test('copied tensors in many small slabs between converted ones (buffers reused while writes are in flight) equal llama.cpp', async () => {
  const input = await model('f32');
  // F16 out of F32 converts the matrices and copies the F32 norms; Q8_0 with --leave-output-tensor
  // and an F32 token embedding copies big tensors in slabs too
  await same(input, 'F16', {}, { threads: 2, slabF32Bytes: 256 * 4 * 3, parallelMinElements: 0 }, 'small slabs');
  await same(
    input,
    'Q8_0',
    { leaveOutputTensor: true, tokenEmbeddingType: GGML_TYPE.F32 },
    {
      leaveOutputTensor: true,
      tokenEmbeddingType: GGML_TYPE.F32,
      threads: 2,
      slabF32Bytes: 256 * 4 * 2,
      parallelMinElements: 0,
    },
    'copies in slabs',
  );
});

test('full-size matrices on worker threads equal llama.cpp', async () => {
  const input = join(dir, 'full.gguf');
  await writeSyntheticLlama(input, { nLayer: 2, nFf: 512, nVocab: 64, seed: 23 });
  for (const ft of ['Q4_0', 'Q6_K']) {
    const f = parseFileType(ft);
    const expected = join(dir, `full-llama-${ft}.gguf`),
      actual = join(dir, `full-lowbit-${ft}.gguf`);
    llama!.quantize(input, expected, { ftype: f.id, nthread: 2 });
    // 256-row slabs of 256-512 wide rows: several slabs per tensor, each shared by the workers
    await quantizeGgufFile(input, actual, { fileType: f, threads: 2, slabF32Bytes: (256 * 512 * 4) / 2 });
    await assertSameGguf(actual, expected, `full ${ft}`);
  }
});

test('requantizing: refused by default, equal to llama.cpp with --allow-requantize', async () => {
  const base = await model('base');
  const q8 = join(dir, 'base-q8.gguf');
  llama!.quantize(base, q8, { ftype: parseFileType('Q8_0').id, nthread: 1 });
  await assert.rejects(
    quantizeGgufFile(q8, join(dir, 'rq.gguf'), { fileType: parseFileType('Q4_0') }),
    /requantizing from type q8_0 is disabled/,
  );
  await same(q8, 'Q4_0', { allowRequantize: true }, { allowRequantize: true }, 'requantize');
});

test('--override-kv: output metadata (every type, existing and new keys, moved to the end) and the plan (block_count) equal llama.cpp', async () => {
  const input = await model('base');
  const raw: string[] = [
    'general.name=str:renamed by an override',
    'lowbit.test.int=int:-7',
    'lowbit.test.big=int:4294967301',
    'llama.rope.freq_base=float:5e5',
    'lowbit.test.float=float:0.1',
    'lowbit.test.bool=bool:true',
    'general.file_type=int:2',
  ];
  const kvOverrides = raw.map(parseKvOverride);
  await same(input, 'Q4_0', { kvOverrides }, { kvOverrides }, 'metadata overrides');
  // llama.cpp's loader reads block_count from the override: layer-dependent rules of Q4_K_M follow it
  const layers = [parseKvOverride('llama.block_count=int:3')];
  await same(input, 'Q4_K_M', { kvOverrides: layers }, { kvOverrides: layers }, 'block_count override');
  const types = async (o: Partial<QuantizeOptions>) =>
    (await planGgufFile(input, { fileType: parseFileType('Q4_K_M'), ...o })).tensors.map((t) => t.dstType);
  assert.notDeepEqual(
    await types({}),
    await types({ kvOverrides: layers }),
    'the override changes the plan (so the comparison above proves something)',
  );
  // and with an imatrix, the user's overrides come before the quantize.imatrix.* keys
  const imatrix = new Map<string, Float32Array>();
  for (const t of syntheticLlama(VARIANTS.base!).tensors)
    if (t.shape.length === 2 && t.name.startsWith('blk.'))
      imatrix.set(
        t.name,
        Float32Array.from({ length: t.shape[0]! }, (_, i) => 1 + (i % 5)),
      );
  const prov = { file: 'imatrix.gguf', dataset: 'text.txt', entries: imatrix.size, chunks: 3 };
  await same(
    input,
    'IQ4_XS',
    { kvOverrides, imatrix, imatrixFile: prov.file, imatrixDataset: prov.dataset, imatrixChunks: 3 },
    { kvOverrides, imatrix: { data: imatrix, provenance: prov } },
    'overrides and imatrix',
  );
});

test('--prune-layers: tensors left out, later layers renumbered, block_count last, imatrix under the old names: equal llama.cpp', async () => {
  const input = await model('base'); // 8 layers
  const imatrix = new Map<string, Float32Array>();
  for (const t of syntheticLlama(VARIANTS.base!).tensors)
    if (t.shape.length === 2 && t.name.startsWith('blk.'))
      imatrix.set(
        t.name,
        Float32Array.from({ length: t.shape[0]! }, (_, i) => 1 + ((i * 7 + t.name.length) % 5)),
      );
  const prov = { file: 'imatrix.gguf', entries: imatrix.size };
  for (const layers of [[3], [0, 5, 7], [1, 2, 99]]) {
    await same(input, 'Q4_K_M', { pruneLayers: layers }, { pruneLayers: layers }, `prune ${layers}`);
    await same(
      input,
      'IQ4_XS',
      { pruneLayers: layers, imatrix, imatrixFile: prov.file },
      { pruneLayers: layers, imatrix: { data: imatrix, provenance: prov } },
      `prune ${layers} imatrix`,
    );
  }
  const kvOverrides = [parseKvOverride('general.name=str:pruned')];
  await same(
    input,
    'Q6_K',
    { pruneLayers: [2], kvOverrides },
    { pruneLayers: [2], kvOverrides },
    'prune with an override',
  );
});

test("a split model (gguf-split shards, opened through the first) quantizes into one file equal to llama.cpp's", async () => {
  const m = syntheticLlama({ ...VARIANTS.base!, seed: 23 });
  const shards = await encodeGgufSplit(m, 3);
  const paths = shards.map((b, i) => {
    const p = join(dir, `split-0000${i + 1}-of-00003.gguf`);
    writeFileSync(p, b);
    return p;
  });
  for (const ft of ['Q4_K_M', 'Q8_0']) await same(paths[0]!, ft, {}, {}, 'split');
  // the same model in one file gives the same tensors and the same metadata but for the split keys
  const whole = join(dir, 'split-whole.gguf');
  writeFileSync(whole, await encodeGguf(m));
  const a = join(dir, 'split-a.gguf'),
    b = join(dir, 'split-b.gguf');
  await quantizeGgufFile(paths[0]!, a, { fileType: parseFileType('Q4_0'), threads: 2, parallelMinElements: 0 });
  await quantizeGgufFile(whole, b, { fileType: parseFileType('Q4_0'), threads: 1 });
  await assertSameGguf(a, b, 'split vs whole');
  // refusals: a later shard, a missing shard, a shard that is not the one its name says
  await assert.rejects(
    quantizeGgufFile(paths[1]!, join(dir, 'x.gguf'), { fileType: parseFileType('Q8_0') }),
    /is shard 2 of a split model; open its first shard/,
  );
  const lonely = join(dir, 'lonely-00001-of-00003.gguf');
  writeFileSync(lonely, shards[0]!);
  await assert.rejects(
    quantizeGgufFile(lonely, join(dir, 'x.gguf'), { fileType: parseFileType('Q8_0') }),
    /shard 2 of 3, .*lonely-00002-of-00003\.gguf, cannot be opened \(no such file\)/,
  );
  writeFileSync(join(dir, 'lonely-00002-of-00003.gguf'), shards[2]!);
  writeFileSync(join(dir, 'lonely-00003-of-00003.gguf'), shards[1]!);
  await assert.rejects(
    quantizeGgufFile(lonely, join(dir, 'x.gguf'), { fileType: parseFileType('Q8_0') }),
    /says it is shard 3, expected shard 2 of 3/,
  );
  const renamed = join(dir, 'model-part1.gguf');
  writeFileSync(renamed, shards[0]!);
  await assert.rejects(
    planGgufFile(renamed, { fileType: parseFileType('Q8_0') }),
    /is not named <prefix>-00001-of-00003\.gguf/,
  );
});

test('--keep-split: one output per input shard, named and laid out as llama.cpp writes them', async () => {
  const m = syntheticLlama({ ...VARIANTS.base!, seed: 29 });
  const shards = await encodeGgufSplit(m, 3);
  const paths = shards.map((b, i) => {
    const p = join(dir, `ks-0000${i + 1}-of-00003.gguf`);
    writeFileSync(p, b);
    return p;
  });
  const cases: [string, Partial<QuantizeOptions>][] = [
    ['Q4_K_M', {}],
    ['Q6_K', { pruneLayers: [0, 1, 2] }],
    ['Q8_0', { kvOverrides: [parseKvOverride('general.name=str:kept')] }],
  ];
  for (const [ft, extra] of cases) {
    const f = parseFileType(ft);
    const id = n++;
    const llamaOut = join(dir, `ks-llama-${id}`),
      ours = join(dir, `ks-lowbit-${id}.gguf`);
    llama!.quantize(paths[0]!, llamaOut, {
      ftype: f.id,
      nthread: 1,
      keepSplit: true,
      ...(extra as Partial<LlamaQuantizeOptions>),
    });
    const r = await quantizeGgufFile(paths[0]!, ours, { fileType: f, threads: 2, keepSplit: true, ...extra });
    assert.equal(r.outputs.length, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(r.outputs[i], join(dir, `ks-lowbit-${id}-0000${i + 1}-of-00003.gguf`));
      await assertSameGguf(r.outputs[i]!, `${llamaOut}-0000${i + 1}-of-00003.gguf`, `keep-split ${ft} shard ${i + 1}`);
    }
  }
  // a single-file input: one output named -00001-of-00001, without split keys (as llama.cpp)
  const input = await model('base');
  const llamaOut = join(dir, 'ks-single-llama');
  llama!.quantize(input, llamaOut, { ftype: parseFileType('Q4_0').id, nthread: 1, keepSplit: true });
  const r = await quantizeGgufFile(input, join(dir, 'ks-single.gguf'), {
    fileType: parseFileType('Q4_0'),
    threads: 1,
    keepSplit: true,
  });
  assert.deepEqual(r.outputs, [join(dir, 'ks-single-00001-of-00001.gguf')]);
  await assertSameGguf(r.outputs[0]!, `${llamaOut}-00001-of-00001.gguf`, 'keep-split single');
});
