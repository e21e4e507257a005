// A file that is not there is named in one friendly line by every command, `lowbit: <file>: no
// such file`, exit 1 — never Node's `ENOENT: no such file or directory, open '…'` and never a stack.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { STORIES } from '../support/hf-fixture.js';
import { runCli } from '../support/cli.js';

let dir = '';
let gguf = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-missing-'));
  gguf = join(dir, 'a.gguf');
  writeFileSync(gguf, await encodeGguf(syntheticLlama({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 32 })));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('every command names a missing input file in one line: "lowbit: <file>: no such file", exit 1', () => {
  const m = (name: string) => join(dir, name);
  const out = m('out.gguf');
  const cases: [string[], string][] = [
    [['quantize', m('missing.gguf'), out, '--type', 'q8_0'], m('missing.gguf')],
    [['quantize', m('missing.gguf'), '--dry-run', '--type', 'q8_0'], m('missing.gguf')],
    [['quantize', gguf, out, '--type', 'q8_0', '--imatrix', m('missing.dat')], m('missing.dat')],
    [['quantize', gguf, out, '--type', 'q8_0', '--tensor-type-file', m('types.txt')], m('types.txt')],
    [['quantize', m('missing.onnx'), m('out.onnx'), '--type', 'q8'], m('missing.onnx')],
    [['quantize-dir', m('no-model-dir')], m('no-model-dir')],
    [['convert', 'llama2c', m('missing.bin'), out], m('missing.bin')],
    [['convert', 'llama2c', STORIES, out, '--tokenizer', m('tok.bin')], m('tok.bin')],
    [['convert', 'hf', m('no-hf-dir'), out], m('no-hf-dir')],
    [['inspect', m('missing.gguf')], m('missing.gguf')],
    [['compare', gguf, m('missing.gguf')], m('missing.gguf')],
    [['compare', m('missing.gguf'), gguf], m('missing.gguf')],
    [['eval', m('missing.gguf')], m('missing.gguf')],
    [['eval', gguf, '--ref', m('ref.gguf')], m('ref.gguf')],
    [['eval', gguf, '--text', m('text.txt')], m('text.txt')],
    [['report', m('missing.gguf'), gguf, '--html', m('r.html')], m('missing.gguf')],
    [['report', gguf, m('missing.gguf'), '--json'], m('missing.gguf')],
    [['report', gguf, gguf, '--json', '--eval', '--text', m('text.txt')], m('text.txt')],
  ];
  for (const [args, file] of cases) {
    const r = runCli(args);
    const what = `lowbit ${args.join(' ')}`;
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.equal(r.stderr, `lowbit: ${file}: no such file\n`, what);
    assert.equal(r.stdout, '', what);
  }
});
