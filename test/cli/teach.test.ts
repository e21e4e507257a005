import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/cli.js';
import { codecs } from '../../src/formats/registry.js';

test('lowbit levels --bits 2 prints the four levels and the step', () => {
  const r = runCli(['levels', '--bits', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /4 levels/);
  assert.match(r.stdout, /step = .* = 0\.33333/);
  for (const v of ['0.33333', '0.66667']) assert.ok(r.stdout.includes(v));
  const j = JSON.parse(runCli(['levels', '--bits', '3', '--range', '-1,1', '--json']).stdout);
  assert.equal(j.levels, 8);
  assert.equal(j.table[7].value, 1);
});

test('lowbit explain 0.12 --bits 8,4 shows codes 31 and 2', () => {
  const r = runCli(['explain', '0.12', '--bits', '8,4', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(
    j.results.map((x: { code: number }) => x.code),
    [31, 2],
  );
  assert.equal(j.results[0].value.toFixed(5), '0.12157');
  assert.equal(j.results[1].value.toFixed(5), '0.13333');
  const t = runCli(['explain', '0.12', '--bits', '8,4']);
  assert.match(t.stdout, /^8 .* 31 .*0\.12157/m);
  assert.match(t.stdout, /^4 .* 2 .*0\.13333/m);
});

test('lowbit explain --format describes every registered format', () => {
  const r = runCli(['explain', '--format', 'all', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const all = JSON.parse(r.stdout);
  assert.equal(all.length, codecs().length);
  for (const c of codecs()) {
    const j = all.find((d: { name: string }) => d.name === c.name);
    assert.equal(j.blockSize, c.type.blockSize);
    assert.equal(j.bytesPerBlock, c.type.typeSize);
    assert.ok(j.layout.length > 10);
    assert.ok(j.example.rmse < 0.05, `${c.name} example error ${j.example.rmse}`);
  }
  const one = runCli(['explain', '--format', 'bf16']);
  assert.match(one.stdout, /BF16 .*\n.*16 bits per weight/);
});

test('bad teaching input: one line on stderr, exit 1, no stack', () => {
  for (const args of [
    ['levels', '--bits', '99'],
    ['explain', 'abc'],
    ['explain', '0.5', '--range', '1,0'],
    ['explain', '--format', 'Q9_9'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^lowbit: /);
  }
});
