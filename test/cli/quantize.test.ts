// `lowbit quantize` as a user runs it: the written file equals llama.cpp's, options reach the
// pipeline, --dry-run writes nothing and predicts the size exactly, errors are one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { loadLlamaOracle } from '../../tools/llama-oracle.js';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { assertSameGguf } from '../pipeline/compare-gguf.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { FileSource } from '../../src/node/file-io.js';
import { readImatrix } from '../../src/io/imatrix.js';
import { filterImatrix, parseTensorType } from '../../src/cli/commands/quantize.js';
import { rng } from '../support/oracle.js';
import { compileOverrides } from '../../src/plan/plan.js';
import { LowbitError } from '../../src/errors.js';

const llama = loadLlamaOracle();
if (!llama) throw new Error('llama oracle (libllama from @node-llama-cpp/linux-x64) is not available');

const dir = mkdtempSync(join(tmpdir(), 'lowbit-cli-quant-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const SPEC = { nLayer: 8, nFf: 256, nVocab: 32, compactRows: 8, seed: 3 };
const model = syntheticLlama(SPEC);
const input = join(dir, 'model-f16.gguf');
writeFileSync(input, await encodeGguf(model));

/** A legacy llama-imatrix .dat (ncall 1, so the importances are the stored sums) with a dataset trailer. */
function writeLegacyImatrix(path: string): void {
  const r = rng(5);
  const parts: Buffer[] = [];
  const entries = model.tensors.filter((t) => t.shape.length === 2 && !t.name.includes('token_embd'));
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  parts.push(i32(entries.length));
  for (const t of entries) {
    const name = Buffer.from(t.name);
    parts.push(i32(name.length), name, i32(1), i32(t.shape[0]!));
    parts.push(Buffer.from(Float32Array.from({ length: t.shape[0]! }, () => r() * 4 + 0.01).buffer));
  }
  const ds = Buffer.from('wiki.test.raw');
  parts.push(i32(17), i32(ds.length), ds);
  writeFileSync(path, Buffer.concat(parts));
}

test('quantize with --threads, --tensor-type, --output-tensor-type and an imatrix equals llama-quantize', async () => {
  const imatrixPath = join(dir, 'imatrix.dat');
  writeLegacyImatrix(imatrixPath);
  const out = join(dir, 'q4_k_m.gguf');
  const r = runCli([
    'quantize',
    input,
    out,
    '--type',
    'q4_k',
    '--threads',
    '2',
    '--tensor-type',
    'ATTN_V=q8_0',
    '--tensor-type',
    'ffn_up=q5_0',
    '--output-tensor-type',
    'q8_0',
    '--imatrix',
    imatrixPath,
    '--exclude-weights',
    'ffn_gate',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .* as Q4_K_M: 75 tensors/);
  assert.match(r.stdout, /bits per weight/);
  // llama-quantize's view of the same imatrix: read, then --exclude-weights applied the same way
  const src = await FileSource.open(imatrixPath);
  const im = await readImatrix(src);
  await src.close();
  const data = filterImatrix(im.data, [], ['ffn_gate']);
  assert.ok(data.size > 0 && data.size < im.data.size);
  const expected = join(dir, 'q4_k_m.llama.gguf');
  llama!.quantize(input, expected, {
    ftype: parseFileType('Q4_K_M').id,
    nthread: 2,
    outputTensorType: GGML_TYPE.Q8_0,
    tensorTypes: [
      { pattern: 'ATTN_V', type: GGML_TYPE.Q8_0 },
      { pattern: 'ffn_up', type: GGML_TYPE.Q5_0 },
    ],
    imatrix: data,
    imatrixFile: imatrixPath,
    imatrixDataset: 'wiki.test.raw',
    imatrixChunks: 17,
  });
  await assertSameGguf(out, expected, 'cli q4_k');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.lowbit-tmp-')),
    [],
    'no temp files left',
  );
});

test('--dry-run prints reasons and the exact size, writes nothing; --json is machine-readable', async () => {
  const out = join(dir, 'never.gguf');
  const r = runCli(['quantize', input, out, '--type', 'Q4_K_M', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /output\.weight .* q6_K .*output\.weight: Q6_K/);
  assert.match(r.stdout, /blk\.0\.ffn_down\.weight .* q6_K .*ffn_down: Q6_K/);
  assert.match(r.stdout, /1-D tensor/);
  assert.ok(!existsSync(out));
  const j = JSON.parse(runCli(['quantize', input, '--type', 'q8_0', '--dry-run', '--json']).stdout);
  assert.equal(j.fileType, 'Q8_0');
  assert.equal(j.tensors.length, 75);
  const real = join(dir, 'q8.gguf');
  const w = runCli(['quantize', input, real, '--type', 'q8_0', '--json', '--threads', '1']);
  assert.equal(w.code, 0, w.stderr);
  const s = JSON.parse(w.stdout);
  assert.equal(s.outputBytes, statSync(real).size);
  assert.equal(j.outputBytes, s.outputBytes, 'dry-run predicts the size exactly');
  assert.equal(s.tensors.find((t: { name: string }) => t.name === 'blk.0.attn_q.weight').to, 'q8_0');
  assert.equal(w.stderr, '', 'no progress bar without a TTY');
});

test('errors are one line and leave no output', async () => {
  const cases: [string[], RegExp][] = [
    [['quantize', input, input, '--type', 'q8_0'], /is the input file/],
    [['quantize', input, join(dir, 'x.gguf'), '--type', 'q9_9'], /unknown file type 'q9_9'/],
    [['quantize', input, join(dir, 'x.gguf'), '--type', 'q8_0', '--tensor-type', 'attn_q'], /malformed/],
    [['quantize', input, join(dir, 'x.gguf'), '--type', 'Q2_K_S'], /requires an importance matrix/],
    [
      ['quantize', input, join(dir, 'x.gguf'), '--type', 'q8_0', '--include-weights', 'a', '--exclude-weights', 'b'],
      /cannot be used together/,
    ],
    [
      ['quantize', input, join(dir, 'x.gguf'), '--type', 'q8_0', '--prune-layers', '1,-2'],
      /--prune-layers: invalid layer id '-2'/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^lowbit: /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  assert.ok(!existsSync(join(dir, 'x.gguf')));
});

test('NaN in the input names the tensor and element; --allow-nonfinite lets a copied tensor through', async () => {
  const bad = syntheticLlama(SPEC);
  const norm = bad.tensors.find((t) => t.name === 'blk.2.ffn_norm.weight')!;
  new DataView(norm.data.buffer, norm.data.byteOffset).setFloat32(4 * 5, NaN, true);
  const w = bad.tensors.find((t) => t.name === 'blk.1.attn_q.weight')!;
  const p = join(dir, 'nan-weight.gguf');
  const wcopy = syntheticLlama(SPEC);
  const wq = wcopy.tensors.find((t) => t.name === 'blk.1.attn_q.weight')!;
  wq.data[2 * 300 + 1] = 0x7e; // f16 element 300: 0x7e00 is NaN
  wq.data[2 * 300] = 0x00;
  writeFileSync(p, await encodeGguf(wcopy));
  let r = runCli(['quantize', p, join(dir, 'o.gguf'), '--type', 'q8_0', '--threads', '1']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /tensor blk\.1\.attn_q\.weight has a NaN or infinite value at element 300 \(row 1, column 44\)/,
  );
  assert.ok(w);

  const pn = join(dir, 'nan-norm.gguf');
  writeFileSync(pn, await encodeGguf(bad));
  r = runCli(['quantize', pn, join(dir, 'o.gguf'), '--type', 'q8_0', '--threads', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /blk\.2\.ffn_norm\.weight has a NaN or infinite value at element 5/);
  r = runCli(['quantize', pn, join(dir, 'o.gguf'), '--type', 'q8_0', '--threads', '1', '--allow-nonfinite']);
  assert.equal(r.code, 0, r.stderr);
});

test('--tensor-type parsing follows llama-quantize', () => {
  assert.deepEqual(parseTensorType('Blk\\.\\D+=Q4_K'), { pattern: 'blk\\.\\d+', type: GGML_TYPE.Q4_K }); // lower-cased, as llama-quantize does
  assert.deepEqual(parseTensorType('a=b=c'.replace('b=c', 'bf16')), { pattern: 'a', type: GGML_TYPE.BF16 });
  assert.throws(() => parseTensorType('=q8_0'), /missing tensor name/);
  assert.throws(() => parseTensorType('x='), /missing quantization type/);
  assert.throws(() => parseTensorType('attn_q=q9'), /invalid ggml type 'q9'/);
  assert.throws(
    () => compileOverrides([parseTensorType('(=q8_0')]),
    (e: Error) => e instanceof LowbitError && /invalid regular expression/.test(e.message),
  );
});

test('--tensor-type-file: entries split on spaces and newlines, in command-line order with --tensor-type; bad files are one-line errors', () => {
  const f = join(dir, 'types.txt');
  writeFileSync(f, 'attn_v=q8_0  ffn_up=Q5_0\n\n  attn=q4_1\n');
  const typeOf = (args: string[], name: string) => {
    const r = runCli(['quantize', input, '--type', 'q4_0', '--dry-run', '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout).tensors as { name: string; to: string }[]).find((t) => t.name === name)!.to;
  };
  assert.equal(typeOf(['--tensor-type-file', f], 'blk.0.attn_v.weight'), 'q8_0');
  assert.equal(typeOf(['--tensor-type-file', f], 'blk.0.ffn_up.weight'), 'q5_0');
  assert.equal(typeOf(['--tensor-type-file', f], 'blk.0.attn_q.weight'), 'q4_1');
  // the first match wins, whichever option it came from
  assert.equal(typeOf(['--tensor-type', 'attn_q=q8_0', '--tensor-type-file', f], 'blk.0.attn_q.weight'), 'q8_0');
  assert.equal(typeOf(['--tensor-type-file', f, '--tensor-type', 'attn_q=q8_0'], 'blk.0.attn_q.weight'), 'q4_1');
  const bad = join(dir, 'bad-types.txt');
  writeFileSync(bad, 'attn_v=q8_0 ffn_up\n');
  for (const [args, re] of [
    [['--tensor-type-file', join(dir, 'missing.txt')], /^lowbit: \S*missing\.txt: no such file$/m],
    [['--tensor-type-file', bad], /--tensor-type-file .*bad-types\.txt: malformed 'ffn_up'/],
  ] as [string[], RegExp][]) {
    const r = runCli(['quantize', input, join(dir, 'x.gguf'), '--type', 'q8_0', ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  assert.ok(!existsSync(join(dir, 'x.gguf')));
});

test('--override-kv reaches the output metadata; a bad one is a one-line error before any work', () => {
  const out = join(dir, 'kv.gguf');
  const r = runCli([
    'quantize',
    input,
    out,
    '--type',
    'q8_0',
    '--threads',
    '1',
    '--override-kv',
    'general.name=str:overridden',
    '--override-kv',
    'lowbit.flag=bool:true',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const meta = JSON.parse(runCli(['inspect', out, '--json']).stdout).metadata as Record<string, unknown>;
  const keys = Object.keys(meta);
  assert.deepEqual(keys.slice(-2), ['general.name', 'lowbit.flag'], 'moved to the end, in order');
  assert.match(JSON.stringify(meta['general.name']), /overridden/);
  const bad = runCli([
    'quantize',
    input,
    join(dir, 'kv2.gguf'),
    '--type',
    'q8_0',
    '--override-kv',
    'lowbit.flag=bool:yes',
  ]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^lowbit: --override-kv: invalid boolean value/);
  assert.ok(!existsSync(join(dir, 'kv2.gguf')));
});

test('--keep-split names the outputs <output minus .gguf>-NNNNN-of-NNNNN.gguf and says so', () => {
  const r = runCli(['quantize', input, join(dir, 'ks.gguf'), '--type', 'q8_0', '--threads', '1', '--keep-split']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'ks-00001-of-00001.gguf')));
  assert.ok(!existsSync(join(dir, 'ks.gguf')));
  assert.match(r.stdout, /wrote .*ks-00001-of-00001\.gguf as Q8_0/);
});
