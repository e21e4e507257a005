import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { BufferSource } from '../../src/io/source.js';
import { FileFormatError } from '../../src/errors.js';
import { readLlama2cCheckpoint, readLlama2cTensor, llama2cTensor, readLlama2cTokenizer } from '../../src/io/llama2c.js';

const STORIES = 'fixtures/stories260K.bin';
const SHARED = '../shared/data';

test('stories260K header and layout', async () => {
  const bytes = new Uint8Array(readFileSync(STORIES));
  const ck = await readLlama2cCheckpoint(new BufferSource(bytes, STORIES));
  assert.deepEqual(ck.config, {
    dim: 64,
    hiddenDim: 172,
    nLayers: 5,
    nHeads: 8,
    nKvHeads: 4,
    vocabSize: 512,
    seqLen: 512,
    sharedClassifier: true,
  });
  assert.equal(ck.tensors.length, 1 + 5 * 9 + 1);
  const wk = llama2cTensor(ck, 'wk', 2);
  assert.equal(wk.rows, 32); // kv_dim = 64 * 4 / 8
  assert.equal(wk.cols, 64);
  // the first embedding value is the first float after the 28-byte header
  const emb = await readLlama2cTensor(new BufferSource(bytes), llama2cTensor(ck, 'token_embedding'));
  assert.equal(emb[0], new DataView(bytes.buffer, bytes.byteOffset).getFloat32(28, true));
  // rms_final is the last tensor before the 2 × 512 × 4 freq_cis floats
  const fin = llama2cTensor(ck, 'rms_final');
  assert.equal(fin.offset + 64 * 4 + 512 * 8 * 4, bytes.length);
});

test('a truncated or padded checkpoint is a FileFormatError', async () => {
  const bytes = new Uint8Array(readFileSync(STORIES));
  await assert.rejects(
    readLlama2cCheckpoint(new BufferSource(bytes.subarray(0, bytes.length - 4), 'x.bin')),
    FileFormatError,
  );
  const padded = new Uint8Array(bytes.length + 4);
  padded.set(bytes);
  await assert.rejects(
    readLlama2cCheckpoint(new BufferSource(padded, 'x.bin')),
    /implies 1056540 bytes, file has 1056544/,
  );
  await assert.rejects(readLlama2cCheckpoint(new BufferSource(bytes.subarray(0, 20), 'x.bin')), FileFormatError);
});

test('nonsense header values are rejected before any allocation', async () => {
  const h = new Int32Array([64, 172, 5, 8, 3, 512, 512]); // 8 heads, 3 kv heads
  await assert.rejects(
    readLlama2cCheckpoint(new BufferSource(new Uint8Array(h.buffer), 'h.bin')),
    /multiple of n_kv_heads/,
  );
  const huge = new Int32Array([1 << 19, 1 << 19, 1 << 19, 1, 1, 1 << 19, 1]);
  await assert.rejects(
    readLlama2cCheckpoint(new BufferSource(new Uint8Array(huge.buffer), 'h.bin')),
    /implies \d+ bytes, file has 28/,
  );
  const neg = new Int32Array([-64, 172, 5, 8, 4, 512, 512]);
  await assert.rejects(readLlama2cCheckpoint(new BufferSource(new Uint8Array(neg.buffer), 'h.bin')), /dim = -64/);
  const v2 = new Uint8Array(256);
  new DataView(v2.buffer).setUint32(0, 0x616b3432, true);
  new DataView(v2.buffer).setInt32(4, 2, true);
  await assert.rejects(readLlama2cCheckpoint(new BufferSource(v2, 'q.bin')), /version 2 is not supported/);
});

