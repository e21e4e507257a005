// A quantize run killed mid-way never costs the user a file: SIGINT prints how far it got, exits
// 130 and leaves no temp; SIGTERM leaves no temp; SIGKILL leaves only a recognisably named temp that
// the next run to that output removes. In every case an existing output stays as it was. Each test
// waits for the run's temp output to grow (the run is then mid-way) instead of sleeping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bigLlama2c, bigModel, spawnCli, tempsFor, waitForTemp } from './support/big-model.js';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { runCli } from '../support/cli.js';

let model = '';
let dir = '';
before(async () => {
  model = await bigModel();
  dir = mkdtempSync(join(tmpdir(), 'lowbit-signals-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// Q4_K_M on one thread: seconds of work on the ~130 MB model, so the signal lands mid-run
const ARGS = ['--type', 'Q4_K_M', '--threads', '1'];
// header plus a few tensors' output
const MID_RUN = 1 << 20;

function precious(name: string): string {
  const p = join(dir, name);
  writeFileSync(p, `precious ${name}`);
  return p;
}

test('SIGINT: exit 130, says what was done, no temp, existing output untouched', { timeout: 300_000 }, async () => {
  const out = precious('int.gguf');
  const run = spawnCli(['quantize', model, out, ...ARGS]);
  await waitForTemp(run, dir, 'int.gguf', MID_RUN);
  run.child.kill('SIGINT');
  const { code } = await run.exited;
  assert.equal(code, 130, run.stderr());
  assert.match(
    run.stderr(),
    /^lowbit: interrupted .* of .* of tensor data done, at [\w.]+; .*int\.gguf was not written/m,
  );
  assert.equal(run.stderr().trimEnd().split('\n').length, 1, run.stderr());
  assert.equal(readFileSync(out, 'utf8'), 'precious int.gguf');
  assert.deepEqual(tempsFor(dir, 'int.gguf'), []);
});

test('SIGTERM: no temp, existing output untouched', { timeout: 300_000 }, async () => {
  const out = precious('term.gguf');
  const run = spawnCli(['quantize', model, out, ...ARGS]);
  await waitForTemp(run, dir, 'term.gguf', MID_RUN);
  run.child.kill('SIGTERM');
  const { code, signal } = await run.exited;
  assert.ok(code === 143 || signal === 'SIGTERM', `exit ${code} ${signal}`);
  assert.equal(readFileSync(out, 'utf8'), 'precious term.gguf');
  assert.deepEqual(tempsFor(dir, 'term.gguf'), []);
});

test(
  'SIGKILL: target untouched, the temp is named for its pid, and the next run removes it',
  { timeout: 300_000 },
  async () => {
    const out = precious('kill.gguf');
    const run = spawnCli(['quantize', model, out, ...ARGS]);
    const temp = await waitForTemp(run, dir, 'kill.gguf', MID_RUN);
    run.child.kill('SIGKILL');
    const { signal } = await run.exited;
    assert.equal(signal, 'SIGKILL');
    assert.equal(readFileSync(out, 'utf8'), 'precious kill.gguf');
    // the CLI runs under node --import tsx: the pid in the name is the quantizer's own (the child here)
    assert.match(temp, new RegExp(`\\.kill\\.gguf\\.lowbit-tmp-${run.child.pid}-[0-9a-f]+$`));
    assert.ok(existsSync(temp), 'SIGKILL cannot be caught: its temp stays until the next run');
    // a later run to the same output (a small model: it finishes quickly) removes the stale temp
    const small = join(dir, 'small.gguf');
    writeFileSync(small, await encodeGguf(syntheticLlama({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 32 })));
    const r = runCli(['quantize', small, out, '--type', 'Q8_0', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(temp), 'stale temp removed');
    assert.deepEqual(tempsFor(dir, 'kill.gguf'), []);
    assert.notEqual(readFileSync(out, 'utf8').slice(0, 8), 'precious');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('lowbit-tmp')),
      [],
    );
  },
);

test(
  'SIGINT during convert: exit 130, says how far it got, no temp, existing output untouched',
  { timeout: 300_000 },
  async () => {
    const bin = await bigLlama2c();
    const out = precious('converted.gguf');
    const run = spawnCli(['convert', 'llama2c', bin, out, ...ARGS]);
    await waitForTemp(run, dir, 'converted.gguf', MID_RUN);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr());
    assert.match(run.stderr(), /^lowbit: interrupted \d+% through, at [\w.]+; .*converted\.gguf was not written/m);
    assert.equal(readFileSync(out, 'utf8'), 'precious converted.gguf');
    assert.deepEqual(tempsFor(dir, 'converted.gguf'), []);
  },
);
