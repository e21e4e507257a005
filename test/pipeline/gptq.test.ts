// --encoder gptq through the pipeline: the tensors with activations are compensated, every other
// tensor is ggml's own bytes, quantize.encoder says gptq, the same bytes for 1 and 2 threads; without
// activations the run refuses in one line. (Calibrated in llama.cpp and judged there:
// test/imatrix/gptq-engine.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { runCli } from '../support/cli.js';
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
import { codecByTypeId } from '../../src/formats/registry.js';
import { gptqFactorDamped, momentsQuadratic, quantizeRowsGptq } from '../../src/formats/gptq.js';
import { sampleRows } from '../../src/pipeline/target.js';

/** A 2-layer synthetic llama in dir, with correlated activation moments for its matrices but blk.1.ffn_up. */
async function withActivations(dir: string): Promise<{ input: string; h: HessianAccumulator; withMoments: string[] }> {
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
  return { input, h, withMoments };
}

test('--encoder gptq: compensated where activations exist, ggml elsewhere, recorded, thread-independent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-gptq-'));
  try {
    const { input, h, withMoments } = await withActivations(dir);
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

test('--target-size --encoder gptq: the search judges GPTQ’s own encodings by the output error (below ggml’s); within the target; thread-independent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-gptq-target-'));
  try {
    const { input, h, withMoments } = await withActivations(dir);
    const gptq = { moments: (n: string) => h.get(n) };
    const fileType = parseFileType('Q4_K_M');
    const ref = join(dir, 'q4km.gguf');
    await quantizeGgufFile(input, ref, { fileType });
    const target = statSync(ref).size;
    const a = join(dir, 't1.gguf'),
      b = join(dir, 't2.gguf');
    const opts = { fileType, target: { bytes: target }, encoder: 'gptq' as const, gptq };
    const s = await quantizeGgufFile(input, a, { ...opts, threads: 1 });
    const s2 = await quantizeGgufFile(input, b, { ...opts, threads: 2, parallelMinElements: 0 });
    assert.ok(readFileSync(a).equals(readFileSync(b)), 'same bytes for 1 and 2 threads');
    // the search's GPTQ encodings ran on the worker threads: every measured error the same
    assert.deepEqual(
      s2.target!.measures.map((m) => m.candidates),
      s.target!.measures.map((m) => m.candidates),
    );
    const size = statSync(a).size;
    assert.ok(size <= target && size >= 0.99 * target, `${size} vs ${target}`);
    assert.match(s.target!.measure, /GPTQ-encoded/);
    // a dry run has no activations (--calibrate runs the model): the plan says it may differ
    const dry = runCli([
      'quantize',
      input,
      join(dir, 'dry.gguf'),
      '--target-size',
      String(target),
      '--encoder',
      'gptq',
      '--dry-run',
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /--encoder gptq without activations here: the run with --calibrate measures GPTQ's own encodings/,
    );
    assert.ok(!existsSync(join(dir, 'dry.gguf')));
    // each chosen type's predicted error, recomputed here: the rows GPTQ-encoded with the tensor's
    // factor, decoded, (w − ŵ)ᵀ H (w − ŵ) over wᵀ H w; and ggml's own encoding of the same rows is worse
    const src = await FileSource.open(input);
    let checked = 0;
    try {
      const f = await readGgufHeader(src);
      for (const m of s.target!.measures) {
        const c = m.candidates[m.chosen]!;
        const codec = codecByTypeId(c.type)!;
        const ti = f.tensors.find((t) => t.name === m.name)!;
        if (!withMoments.includes(m.name) || codec.type.blockSize <= 1 || c.type === ti.type.id) continue;
        const n = ti.rowLength;
        const rows = sampleRows(ti.nRows, n);
        assert.equal(m.rows, rows.length, `${m.name}: the chosen type is measured on every sampled row`);
        const all = new Float32Array(ti.nRows * n);
        codecByTypeId(ti.type.id)!.dequantize(await readTensorBytes(src, f, m.name), all, ti.nRows * n);
        const w = new Float32Array(rows.length * n);
        rows.forEach((r, i) => w.set(all.subarray(r * n, (r + 1) * n), i * n));
        const mo = h.get(m.name)!;
        const u = gptqFactorDamped(mo)!.u;
        const rb = (n / codec.type.blockSize) * codec.type.typeSize;
        const errorOf = (q: Uint8Array) => {
          const y = new Float32Array(rows.length * n);
          codec.dequantize(q, y, rows.length * n);
          let e = 0;
          for (let i = 0; i < rows.length; i++)
            e += momentsQuadratic(
              mo,
              Float64Array.from({ length: n }, (_, j) => w[i * n + j]! - y[i * n + j]!),
            );
          return e;
        };
        let signal = 0;
        for (let i = 0; i < rows.length; i++) signal += momentsQuadratic(mo, w, i * n);
        const qg = new Uint8Array(rows.length * rb);
        quantizeRowsGptq(codec, codec.quantize.bind(codec), w, qg, rows.length, n, null, u);
        const qd = new Uint8Array(rows.length * rb);
        codec.quantize(w, qd, rows.length, n, null);
        const nsr = errorOf(qg) / signal;
        assert.ok(Math.abs(c.nsr - nsr) <= 1e-9 * nsr, `${m.name} ${c.type}: predicted ${c.nsr}, recomputed ${nsr}`);
        assert.ok(nsr < errorOf(qd) / signal, `${m.name}: GPTQ's output error below ggml's`);
        checked++;
      }
    } finally {
      await src.close();
    }
    assert.ok(checked >= 6, `${checked} tensors checked`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
