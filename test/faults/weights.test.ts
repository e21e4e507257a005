// Odd weights through the CLI: values beyond F16's range are clamped to ±65504 and reported (tensor
// and count), never written as Inf; NaN/Inf are refused with the tensor and first index, exit 1 and
// no output (an existing output untouched), unless --allow-nonfinite.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { BufferSource } from '../../src/io/source.js';
import { readGgufHeader, readTensorBytes } from '../../src/io/gguf/index.js';
import { fp16Table } from '../../src/formats/half.js';
import { clampFinite, FLOAT_TYPE_MAX } from '../../src/formats/clamp.js';
import { convertToFp16 } from '../../src/onnx/fp16.js';
import { float32Tensor, DT } from '../../src/io/onnx/tensor.js';
import { node } from '../../src/onnx/graph.js';
import { model as onnxModel, valueInfo } from '../onnx/support/build.js';
import { runRowJob } from '../../src/pipeline/row-job.js';
import { randomRows } from '../support/oracle.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-weights-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small F32 llama GGUF with `edit` applied to blk.0.attn_q.weight's float32 values. */
async function model(edit: (w: Float32Array) => void): Promise<string> {
  const m = syntheticLlama({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 32, weightType: GGML_TYPE.F32, seed: 7 });
  const q = m.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
  edit(new Float32Array(q.data.buffer, q.data.byteOffset, q.data.byteLength / 4));
  const p = join(dir, `m-${Math.random().toString(36).slice(2)}.gguf`);
  writeFileSync(p, await encodeGguf(m));
  return p;
}

async function f16Values(path: string, name: string): Promise<Float32Array> {
  const src = new BufferSource(new Uint8Array(readFileSync(path)), path);
  const f = await readGgufHeader(src);
  const t = f.tensors.find((x) => x.name === name)!;
  assert.equal(t.type.id, GGML_TYPE.F16);
  const b = await readTensorBytes(src, f, t);
  const u16 = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return Float32Array.from(u16, (h) => fp16Table[h]!);
}

test('clampFinite: beyond ±limit becomes ±limit and is counted; in range, Inf and NaN untouched', () => {
  const x = Float32Array.of(1e6, -2e5, 65504, -65504, 65505, Infinity, -Infinity, NaN, 0, -3.5);
  assert.equal(clampFinite(x, FLOAT_TYPE_MAX[GGML_TYPE.F16]!), 3);
  assert.deepEqual([...x], [65504, -65504, 65504, -65504, 65504, Infinity, -Infinity, NaN, 0, -3.5]);
  const big = Float32Array.of(3.4e38, -3.4e38, 3e38);
  assert.equal(clampFinite(big, FLOAT_TYPE_MAX[GGML_TYPE.BF16]!), 2);
});

test(
  'quantize --type F16: 1e6 and -2e5 become ±65504, counted per tensor; never Inf',
  { timeout: 120_000 },
  async () => {
    const input = await model((w) => {
      w[3] = 1e6;
      w[70] = -2e5;
      w[71] = 65519;
    });
    const out = join(dir, 'clamped.gguf');
    const r = runCli(['quantize', input, out, '--type', 'F16', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: tensor blk\.0\.attn_q\.weight: 3 value\(s\) beyond the F16 range were clamped/i);
    const v = await f16Values(out, 'blk.0.attn_q.weight');
    assert.equal(v[3], 65504);
    assert.equal(v[70], -65504);
    assert.equal(v[71], 65504);
    assert.ok(v.every(Number.isFinite), 'no Inf in the output');
    // --json carries the same report
    const j = runCli(['quantize', input, join(dir, 'clamped2.gguf'), '--type', 'F16', '--threads', '1', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout).clamped, [{ tensor: 'blk.0.attn_q.weight', count: 3 }]);
  },
);

test(
  'NaN in a tensor: one-line error with the tensor and first index, exit 1, output untouched; --allow-nonfinite passes it',
  { timeout: 120_000 },
  async () => {
    const input = await model((w) => {
      w[64 * 2 + 5] = NaN;
      w[64 * 3] = Infinity;
    });
    const out = join(dir, 'nan.gguf');
    writeFileSync(out, 'precious');
    const before = readdirSync(dir).sort();
    const r = runCli(['quantize', input, out, '--type', 'F16', '--threads', '1']);
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^lowbit: tensor blk\.0\.attn_q\.weight has a NaN or infinite value at element 133 \(row 2, column 5\); --allow-nonfinite/,
    );
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    assert.deepEqual(readdirSync(dir).sort(), before, 'no temp file left');

    const fresh = join(dir, 'nan-fresh.gguf');
    const r2 = runCli(['quantize', input, fresh, '--type', 'Q8_0', '--threads', '1']);
    assert.equal(r2.code, 1);
    assert.ok(!existsSync(fresh));

    const ok = runCli(['quantize', input, fresh, '--type', 'F16', '--threads', '1', '--allow-nonfinite']);
    assert.equal(ok.code, 0, ok.stderr);
    const v = await f16Values(fresh, 'blk.0.attn_q.weight');
    assert.ok(Number.isNaN(v[133]));
    assert.equal(v[192], Infinity);
  },
);

