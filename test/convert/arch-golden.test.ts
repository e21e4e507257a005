// Qwen3, Qwen3-MoE and SmolLM3 checkpoints (synthetic, test/convert/support/arch-fixture.ts)
// converted by lowbit equal what llama.cpp's own convert_hf_to_gguf.py wrote for them
// (test/fixtures/arch-golden/, made by tools/make-arch-goldens.sh): metadata keys in order with
// their types and values, tensor names / types / shapes / offsets, every tensor's bytes, the same
// file size. Only the provenance keys the Python converter derives from the directory name
// (general.name "Qwen3", general.size_label …) are left out.
// The tokenizer: lowbit's encoder hashes llama.cpp's check text to the chkhsh the converter computed
// through the reference tokenizer (tools/hf-bpe-shim), and encodes the test text to the same ids;
// transformers.js, an independent implementation, gives those ids too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir } from '../../src/node/convert-files.js';
import { FLOAT_WRITE } from '../../src/convert/write-gguf.js';
import { BufferSource } from '../../src/io/source.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { bpeEncoder } from '../../src/convert/hf/bpe.js';
import { preTokenizerHash } from '../../src/convert/hf/pre-hash.js';
import { PRE_CHECK_TEXT } from '../../src/convert/hf/pre-hashes.js';
import { TOKENIZER_TEST_TEXT, writeArchFixture, type ArchKind } from './support/arch-fixture.js';

const GOLDEN = 'test/fixtures/arch-golden';
/** keys convert_hf_to_gguf.py derives from the model directory's name / README (gguf-py Metadata) */
const PROVENANCE = new Set([
  'general.name',
  'general.size_label',
  'general.basename',
  'general.finetune',
  'general.version',
  'general.license',
  'general.tags',
  'general.languages',
]);

const dir = mkdtempSync(join(tmpdir(), 'lowbit-archgold-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function assertSameAsReference(actualPath: string, expectedPath: string, what: string): Promise<void> {
  const a = new Uint8Array(readFileSync(actualPath));
  const e = new Uint8Array(readFileSync(expectedPath));
  const fa = await readGgufHeader(new BufferSource(a, actualPath));
  const fe = await readGgufHeader(new BufferSource(e, expectedPath));
  const keys = (m: Map<string, unknown>) => [...m.keys()].filter((k) => !PROVENANCE.has(k));
  assert.deepEqual(keys(fa.metadata), keys(fe.metadata), `${what}: metadata keys`);
  for (const k of keys(fe.metadata)) assert.deepEqual(fa.metadata.get(k), fe.metadata.get(k), `${what}: metadata ${k}`);
  const sig = (f: typeof fa) =>
    f.tensors.map((t) => `${t.name} ${t.type.ggmlName} [${t.dims.join(',')}] @${t.relOffset}`);
  assert.deepEqual(sig(fa), sig(fe), `${what}: tensor infos`);
  for (let i = 0; i < fe.tensors.length; i++) {
    const ta = fa.tensors[i]!,
      te = fe.tensors[i]!;
    const ba = a.subarray(ta.offset, ta.offset + ta.byteSize),
      be = e.subarray(te.offset, te.offset + te.byteSize);
    assert.ok(Buffer.compare(ba, be) === 0, `${what}: tensor ${te.name} bytes`);
  }
  // the same data section: only the header differs (by the provenance strings)
  const data = (f: typeof fa, bytes: Uint8Array) => bytes.length - (f.tensors[0]!.offset - f.tensors[0]!.relOffset);
  assert.equal(data(fa, a), data(fe, e), `${what}: tensor data size`);
}

const CASES: [ArchKind, string][] = [
  ['qwen3', 'f32'],
  ['qwen3', 'bf16'],
  ['qwen3moe', 'f32'],
  ['qwen3moe', 'f16'],
  ['smollm3', 'f32'],
];

for (const [kind, type] of CASES) {
  test(`${kind} --type ${type.toUpperCase()} equals llama.cpp's convert_hf_to_gguf.py`, async () => {
    const ck = join(dir, `${kind}-${type}`);
    await writeArchFixture(ck, kind);
    const out = join(dir, `${kind}-${type}.gguf`);
    await convertHfDir(ck, out, type.toUpperCase());
    await assertSameAsReference(out, join(GOLDEN, `${kind}-${type}.gguf`), `${kind} ${type}`);
  });
}

test('written in slabs of a few rows (as large tensors are), the files are the same', async () => {
  const saved = FLOAT_WRITE.slabValues;
  FLOAT_WRITE.slabValues = 1000; // 15 rows of 64, 31 of 32: slabs end inside experts and heads
  try {
    for (const [kind, type, fusedExperts] of [
      ['qwen3moe', 'f16', false],
      ['qwen3moe', 'f32', true],
      ['smollm3', 'f32', false],
    ] as const) {
      const ck = join(dir, `${kind}-${type}-slab`);
      await writeArchFixture(ck, kind, { fusedExperts });
      const out = join(dir, `${kind}-${type}-slab.gguf`);
      await convertHfDir(ck, out, type.toUpperCase());
      await assertSameAsReference(out, join(GOLDEN, `${kind}-${type}.gguf`), `${kind} ${type} in slabs`);
    }
  } finally {
    FLOAT_WRITE.slabValues = saved;
  }
});

test('qwen3moe saved with stacked experts (mlp.experts.gate_up_proj / down_proj) converts to the same file', async () => {
  // tools/make-arch-goldens.sh checks that llama.cpp's converter gives these the same tensors too
  const ck = join(dir, 'qwen3moe-fused');
  await writeArchFixture(ck, 'qwen3moe', { fusedExperts: true });
  const out = join(dir, 'qwen3moe-fused.gguf');
  await convertHfDir(ck, out, 'F32');
  await assertSameAsReference(out, join(GOLDEN, 'qwen3moe-f32.gguf'), 'qwen3moe stacked experts');
});

for (const kind of ['qwen3', 'qwen3moe', 'smollm3'] as ArchKind[]) {
  test(`${kind} tokenizer: chkhsh and ids equal the reference tokenizer's, and transformers.js's`, async () => {
    const ref = JSON.parse(readFileSync(join(GOLDEN, `${kind}.tokenizer.json`), 'utf8')) as {
      chkhsh: string;
      text: string;
      ids: number[];
    };
    assert.equal(ref.text, TOKENIZER_TEST_TEXT);
    const ck = join(dir, `${kind}-tok`);
    await writeArchFixture(ck, kind);
    const tj = JSON.parse(readFileSync(join(ck, 'tokenizer.json'), 'utf8'));
    const h = preTokenizerHash(tj);
    assert.equal(h.hash, ref.chkhsh);
    assert.equal(h.pre, undefined); // a synthetic vocabulary: not in llama.cpp's table
    assert.deepEqual(bpeEncoder(tj).encode(ref.text, false), ref.ids);
    // an independent implementation of the same tokenizer.json: transformers.js
    const { PreTrainedTokenizer } = await import('@huggingface/transformers');
    const tjs = new PreTrainedTokenizer(tj, JSON.parse(readFileSync(join(ck, 'tokenizer_config.json'), 'utf8')));
    assert.deepEqual(tjs.encode(ref.text, { add_special_tokens: false }), ref.ids);
    assert.deepEqual(tjs.encode(PRE_CHECK_TEXT), bpeEncoder(tj).encode(PRE_CHECK_TEXT));
  });
}