function tokenizerBin(tokens: [number, string][]): Uint8Array {
  const parts: number[] = [];
  const push32 = (dv: (d: DataView) => void) => {
    const b = new Uint8Array(4);
    dv(new DataView(b.buffer));
    parts.push(...b);
  };
  push32((d) => d.setInt32(0, 8, true));
  for (const [score, s] of tokens) {
    const b = new TextEncoder().encode(s);
    push32((d) => d.setFloat32(0, score, true));
    push32((d) => d.setInt32(0, b.length, true));
    parts.push(...b);
  }
  return Uint8Array.from(parts);
}

test('tokenizer.bin parses and checks its count against the model', async () => {
  const bin = tokenizerBin([
    [0, '<unk>'],
    [0, '\n<s>\n'],
    [0, '\n</s>\n'],
    [-1.5, ' the'],
  ]);
  const tok = await readLlama2cTokenizer(new BufferSource(bin, 't.bin'), 4);
  assert.equal(tok.maxTokenLength, 8);
  assert.equal(tok.tokens[3]!.score, -1.5);
  assert.equal(new TextDecoder().decode(tok.tokens[3]!.bytes), ' the');
  await assert.rejects(readLlama2cTokenizer(new BufferSource(bin, 't.bin'), 3), /bytes left after 3 tokens/);
  await assert.rejects(readLlama2cTokenizer(new BufferSource(bin, 't.bin'), 5), FileFormatError);
  const bad = bin.slice();
  new DataView(bad.buffer).setInt32(8, 1 << 30, true); // first token's length
  await assert.rejects(readLlama2cTokenizer(new BufferSource(bad, 't.bin'), 4), /past the end/);
  await assert.rejects(readLlama2cTokenizer(new BufferSource(bin, 't.bin'), 1 << 28), /fewer than/);
});

test(
  'the aidreams tokenizer (shared data, not committed) reads 512 tokens',
  { skip: !existsSync(`${SHARED}/aidreams-tok512.bin`) },
  async () => {
    const tok = await readLlama2cTokenizer(
      new BufferSource(new Uint8Array(readFileSync(`${SHARED}/aidreams-tok512.bin`))),
      512,
    );
    assert.equal(tok.tokens.length, 512);
    assert.equal(new TextDecoder().decode(tok.tokens[3]!.bytes), '<0x00>');
  },
);

test('export.py version 1 (fp32, "ak42" header, norms first) reads the same weights as the legacy file', async () => {
  const bytes = new Uint8Array(readFileSync(STORIES));
  const legacy = await readLlama2cCheckpoint(new BufferSource(bytes));
  const c = legacy.config;
  // build the v1 file: 256-byte header, then tensors in export.py's order
  const order = ['rms_att', 'rms_ffn', 'rms_final', 'token_embedding', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];
  const parts: Uint8Array[] = [];
  for (const name of order) {
    for (const t of legacy.tensors.filter((x) => x.name === name))
      parts.push(bytes.subarray(t.offset, t.offset + t.rows * t.cols * 4));
  }
  const head = new Uint8Array(256);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, 0x616b3432, true);
  dv.setInt32(4, 1, true);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen].forEach((v, i) =>
    dv.setInt32(8 + i * 4, v, true),
  );
  dv.setUint8(36, 1);
  const v1 = new Uint8Array(256 + parts.reduce((a, p) => a + p.length, 0));
  v1.set(head);
  let o = 256;
  for (const p of parts) {
    v1.set(p, o);
    o += p.length;
  }
  const ck = await readLlama2cCheckpoint(new BufferSource(v1, 'v1.bin'));
  assert.equal(ck.version, 1);
  assert.deepEqual(ck.config, c);
  for (const t of legacy.tensors) {
    const a = await readLlama2cTensor(new BufferSource(bytes), t);
    const b = await readLlama2cTensor(new BufferSource(v1), llama2cTensor(ck, t.name, t.layer));
    assert.deepEqual(b, a, `${t.name} ${t.layer ?? ''}`);
  }
  await assert.rejects(readLlama2cCheckpoint(new BufferSource(v1.subarray(0, v1.length - 8), 'v1.bin')), /implies/);
});
