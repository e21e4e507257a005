// One error contract for every command: commander's own usage errors (a missing argument, a missing
// required option, an option without its value, an unknown option or command) print one line
// `lowbit: <problem> (see lowbit <command> --help)` on stderr and exit 1, like every other bad input;
// --help and --version still print to stdout and exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/cli.js';

function oneLineError(args: string[], mentions: RegExp): void {
  const r = runCli(args);
  assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
  assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0]!, /^lowbit: \S/, `${args.join(' ')}: starts with "lowbit: "`);
  assert.doesNotMatch(lines[0]!, /error:|  /, `${args.join(' ')}: no commander prefix, no blanks`);
  assert.match(lines[0]!, mentions, `${args.join(' ')}: names the problem`);
}

const CASES: [string[], RegExp][] = [
  // --type may be left out for --target-size / --target-bpw, so the command checks it, before any file
  [['quantize', 'a.gguf', 'b.gguf'], /^lowbit: quantize: --type is required \(or --target-size \/ --target-bpw\)$/],
  [['quantize', 'a.onnx', 'b.onnx'], /^lowbit: quantize: --type is required$/],
  [['quantize', 'a.gguf', '--type', 'Q8_0'], /quantize: missing <output> \(or use --dry-run\)/],
  [['quantize', '--type', 'Q8_0'], /missing required argument 'input'.*lowbit quantize --help/],
  [['quantize', 'a.gguf', 'b.gguf', '--type'], /option '--type <TYPE>' argument missing/],
  [['quantize-dir'], /missing required argument 'dir'.*lowbit quantize-dir --help/],
  [['convert', 'hf'], /missing required argument 'model_dir'.*lowbit convert hf --help/],
  [['convert', 'hf', 'dir'], /missing required argument 'out.gguf'.*lowbit convert hf --help/],
  [['convert', 'llama2c'], /missing required argument 'model.bin'.*lowbit convert llama2c --help/],
  [['inspect'], /missing required argument 'file'.*lowbit inspect --help/],
  [['compare'], /missing required argument 'A'.*lowbit compare --help/],
  [['compare', 'a.gguf'], /missing required argument 'B'/],
  [['eval'], /missing required argument 'model'.*lowbit eval --help/],
  [['report'], /missing required argument 'ref'.*lowbit report --help/],
  [['levels'], /required option '--bits <n>' not specified.*lowbit levels --help/],
  [['explain'], /explain needs a VALUE/],
  [['demo', '--bogus'], /unknown option '--bogus'.*lowbit demo --help/],
  [['nosuch'], /unknown command 'nosuch'.*lowbit --help/],
];

for (const [args, mentions] of CASES) {
  test(`lowbit ${args.join(' ')}: one line, exit 1`, () => oneLineError(args, mentions));
}

test('--help and --version print to stdout and exit 0', () => {
  for (const args of [['--help'], ['--version'], ['quantize', '--help'], ['convert', 'hf', '--help']]) {
    const r = runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
    assert.equal(r.stderr, '');
    assert.ok(r.stdout.trim().length > 0, `${args.join(' ')} prints`);
  }
  assert.equal(runCli(['--version']).stdout.trim(), '0.1.0');
});
