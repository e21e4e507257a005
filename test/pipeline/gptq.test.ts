// --encoder gptq through the pipeline: the tensors with activations are compensated, every other
// tensor is ggml's own bytes, quantize.encoder says gptq, the same bytes for 1 and 2 threads; without
// activations the run refuses in one line. (Calibrated in llama.cpp and judged there:
// test/imatrix/gptq-engine.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from './synthetic-model.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader, readTensorBytes } from '../../src/io/gguf/reader.js';
import { HessianAccumulator } from '../../src/imatrix/hessian.js';
import { rng, gaussian } from '../support/oracle.js';
import { LowbitError } from '../../src/errors.js';

test('--encoder gptq: compensated where activations exist, ggml elsewhere, recorded, thread-independent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-gptq-'));
  try {
    const input = join(dir, 'in.gguf');
    writeFileSync(input, await encodeGguf(syntheticLlama({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 64, seed: 9 })));
    const src = await FileSource.open(input);
    const h = new HessianAccumulator();
    const withMoments: string[] = [];
    try {
      const f = await readGgufHeader(src);
      const r = rng(3);
      for (const t of f.tensors) {
        // activations for the layers' matrices except one, which must stay ggml's own
        if (!t.name.startsWith('blk.') || t.dims.length < 2 || t.name === 'blk.1.ffn_up.weight') continue;
        const d = t.rowLength,
          rows = 600;
        const data = new Float32Array(rows * d);
        for (let i = 0; i < rows; i++) {
          const common = gaussian(r);
          for (let j = 0; j < d; j++) data[i * d + j] = gaussian(r) + common * ((j % 5) - 2);
        }
        h.add(t.name, { data, offset: 0, ne: [d, rows, 1, 1], nb: [1, d, d * rows, d * rows] });
        withMoments.push(t.name);
      }
    } finally {
      await src.close();
    }
    const gptq = { moments: (n: string) => h.get(n) };
    const base = { fileType: parseFileType('Q4_K_M') };
    const a = join(dir, 'ggml.gguf'),
      b = join(dir, 'gptq2.gguf'),
      b1 = join(dir, 'gptq1.gguf');
    await quantizeGgufFile(input, a, { ...base, threads: 2 });
    await quantizeGgufFile(input, b, { ...base, threads: 2, encoder: 'gptq', gptq, parallelMinElements: 0 });
    await quantizeGgufFile(input, b1, { ...base, threads: 1, encoder: 'gptq', gptq });
    assert.ok(readFileSync(b).equals(readFileSync(b1)), 'same bytes for 1 and 2 threads');
    const [sa, sb] = [await FileSource.open(a), await FileSource.open(b)];
    try {
      const [ha, hb] = [await readGgufHeader(sa), await readGgufHeader(sb)];
      assert.equal(hb.metadata.get('quantize.encoder')?.value, 'gptq');
      assert.deepEqual(
        hb.tensors.map((t) => [t.name, t.type.id]),
        ha.tensors.map((t) => [t.name, t.type.id]),
      );
      let changed = 0;
      for (const t of ha.tensors) {
        const same = Buffer.from(await readTensorBytes(sa, ha, t.name)).equals(await readTensorBytes(sb, hb, t.name));
        if (!withMoments.includes(t.name)) assert.ok(same, `${t.name}: no activations, ggml's own bytes`);
        else if (!same) changed++;
      }
      assert.equal(changed, withMoments.length, 'every tensor with activations compensated');
    } finally {
      await sa.close();
      await sb.close();
    }
    await assert.rejects(
      quantizeGgufFile(input, join(dir, 'x.gguf'), { ...base, encoder: 'gptq' }),
      (e: unknown) => e instanceof LowbitError && /--encoder gptq needs .*--calibrate/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
