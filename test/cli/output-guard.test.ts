// No command writes over a file it reads. The shared guard (src/node/output-guard.ts) compares by
// resolved path, real path (symlinks, also of a folder on the way) and device+inode (hard links);
// every writing command calls it with all its outputs and all its inputs (shards, index, config and
// tokenizer files, imatrix, tensor-type files, ...) before reading. Each refusal here is checked
// end to end: one `lowbit:` line, exit 1, and nothing written: every file in the folder keeps its
// bytes and no file (or temp) appears.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { refuseOutputOverInputs, sameFile, ggufInputFiles } from '../../src/node/output-guard.js';
import { LowbitError } from '../../src/errors.js';
import { encodeGguf, encodeGgufSplit, syntheticLlama } from '../pipeline/synthetic-model.js';
import { HF_FIXTURE_DIR, STORIES } from '../support/hf-fixture.js';
import { REPO, runCli } from '../support/cli.js';
import { encodeModel } from '../../src/io/onnx/model.js';
import { transformerModel } from '../onnx/support/build.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-guard-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every file under `root` with its bytes (symlinks as their target text). */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) out.set(relative(root, p), `-> ${readFileSync(p).length}`);
      else out.set(relative(root, p), readFileSync(p).toString('base64'));
    }
  };
  walk(root);
  return out;
}

/** Runs the CLI and checks the refusal: one line naming the collision, exit 1, the folder as it was. */
function refused(args: string[], root: string, re: RegExp = /is the input file/): void {
  const before = snapshot(root);
  const r = runCli(args, { timeoutMs: 180_000 });
  assert.equal(r.code, 1, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^lowbit: /);
  assert.match(lines[0]!, re);
  assert.deepEqual(snapshot(root), before, `${args.join(' ')} changed the folder`);
}

test('the guard: same path, another spelling, symlinks (of the file or a folder), hard links; distinct files pass', () => {
  const d = join(dir, 'unit');
  mkdirSync(d);
  const a = join(d, 'a.bin'),
    b = join(d, 'b.bin');
  writeFileSync(a, 'a');
  writeFileSync(b, 'b');
  symlinkSync(a, join(d, 'link.bin'));
  linkSync(a, join(d, 'hard.bin'));
  symlinkSync(d, join(dir, 'unit-link'));
  const isRefused = (out: string, ins: string[]) => {
    try {
      refuseOutputOverInputs([out], ins);
      return false;
    } catch (e) {
      assert.ok(e instanceof LowbitError);
      assert.match((e as Error).message, /is the input file/);
      return true;
    }
  };
  assert.ok(isRefused(a, [a]));
  assert.ok(isRefused(`${d}/./a.bin`, [a]));
  assert.ok(isRefused(join(d, 'link.bin'), [a]), 'symlink to the input');
  assert.ok(isRefused(a, [join(d, 'link.bin')]), 'input given through a symlink');
  assert.ok(isRefused(join(d, 'hard.bin'), [a]), 'hard link');
  assert.ok(isRefused(join(dir, 'unit-link', 'a.bin'), [a]), 'through a symlinked folder');
  assert.ok(isRefused(relative(process.cwd(), a), [a]), 'relative vs absolute');
  assert.ok(!isRefused(b, [a]));
  assert.ok(!isRefused(join(d, 'new.bin'), [a, b]), 'an output that does not exist yet');
  assert.ok(!isRefused(join(dir, 'unit-link', 'new.bin'), [a, b]));
  assert.ok(sameFile(join(d, 'hard.bin'), join(d, 'link.bin')));
  assert.ok(!sameFile(a, b));
  // two outputs that are one file
  assert.throws(() => refuseOutputOverInputs([join(d, 'x'), join(dir, 'unit-link', 'x')], []), /are the same file/);
  // a first shard's name stands for every shard
  assert.deepEqual(ggufInputFiles('/m/x-00001-of-00003.gguf'), [
    '/m/x-00001-of-00003.gguf',
    '/m/x-00002-of-00003.gguf',
    '/m/x-00003-of-00003.gguf',
  ]);
  assert.deepEqual(ggufInputFiles('/m/x.gguf'), ['/m/x.gguf']);
});

