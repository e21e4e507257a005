// Environment faults during a quantize run: unwritable folders, a full disk, an input that shrinks
// while it is read, and an output that is the input. Each must end with a one-line error, exit 1,
// an existing output untouched and no temp file left.
//
// Disk full is simulated two ways: RLIMIT_FSIZE on the child (prlimit; node ignores SIGXFSZ, so
// the write fails with EFBIG) runs everywhere; a real 2 MB tmpfs (ENOSPC) and a read-only tmpfs
// (EROFS) run where mounting is permitted (root with CAP_SYS_ADMIN) and are skipped otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bigModel, spawnCli, tempsFor, waitForTemp } from './support/big-model.js';
import { runCli } from '../support/cli.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/index.js';

let model = '';
let dir = '';
before(async () => {
  model = await bigModel();
  dir = mkdtempSync(join(tmpdir(), 'lowbit-disk-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ARGS = ['--type', 'Q4_K_M', '--threads', '1'];

function oneLineError(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^lowbit: /);
  return lines[0]!;
}

function canMount(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'lowbit-mount-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    if (r.status !== 0) return false;
    spawnSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const mountSkip = canMount() ? false : 'mounting a tmpfs is not permitted here';
const prlimitSkip =
  spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status === 0
    ? false
    : 'prlimit (util-linux) is not installed';

/** Mounts a tmpfs of `size` at a new folder, runs `fn`, unmounts. */
async function withTmpfs(size: string, fn: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = mkdtempSync(join(tmpdir(), 'lowbit-tmpfs-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  try {
    await fn(mnt);
  } finally {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

test(
  'unwritable folder (its parent is a regular file) or a missing folder: one-line error before any work',
  { timeout: 120_000 },
  async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    // independent runs: spawned together (CLI start-up dominates on a busy machine)
    const runs = [join(file, 'out.gguf'), join(dir, 'missing', 'out.gguf')].map((out) =>
      spawnCli(['quantize', model, out, ...ARGS]),
    );
    const codes = await Promise.all(runs.map((r) => r.exited));
    assert.deepEqual(
      codes.map((c) => c.code),
      [1, 1],
      runs.map((r) => r.stderr()).join(''),
    );
    assert.match(oneLineError(runs[0]!.stderr()), /cannot write .*out\.gguf: a part of the path is not a folder/);
    assert.match(oneLineError(runs[1]!.stderr()), /cannot write .*out\.gguf: the folder does not exist/);
    assert.equal(readFileSync(file, 'utf8'), 'x');
  },
);

test(
  'disk full (RLIMIT_FSIZE: writes past 4 MB fail with EFBIG): one-line error, output untouched, no temp',
  { timeout: 300_000, skip: prlimitSkip },
  async () => {
    const out = join(dir, 'fsize.gguf');
    writeFileSync(out, 'precious');
    const run = spawnCli(['quantize', model, out, ...ARGS], ['prlimit', `--fsize=${4 << 20}`, '--']);
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr());
    assert.match(oneLineError(run.stderr()), /^lowbit: cannot write .*fsize\.gguf: file too large/);
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    assert.deepEqual(tempsFor(dir, 'fsize.gguf'), []);
  },
);

test(
  'disk full (a 2 MB tmpfs): one-line error, output untouched, no temp, the space is freed',
  { timeout: 300_000, skip: mountSkip },
  async () => {
    await withTmpfs('2m', async (mnt) => {
      const out = join(mnt, 'full.gguf');
      writeFileSync(out, 'precious');
      const r = spawnCli(['quantize', model, out, ...ARGS]);
      const { code } = await r.exited;
      assert.equal(code, 1, r.stderr());
      assert.match(oneLineError(r.stderr()), /^lowbit: cannot write .*full\.gguf: no space left on device/);
      assert.equal(readFileSync(out, 'utf8'), 'precious');
      assert.deepEqual(readdirSync(mnt), ['full.gguf']);
    });
  },
);

test(
  'read-only file system: one-line error, existing output untouched',
  { timeout: 120_000, skip: mountSkip },
  async () => {
    await withTmpfs('1m', async (mnt) => {
      const out = join(mnt, 'ro.gguf');
      writeFileSync(out, 'precious');
      const rm = spawnSync('mount', ['-o', 'remount,ro', mnt], { encoding: 'utf8' });
      assert.equal(rm.status, 0, rm.stderr);
      const r = runCli(['quantize', model, out, ...ARGS]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(oneLineError(r.stderr), /cannot write .*ro\.gguf: read-only file system/);
      assert.equal(readFileSync(out, 'utf8'), 'precious');
      assert.deepEqual(readdirSync(mnt), ['ro.gguf']);
    });
  },
);

test(
  'input truncated while it is read: one-line error naming the input, output untouched, no temp',
  { timeout: 300_000 },
  async () => {
    const input = join(dir, 'shrinking.gguf');
    copyFileSync(model, input);
    const out = join(dir, 'from-shrinking.gguf');
    writeFileSync(out, 'precious');
    const run = spawnCli(['quantize', input, out, ...ARGS]);
    await waitForTemp(run, dir, 'from-shrinking.gguf', 1 << 20);
    truncateSync(input, Math.floor(statSync(input).size / 2));
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr());
    assert.match(oneLineError(run.stderr()), /shrinking\.gguf: file shrank while reading/);
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    assert.deepEqual(tempsFor(dir, 'from-shrinking.gguf'), []);
  },
);

test(
  'input deleted mid-run: the open file stays readable on POSIX, so the run completes with a whole output',
  { timeout: 300_000 },
  async () => {
    const input = join(dir, 'vanishing.gguf');
    copyFileSync(model, input);
    const out = join(dir, 'from-vanishing.gguf');
    const run = spawnCli(['quantize', input, out, ...ARGS]);
    await waitForTemp(run, dir, 'from-vanishing.gguf', 1 << 20);
    rmSync(input);
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
    const src = await FileSource.open(out);
    try {
      const f = await readGgufHeader(src);
      const last = f.tensors.reduce((a, t) => (t.offset + t.byteSize > a.offset + a.byteSize ? t : a));
      assert.ok(last.offset + last.byteSize <= src.size, 'every tensor is in the output');
      assert.equal(f.tensors.length, 21);
    } finally {
      await src.close();
    }
    assert.deepEqual(tempsFor(dir, 'from-vanishing.gguf'), []);
  },
);

test(
  'output is the input (same path, another spelling, a symlink, a hard link): refused, input untouched',
  { timeout: 120_000 },
  async () => {
    const sub = join(dir, 'same');
    mkdirSync(sub);
    const input = join(sub, 'in.gguf');
    writeFileSync(input, readFileSync(model).subarray(0, 1 << 20)); // only the header matters: nothing is read
    const before = readFileSync(input);
    symlinkSync(input, join(sub, 'link.gguf'));
    linkSync(input, join(sub, 'hard.gguf'));
    const outs = [input, join(sub, '.', 'in.gguf'), join(sub, 'link.gguf'), join(sub, 'hard.gguf')];
    const runs = outs.map((out) => spawnCli(['quantize', input, out, ...ARGS]));
    const codes = await Promise.all(runs.map((r) => r.exited));
    runs.forEach((r, i) => {
      assert.equal(codes[i]!.code, 1, r.stderr());
      assert.match(oneLineError(r.stderr()), /is the input file/, outs[i]);
    });
    assert.deepEqual(readFileSync(input), before);
    assert.deepEqual(readdirSync(sub).sort(), ['hard.gguf', 'in.gguf', 'link.gguf']);
  },
);
