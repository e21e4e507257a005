// Failures found on worker threads: whichever thread meets a bad row first, the run reports the
// earliest one in row order, as a one-thread run does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticLlama, encodeGguf } from './synthetic-model.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { NodeRowWorkerPool as RowWorkerPool } from '../../src/node/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-qerr-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('a NaN in a tensor: the run names the earliest, one thread or two, and writes nothing', async () => {
  const m = syntheticLlama({ nLayer: 2, nFf: 512, nVocab: 64, weightType: GGML_TYPE.F32, seed: 29 });
  const t = m.tensors.find((x) => x.name === 'blk.1.ffn_down.weight')!; // 256 rows of 512
  const f = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.length / 4);
  f[200 * 512 + 7] = Infinity; // a later chunk, done first by whichever thread takes it
  f[10 * 512 + 3] = NaN;
  f[130 * 512] = NaN;
  const input = join(dir, 'nan.gguf');
  writeFileSync(input, await encodeGguf(m));
  for (const threads of [1, 2]) {
    const out = join(dir, `o${threads}.gguf`);
    await assert.rejects(
      quantizeGgufFile(input, out, { fileType: parseFileType('Q4_0'), threads, parallelMinElements: 0 }),
      /tensor blk\.1\.ffn_down\.weight has a NaN or infinite value at element 5123 \(row 10, column 3\)/,
      `threads ${threads}`,
    );
    assert.ok(!existsSync(out));
  }
});

test('the pool reports the failure of the lowest chunk, whichever thread found which', async () => {
  const n = 4096,
    rows = 384; // 6 chunks of 64 rows on 3 threads
  const pool = new RowWorkerPool(3, 0);
  try {
    const src = new Float32Array(pool.alloc(rows * n * 4)).fill(0.25);
    const buffers = {
      src: new Uint8Array(src.buffer),
      f32: null,
      dst: new Uint8Array(pool.alloc(rows * (n / 32) * 18)),
      imatrix: null,
    };
    const base = {
      srcType: GGML_TYPE.F32,
      dstType: GGML_TYPE.Q4_0,
      nPerRow: n,
      slabFirstRow: 1000,
      rowsPerExpert: 1 << 20,
      checkInput: true,
    };
    assert.deepEqual(await pool.run(base, rows, buffers), { ok: true }); // the workers are up from here on
    // a row in every chunk whose Q4_0 scale overflows fp16: found after quantizing the chunk (so
    // the threads overlap), each thread fails on the first chunk it takes
    for (const r of [330, 260, 200, 140, 70, 10]) src[r * n + 5] = 3e38;
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await pool.run(base, rows, buffers), { ok: false, kind: 'output', row: 1000 + 10 });
    }
    // inputs are checked before quantizing: a NaN is reported as the input element it is
    src[140 * n + 9] = NaN;
    src[10 * n + 5] = 0;
    assert.deepEqual(await pool.run(base, rows, buffers), { ok: false, kind: 'output', row: 1000 + 70 });
    src[70 * n + 5] = NaN;
    assert.deepEqual(await pool.run(base, rows, buffers), { ok: false, kind: 'input', index: (1000 + 70) * n + 5 });
  } finally {
    await pool.close();
  }
});

test('bad values in several tensors of one batch: the run names the first in output order, copies included', async () => {
  // the whole model fits one batch (one read, one round on the pool); output order is llama.cpp's
  // (blk.0.attn_k, blk.0.attn_norm, blk.0.attn_output, blk.0.attn_q, ...)
  const m = syntheticLlama({ nLayer: 2, nFf: 512, nVocab: 64, weightType: GGML_TYPE.F32, seed: 31 });
  const poison = (name: string, at: number, v: number) => {
    const t = m.tensors.find((x) => x.name === name)!;
    new Float32Array(t.data.buffer, t.data.byteOffset, t.data.length / 4)[at] = v;
  };
  poison('blk.1.ffn_down.weight', 5, NaN);
  poison('blk.0.attn_q.weight', 300, -Infinity);
  const input = join(dir, 'nan2.gguf');
  writeFileSync(input, await encodeGguf(m));
  for (const threads of [1, 3]) {
    await assert.rejects(
      quantizeGgufFile(input, join(dir, 'b.gguf'), {
        fileType: parseFileType('Q4_0'),
        threads,
        parallelMinElements: 0,
      }),
      /tensor blk\.0\.attn_q\.weight has a NaN or infinite value at element 300 /,
      `threads ${threads}`,
    );
  }
  // a copied tensor (a norm stays F32) before them in output order is named first
  poison('blk.0.attn_norm.weight', 2, NaN);
  writeFileSync(input, await encodeGguf(m));
  for (const threads of [1, 3]) {
    await assert.rejects(
      quantizeGgufFile(input, join(dir, 'b.gguf'), {
        fileType: parseFileType('Q4_0'),
        threads,
        parallelMinElements: 0,
      }),
      /tensor blk\.0\.attn_norm\.weight has a NaN or infinite value at element 2 /,
      `threads ${threads}`,
    );
  }
  assert.ok(!existsSync(join(dir, 'b.gguf')));
});
