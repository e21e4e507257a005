// Fuzzing the llama2.c readers: the committed stories260K.bin checkpoint (legacy header) and a small
// export.py v1 checkpoint written here, truncated and mutated (header fields inflated, negative,
// zero, inconsistent), and tokenizer.bin files with lying lengths. Every input parses (then every
// tensor reads) or fails with a one-line LowbitError; nothing reads outside the file or hangs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FuzzHarness, applyAll, byteMutations, cutPoints } from './support/harness.js';

const h = new FuzzHarness();
after(() => h.close());

const STORIES = join(import.meta.dirname, '..', '..', 'fixtures', 'stories260K.bin');

/** export.py's version 1 layout: 256-byte header ("ak42", version, 7 int32 params, shared flag), fp32 weights. */
function v1Checkpoint(
  c = { dim: 8, hidden: 16, layers: 1, heads: 2, kvHeads: 1, vocab: 10, seq: 4 },
  shared = true,
): Uint8Array {
  const kvDim = (c.dim * c.kvHeads) / c.heads;
  const perLayer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kvDim * c.dim + 3 * c.hidden * c.dim;
  const floats = c.vocab * c.dim * (shared ? 1 : 2) + c.layers * perLayer + c.dim;
  const b = new Uint8Array(256 + floats * 4);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x616b3432, true);
  dv.setInt32(4, 1, true);
  [c.dim, c.hidden, c.layers, c.heads, c.kvHeads, c.vocab, c.seq].forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
  b[36] = shared ? 1 : 0;
  for (let i = 0; i < floats; i++) dv.setFloat32(256 + 4 * i, Math.sin(i), true);
  return b;
}

async function fuzzCheckpoint(
  name: string,
  base: Uint8Array,
  header: number,
  runs: number,
  seed: number,
): Promise<void> {
  const good = await h.check({ parser: 'llama2c', name, bytes: base });
  assert.equal(good.kind, 'ok', `${name} itself parses: ${good.message}`);
  // the header fixes the file size exactly: any cut is an error
  for (const n of cutPoints(base.length, header + 8, [base.length - 4, base.length >> 1])) {
    const r = await h.check({ parser: 'llama2c', name, bytes: base.slice(0, n) });
    assert.notEqual(r.kind, 'ok', `${name} cut to ${n} bytes parsed`);
  }
  await fc.assert(
    fc.asyncProperty(fc.array(byteMutations(0, header, base.length), { minLength: 1, maxLength: 4 }), async (ms) => {
      await h.check({ parser: 'llama2c', name, bytes: applyAll(base, ms) });
    }),
    { numRuns: runs, seed },
  );
}

test(
  'fuzz: stories260K.bin (legacy header) truncated and mutated',
  { timeout: 120_000, skip: existsSync(STORIES) ? false : 'fixtures/stories260K.bin missing' },
  async () => {
    await fuzzCheckpoint('stories260K.bin', new Uint8Array(readFileSync(STORIES)), 28, 200, 0x11a);
  },
);

test('fuzz: export.py v1 checkpoint truncated and mutated', { timeout: 120_000 }, async () => {
  await fuzzCheckpoint('v1.bin', v1Checkpoint(), 40, 500, 0x11b);
  await fuzzCheckpoint('v1-unshared.bin', v1Checkpoint(undefined, false), 40, 200, 0x11c);
});

test('fuzz: structured llama2.c headers (every field hostile)', { timeout: 120_000 }, async () => {
  const field = fc.oneof(
    fc.integer({ min: -2, max: 70 }),
    fc.constantFrom(-0x80000000, 0x7fffffff, 1 << 20, (1 << 20) + 1, 1 << 16, 288, 512),
    fc.integer(),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(field, { minLength: 7, maxLength: 7 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 4096 }),
      async (f, v1, tail) => {
        const headerBytes = v1 ? 256 : 28;
        const b = new Uint8Array(headerBytes + tail);
        const dv = new DataView(b.buffer);
        if (v1) {
          dv.setUint32(0, 0x616b3432, true);
          dv.setInt32(4, 1, true);
        }
        f.forEach((v, i) => dv.setInt32((v1 ? 8 : 0) + 4 * i, v, true));
        await h.check({ parser: 'llama2c', name: 'hostile.bin', bytes: b });
      },
    ),
    { numRuns: 800, seed: 0x11d },
  );
});

test('fuzz: tokenizer.bin with lying lengths and scores', { timeout: 120_000 }, async () => {
  const vocab = 40;
  const parts: number[] = [];
  const push32 = (v: number, f = false) => {
    const d = new DataView(new ArrayBuffer(4));
    if (f) d.setFloat32(0, v, true);
    else d.setInt32(0, v, true);
    parts.push(...new Uint8Array(d.buffer));
  };
  push32(7);
  for (let i = 0; i < vocab; i++) {
    const s = new TextEncoder().encode(i < 3 ? ['<unk>', '<s>', '</s>'][i]! : `t${i}é`);
    push32(-i / 2, true);
    push32(s.length);
    parts.push(...s);
  }
  const base = new Uint8Array(parts);
  const good = await h.check({ parser: 'llama2c-tokenizer', name: 'tokenizer.bin', bytes: base, vocabSize: vocab });
  assert.equal(good.kind, 'ok', good.message);
  for (const n of cutPoints(base.length, 64, [base.length - 1])) {
    const r = await h.check({
      parser: 'llama2c-tokenizer',
      name: 'tokenizer.bin',
      bytes: base.slice(0, n),
      vocabSize: vocab,
    });
    assert.notEqual(r.kind, 'ok', `cut to ${n}`);
  }
  await fc.assert(
    fc.asyncProperty(
      fc.array(byteMutations(0, base.length, base.length), { minLength: 1, maxLength: 4 }),
      fc.constantFrom(vocab, vocab - 1, vocab + 1, 0, 1, 1 << 20),
      async (ms, vs) => {
        await h.check({ parser: 'llama2c-tokenizer', name: 'tokenizer.bin', bytes: applyAll(base, ms), vocabSize: vs });
      },
    ),
    { numRuns: 600, seed: 0x11e },
  );
});