/** A tiny legacy llama2.c checkpoint (7 int32 header fields, then the weights; see src/io/llama2c.ts) with one weight set. */
function tinyLlama2c(name: string, index: number, value: number): string {
  const dim = 8,
    hidden = 16,
    layers = 1,
    heads = 2,
    vocab = 16,
    seq = 4;
  const floats = vocab * dim + layers * (2 * dim + 4 * dim * dim + 3 * hidden * dim) + dim + seq * (dim / heads);
  const b = new DataView(new ArrayBuffer(28 + floats * 4));
  [dim, hidden, layers, heads, heads, vocab, seq].forEach((v, i) => b.setInt32(4 * i, v, true));
  for (let i = 0; i < floats; i++) b.setFloat32(28 + 4 * i, Math.sin(i) / 4, true);
  b.setFloat32(28 + 4 * index, value, true); // token_embedding is first
  const p = join(dir, name);
  writeFileSync(p, new Uint8Array(b.buffer));
  return p;
}

test('convert llama2c --type F16: a 1e6 weight is clamped to 65504 and reported', { timeout: 120_000 }, async () => {
  const bin = tinyLlama2c('tiny.bin', 5, 1e6);
  const out = join(dir, 'tiny-f16.gguf');
  const r = runCli(['convert', 'llama2c', bin, out, '--type', 'F16']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: tensor token_embd\.weight: 1 value\(s\) beyond the F16 range were clamped/);
  const v = await f16Values(out, 'token_embd.weight');
  assert.equal(v[5], 65504);
  assert.ok(v.every(Number.isFinite));
});

test(
  'convert llama2c: NaN refused with the tensor and index (no output); --allow-nonfinite converts it',
  { timeout: 120_000 },
  async () => {
    const bin = tinyLlama2c('nan.bin', 8 * 3 + 2, NaN);
    const out = join(dir, 'nan-f16.gguf');
    const r = runCli(['convert', 'llama2c', bin, out, '--type', 'F16']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^lowbit: tensor token_embd\.weight has a NaN or infinite value at element 26 \(row 3, column 2\); --allow-nonfinite to convert anyway\n$/,
    );
    assert.ok(!existsSync(out));
    const ok = runCli(['convert', 'llama2c', bin, out, '--type', 'F16', '--allow-nonfinite']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(Number.isNaN((await f16Values(out, 'token_embd.weight'))[26]));
  },
);

test('ONNX fp16 with clamping (keepOutOfRangeFp32: false): the note names each tensor and its count', () => {
  const m = onnxModel(
    [node('Mul', ['x', 'big'], ['y0'], 'mul'), node('Add', ['y0', 'small'], ['y'], 'add')],
    [float32Tensor('big', [3], Float32Array.of(1e5, -2e5, 1)), float32Tensor('small', [3], Float32Array.of(1, 2, 3))],
    [valueInfo('x', DT.FLOAT, [3])],
    [valueInfo('y', DT.FLOAT, [3])],
  );
  const r = convertToFp16(m, { keepOutOfRangeFp32: false });
  assert.deepEqual(r.clampedByTensor, [{ tensor: 'big', count: 2 }]);
  assert.match(r.notes.join('\n'), /2 value\(s\) outside FP16's range were clamped to ±65504 \(big: 2\)/);
});

test('NaN/Inf reaching a codec that refuses it itself (IQ3_S, where ggml aborts) is still reported as the input error with its index', () => {
  const n = 256,
    rows = 3;
  for (const [dstType, bad] of [
    [GGML_TYPE.IQ3_S, NaN],
    [GGML_TYPE.IQ3_XXS, Infinity],
    [GGML_TYPE.Q8_0, NaN],
  ] as const) {
    const x = randomRows(3, rows, n);
    x[n + 17] = bad;
    const src = new Uint8Array(x.buffer.slice(0));
    const dst = new Uint8Array(rows * 110 * (n / 256) + 1024);
    const r = runRowJob(
      {
        srcType: GGML_TYPE.F32,
        dstType,
        nPerRow: n,
        rowStart: 0,
        rowEnd: rows,
        slabFirstRow: 4,
        rowsPerExpert: 1000,
        checkInput: true,
      },
      { src, f32: null, dst, imatrix: null },
    );
    assert.deepEqual(r, { ok: false, kind: 'input', index: (4 + 1) * n + 17 }, `type ${dstType}`);
  }
});
