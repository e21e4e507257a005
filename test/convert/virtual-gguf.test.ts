// convert --type <quantized> in one streaming pass: the converted model presented as its F32 GGUF
// (VirtualGgufSource) is byte for byte the file `convert --type F32` writes, however it is read,
// and quantizing it equals converting to F32 and then running lowbit quantize on the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertHfDir, convertLlama2cFiles, openHfModelDir, writeConvertedFile } from '../../src/node/convert-files.js';
import { VirtualGgufSource } from '../../src/convert/virtual-gguf.js';
import { convertLlama2c } from '../../src/convert/llama2c.js';
import { byteVocab } from '../../src/convert/llama2c-vocab.js';
import { readLlama2cCheckpoint } from '../../src/io/llama2c.js';
import { FileSource } from '../../src/node/file-io.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { parseFileType } from '../../src/plan/file-types.js';
import type { ConvertedModel } from '../../src/convert/model.js';
import { HF_FIXTURE_DIR, STORIES } from '../support/hf-fixture.js';
import { writeRealisticFixture } from './support/realistic-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-vgguf-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const LLAMA3 = join(dir, 'llama3');
const ready = writeRealisticFixture(LLAMA3, 'llama3');

/** Reads the whole source in `chunk`-byte pieces (odd sizes: reads start and end mid-row). */
async function readAll(src: VirtualGgufSource, chunk: number): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  for (let o = 0; o < src.size; o += chunk) out.set(await src.read(o, Math.min(chunk, src.size - o)), o);
  return out;
}

async function sameAsF32File(model: ConvertedModel, f32Path: string): Promise<void> {
  const file = readFileSync(f32Path);
  const v = await VirtualGgufSource.create(model);
  assert.equal(v.size, file.length);
  for (const chunk of [file.length, 4093, 1 << 16])
    assert.ok(Buffer.from(await readAll(v, chunk)).equals(file), `chunk ${chunk}`);
  // a read spanning the end of the header, padding and a tensor start
  assert.ok(Buffer.from(await v.read(100, 20000)).equals(file.subarray(100, 20100)));
  await assert.rejects(v.read(v.size - 4, 8), /truncated/);
}

test('virtual GGUF = the F32 file convert writes: HF fixture, sharded BF16 Llama-3 layout, llama2.c', async () => {
  await ready;
  for (const d of [HF_FIXTURE_DIR, LLAMA3]) {
    const f32 = join(dir, 'f32.gguf');
    await convertHfDir(d, f32, 'F32');
    const { model, close } = await openHfModelDir(d);
    try {
      await sameAsF32File(model, f32);
    } finally {
      await close();
    }
  }
  const f32 = join(dir, 'l2c.gguf');
  await convertLlama2cFiles(STORIES, undefined, f32, 'F32');
  const src = await FileSource.open(STORIES);
  try {
    const ckpt = await readLlama2cCheckpoint(src);
    await sameAsF32File(convertLlama2c(src, ckpt, byteVocab(ckpt.config.vocabSize), { name: 'stories260K' }), f32);
  } finally {
    await src.close();
  }
});

async function twoStep(d: string, type: string): Promise<Buffer> {
  const f32 = join(dir, `two-${type}.f32.gguf`),
    out = join(dir, `two-${type}.gguf`);
  await convertHfDir(d, f32, 'F32');
  await quantizeGgufFile(f32, out, { fileType: parseFileType(type), threads: 1 });
  return readFileSync(out);
}

test('convert hf --type Q… in one pass = convert to F32, then quantize (K-quants on rows of 256)', async () => {
  await ready;
  for (const type of ['Q4_K_M', 'Q8_0', 'Q6_K', 'Q3_K_S', 'Q5_0']) {
    const out = join(dir, `one-${type}.gguf`);
    // small slabs: reads of 3 rows start and end inside permuted Q/K heads
    const { model, close } = await openHfModelDir(LLAMA3);
    try {
      await writeConvertedFile(model, out, type, [], undefined, { threads: 1, slabF32Bytes: 3 * 1024 });
    } finally {
      await close();
    }
    assert.ok(readFileSync(out).equals(await twoStep(LLAMA3, type)), type);
  }
  for (const type of ['Q8_0', 'Q4_K_M']) {
    const out = join(dir, `one-st-${type}.gguf`);
    await convertHfDir(HF_FIXTURE_DIR, out, type);
    assert.ok(readFileSync(out).equals(await twoStep(HF_FIXTURE_DIR, type)), `stories ${type}`);
  }
});

test('convert llama2c --type Q… goes through the same single pass', async () => {
  const f32 = join(dir, 'l2c-f32.gguf'),
    two = join(dir, 'l2c-two.gguf'),
    one = join(dir, 'l2c-one.gguf');
  await convertLlama2cFiles(STORIES, undefined, f32, 'F32');
  await quantizeGgufFile(f32, two, { fileType: parseFileType('Q4_0'), threads: 1 });
  await convertLlama2cFiles(STORIES, undefined, one, 'Q4_0');
  assert.ok(readFileSync(one).equals(readFileSync(two)));
});
