// Ctrl-C in the engine-backed commands (eval, report, demo) says what was interrupted, exits 130 as
// quantize does, and leaves nothing partial behind (no temp file, no half report). Real SIGINT to a
// child process; each test waits until the run has the model open in llama.cpp (the GGUF is mapped
// into the process: /proc/<pid>/maps names it) instead of sleeping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, type Running } from './support/big-model.js';
import { REPO } from '../support/cli.js';
import { storiesModels } from '../eval/models.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-int-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const linux = process.platform === 'linux' ? false : 'needs /proc/<pid>/maps (Linux)';

/** Waits until the process maps a file whose path matches `re` (llama.cpp mmaps the model it loads). */
async function waitForMapped(run: Running, re: RegExp, timeoutMs = 240_000): Promise<string> {
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  const t0 = Date.now();
  for (;;) {
    let maps = '';
    try {
      maps = readFileSync(`/proc/${run.child.pid}/maps`, 'utf8');
    } catch {
      /* not yet, or gone */
    }
    const hit = maps
      .split('\n')
      .map((l) => l.split(/\s+/).slice(5).join(' '))
      .find((p) => re.test(p));
    if (hit) return hit;
    if (ended) throw new Error(`the run ended before mapping ${re}: ${run.stderr()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing matching ${re} mapped after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function oneLine(s: string): string {
  // a progress line on a terminal could precede it; children here have no terminal
  const lines = s.trimEnd().split('\n');
  assert.equal(lines.length, 1, s);
  return lines[0]!;
}

const temps = (d: string) => readdirSync(d).filter((f) => f.includes('.lowbit-tmp-') || f.includes('.tmp-'));

test(
  'SIGINT during eval: exit 130, says what was being measured, one line',
  { skip: linux, timeout: 300_000 },
  async () => {
    const m = storiesModels();
    // many chunks of a long context: seconds of work after the model is loaded
    const run = spawnCli(['eval', m.q4, '--ref', m.f32, '--chunks', '64', '--ctx', '512']);
    await waitForMapped(run, /stories-q4_0\.gguf$/);
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    assert.equal(code, 130, `exit ${code} ${signal}: ${run.stderr()}`);
    assert.match(
      oneLine(run.stderr()),
      /^lowbit: interrupted eval of \S*stories-q4_0\.gguf while (loading the model|generating text|scoring chunk \d+ of \d+|timing); nothing was written$/,
    );
    assert.equal(run.stdout(), '');
  },
);

test(
  'SIGINT during report --eval: exit 130, says where, no report and no temp left',
  { skip: linux, timeout: 300_000 },
  async () => {
    const m = storiesModels();
    const out = join(dir, 'report.html');
    writeFileSync(out, 'precious');
    const run = spawnCli(['report', m.f32, m.q8, m.q4, '--eval', '--chunks', '64', '--ctx', '512', '--html', out]);
    await waitForMapped(run, /stories-f32\.gguf$/);
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    assert.equal(code, 130, `exit ${code} ${signal}: ${run.stderr()}`);
    assert.match(
      oneLine(run.stderr()),
      /^lowbit: interrupted report during (generating the evaluation text with the reference|eval of \S+|comparing \S+|starting); \S*report\.html was not written$/,
    );
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    assert.deepEqual(temps(dir), []);
  },
);

test(
  'SIGINT during demo: exit 130, names the step, finished files complete, no temp and no report',
  { skip: linux, timeout: 300_000 },
  async () => {
    const out = join(dir, 'demo');
    const run = spawnCli(['demo', '--out', out, '--types', 'q8_0,q4_0', '--chunks', '64', '--ctx', '256']);
    await waitForMapped(run, /demo\/brown-3m-\S+\.gguf$/);
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    assert.equal(code, 130, `exit ${code} ${signal}: ${run.stderr()}`);
    const last = run.stderr().trimEnd().split('\n').pop()!;
    assert.match(
      last,
      /^lowbit: interrupted demo during step 4, .*; files finished before it are in \S+demo, no partial file left; report\.html was not written$/,
    );
    assert.ok(!existsSync(join(out, 'report.html')));
    assert.deepEqual(temps(out), []);
    // what was finished is whole: the F32 import and both quantized files
    assert.deepEqual(readdirSync(out).sort(), ['brown-3m-F32.gguf', 'brown-3m-Q4_0.gguf', 'brown-3m-Q8_0.gguf']);
  },
);

test(
  "SIGINT while a run works in its own temp folders (convert hf --calibrate's F32 conversion and matrix, --sensitivity engine-tensors' probes, --refine's judged files): exit 130, the folders removed",
  { skip: linux, timeout: 600_000 },
  async () => {
    const m = storiesModels();
    const cases: [string[], RegExp, RegExp][] = [
      [
        ['convert', 'hf', join(REPO, 'fixtures/brown-3m'), join(dir, 'c.gguf'), '--type', 'IQ3_XXS', '--calibrate'],
        /lowbit-convert-[^/]+\/model-f32\.gguf$/,
        /^lowbit: interrupted while calibrating; \S*c\.gguf was not written \(nothing left behind\)$/,
      ],
      [
        ['quantize', m.f32, join(dir, 's.gguf'), '--target-bpw', '8.3', '--sensitivity', 'engine-tensors'],
        /lowbit-sens-[^/]+\/probe-\d+\.gguf$/,
        /^lowbit: interrupted while measuring the model in llama\.cpp for --target-\*; \S*s\.gguf was not written \(nothing left behind\)$/,
      ],
      [
        ['quantize', m.f32, join(dir, 'r.gguf'), '--target-bpw', '8.3', '--refine'],
        /lowbit-refine-[^/]+\/judge-\d+\.gguf$/,
        /^lowbit: interrupted before any tensor data; \S*r\.gguf was not written \(nothing left behind\)$/,
      ],
    ];
    for (const [args, mapped, said] of cases) {
      // a temp folder of its own, so that only this run's leftovers count
      const tmp = mkdtempSync(join(dir, 'tmp-'));
      const run = spawnCli(args, [], { ...process.env, TMPDIR: tmp });
      await waitForMapped(run, mapped);
      run.child.kill('SIGINT');
      const { code, signal } = await run.exited;
      assert.equal(code, 130, `${args[0]}: exit ${code} ${signal}: ${run.stderr()}`);
      // the run's own lines ('converting …', 'calibrating …') come first; the last one says what stopped
      assert.match(run.stderr().trimEnd().split('\n').pop()!, said);
      assert.deepEqual(
        readdirSync(tmp).filter((f) => f.startsWith('lowbit-')),
        [],
        `${args.join(' ')} left its temp folders`,
      );
      assert.ok(!existsSync(args[0] === 'convert' ? args[3]! : args[2]!), 'no output');
    }
  },
);