test('quantize (GGUF) refuses every output that is one of its inputs, before reading', async () => {
  const d = join(dir, 'q');
  mkdirSync(d);
  const m = syntheticLlama({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 32 });
  const input = join(d, 'in.gguf');
  writeFileSync(input, await encodeGguf(m));
  symlinkSync(input, join(d, 'link.gguf'));
  linkSync(input, join(d, 'hard.gguf'));
  const shards = await encodeGgufSplit(m, 2);
  shards.forEach((b, i) => writeFileSync(join(d, `s-0000${i + 1}-of-00002.gguf`), b));
  writeFileSync(join(d, 'one-00001-of-00001.gguf'), await encodeGguf(m));
  writeFileSync(join(d, 'types.txt'), 'attn_v=q8_0\n');
  const T = ['--type', 'q8_0'];
  refused(['quantize', input, input, ...T], d);
  refused(['quantize', input, `${d}/./in.gguf`, ...T], d);
  refused(['quantize', join(d, 'link.gguf'), input, ...T], d);
  refused(['quantize', input, join(d, 'hard.gguf'), ...T], d);
  // the second shard of a split input, read through the first
  refused(['quantize', join(d, 's-00001-of-00002.gguf'), join(d, 's-00002-of-00002.gguf'), ...T], d);
  // --keep-split outputs: <out minus .gguf>-00001-of-0000N.gguf would be the input shards
  refused(['quantize', join(d, 's-00001-of-00002.gguf'), join(d, 's.gguf'), '--keep-split', ...T], d);
  refused(['quantize', join(d, 'one-00001-of-00001.gguf'), join(d, 'one.gguf'), '--keep-split', ...T], d);
  // the tensor-type file
  refused(['quantize', input, join(d, 'types.txt'), '--tensor-type-file', join(d, 'types.txt'), ...T], d);
  // the imatrix (refused before the imatrix is parsed: this one is not even valid)
  writeFileSync(join(d, 'im.dat'), 'not an imatrix');
  refused(['quantize', input, join(d, 'im.dat'), '--imatrix', join(d, 'im.dat'), ...T], d);
  // a different output is fine, and tensor-type files still apply in order
  const ok = runCli([
    'quantize',
    input,
    join(d, 'out.gguf'),
    '--tensor-type-file',
    join(d, 'types.txt'),
    '--json',
    ...T,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(
    JSON.parse(ok.stdout).tensors.find((t: { name: string }) => t.name === 'blk.0.attn_v.weight').to,
    'q8_0',
  );
});

test("convert hf refuses the checkpoint's own files as output: weights, config, tokenizer, index, every shard", async () => {
  const d = join(dir, 'hf');
  cpSync(join(REPO, HF_FIXTURE_DIR), d, { recursive: true });
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json'])
    refused(['convert', 'hf', d, join(d, f)], d);
  // relative spelling from another working directory
  refused(['convert', 'hf', d, `${d}/../hf/model.safetensors`], d);
  const sharded = join(dir, 'hf-sharded');
  mkdirSync(sharded);
  const { writeRealisticFixture } = await import('../convert/support/realistic-fixture.js');
  await writeRealisticFixture(sharded, 'llama3');
  const shardFiles = readdirSync(sharded).filter((f) => f.endsWith('.safetensors') || f.endsWith('.index.json'));
  assert.ok(shardFiles.length >= 3, shardFiles.join());
  for (const f of shardFiles) refused(['convert', 'hf', sharded, join(sharded, f)], sharded);
  // a symlink beside the checkpoint pointing at a shard
  symlinkSync(
    join(
      sharded,
      shardFiles.find((f) => f.endsWith('.safetensors'))!,
    ),
    join(dir, 'shard-link.gguf'),
  );
  refused(['convert', 'hf', sharded, join(dir, 'shard-link.gguf')], sharded);
  assert.ok(statSync(join(dir, 'shard-link.gguf')).size > 0);
});

test('convert llama2c refuses the checkpoint and the tokenizer as output', () => {
  const d = join(dir, 'l2c');
  mkdirSync(d);
  cpSync(join(REPO, STORIES), join(d, 'model.bin'));
  writeFileSync(join(d, 'tok.bin'), 'a tokenizer');
  refused(['convert', 'llama2c', join(d, 'model.bin'), join(d, 'model.bin')], d);
  refused(['convert', 'llama2c', join(d, 'model.bin'), join(d, 'tok.bin'), '--tokenizer', join(d, 'tok.bin')], d);
  writeFileSync(join(d, 'im.dat'), 'not an imatrix');
  refused(
    ['convert', 'llama2c', join(d, 'model.bin'), join(d, 'im.dat'), '--type', 'q4_0', '--imatrix', join(d, 'im.dat')],
    d,
  );
});

test('quantize (ONNX), quantize-dir, report --html and demo --out refuse outputs that are inputs', async () => {
  const d = join(dir, 'onnx');
  mkdirSync(join(d, 'onnx'), { recursive: true });
  writeFileSync(join(d, 'onnx', 'model.onnx'), encodeModel(transformerModel()));
  linkSync(join(d, 'onnx', 'model.onnx'), join(d, 'hard.onnx'));
  refused(['quantize', join(d, 'onnx', 'model.onnx'), join(d, 'hard.onnx'), '--type', 'q8'], d);
  // quantize-dir: a variant name that is a link to the model it is made from
  symlinkSync(join(d, 'onnx', 'model.onnx'), join(d, 'onnx', 'model_quantized.onnx'));
  refused(['quantize-dir', d, '--variants', 'q8'], d);
  rmSync(join(d, 'onnx', 'model_quantized.onnx'));
  // report: the HTML over the reference or a variant
  const g = join(dir, 'rep');
  mkdirSync(g);
  const m = syntheticLlama({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 32 });
  writeFileSync(join(g, 'a.gguf'), await encodeGguf(m));
  writeFileSync(join(g, 'b.gguf'), await encodeGguf(m));
  refused(['report', join(g, 'a.gguf'), join(g, 'b.gguf'), '--html', join(g, 'b.gguf')], g);
  refused(['report', join(g, 'a.gguf'), join(g, 'b.gguf'), '--html', `${g}/./a.gguf`], g);
  // demo: an output in --out that links to the bundled model
  const demo = join(dir, 'demo');
  mkdirSync(demo);
  symlinkSync(join(REPO, 'fixtures/brown-3m/model.safetensors'), join(demo, 'brown-3m-F32.gguf'));
  const bundled = readFileSync(join(REPO, 'fixtures/brown-3m/model.safetensors'));
  refused(['demo', '--out', demo, '--types', 'q8_0'], demo);
  assert.ok(readFileSync(join(REPO, 'fixtures/brown-3m/model.safetensors')).equals(bundled));
});
