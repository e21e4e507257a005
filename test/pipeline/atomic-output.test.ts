import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanStaleTemps, openAtomicOutput, withAtomicOutput } from '../../src/node/atomic-output.js';
import { LowbitError } from '../../src/errors.js';

const enc = (s: string) => new TextEncoder().encode(s);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lowbit-atomic-'));
}

test('commit replaces the target; nothing else is left in the folder', async () => {
  const dir = tmp();
  try {
    const target = join(dir, 'model.gguf');
    writeFileSync(target, 'old');
    await withAtomicOutput(target, async (out) => {
      await out.sink.write(enc('new '));
      await out.sink.write(enc('content'));
      assert.equal(readFileSync(target, 'utf8'), 'old', 'target untouched until commit');
      assert.ok(existsSync(out.tempPath));
    });
    assert.equal(readFileSync(target, 'utf8'), 'new content');
    assert.deepEqual(readdirSync(dir), ['model.gguf']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing writer leaves no temp and the existing target intact', async () => {
  const dir = tmp();
  try {
    const target = join(dir, 'model.gguf');
    writeFileSync(target, 'precious');
    await assert.rejects(
      withAtomicOutput(target, async (out) => {
        await out.sink.write(enc('half-written'));
        throw new LowbitError('quantization failed');
      }),
      /quantization failed/,
    );
    assert.equal(readFileSync(target, 'utf8'), 'precious');
    assert.deepEqual(readdirSync(dir), ['model.gguf']);
    // and a new target that never existed stays absent
    const fresh = join(dir, 'fresh.gguf');
    const out = await openAtomicOutput(fresh);
    await out.sink.write(enc('x'));
    await out.abort();
    await out.abort();
    assert.deepEqual(readdirSync(dir), ['model.gguf']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refuses to write over the input (same path, symlink, hard link)', async () => {
  const dir = tmp();
  try {
    const input = join(dir, 'in.gguf');
    writeFileSync(input, 'input');
    symlinkSync(input, join(dir, 'sym.gguf'));
    linkSync(input, join(dir, 'hard.gguf'));
    for (const out of [input, join(dir, '.', 'in.gguf'), join(dir, 'sym.gguf'), join(dir, 'hard.gguf')]) {
      await assert.rejects(
        openAtomicOutput(out, { inputs: [input] }),
        (e: unknown) => e instanceof LowbitError && /is the input file/.test(e.message),
        out,
      );
    }
    assert.equal(readFileSync(input, 'utf8'), 'input');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unwritable output folder gives a clear LowbitError', async () => {
  const dir = tmp();
  try {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await assert.rejects(
      openAtomicOutput(join(file, 'out.gguf')),
      (e: unknown) =>
        e instanceof LowbitError && /cannot write .*out\.gguf: a part of the path is not a folder/.test(e.message),
    );
    await assert.rejects(openAtomicOutput(join(dir, 'missing', 'out.gguf')), /the folder does not exist/);
    await assert.rejects(openAtomicOutput('/proc/self/out.gguf'), LowbitError);
    await assert.rejects(openAtomicOutput(dir), /is a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Starts the child writer and resolves once it has a temp file open. */
function startChild(target: string): Promise<{ child: ReturnType<typeof spawn>; tempPath: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'atomic-child.ts'), target], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (.+)\n/.exec(out);
      if (m) res({ child, tempPath: m[1]! });
    });
    child.on('exit', (code) => rej(new Error(`child exited early (${code}): ${err}`)));
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => res({ code, signal }));
  });
}

test('SIGKILL mid-write leaves the target untouched; the next run cleans the temp', async () => {
  const dir = tmp();
  try {
    const target = join(dir, 'model.gguf');
    writeFileSync(target, 'precious');
    const { child, tempPath } = await startChild(target);
    child.removeAllListeners('exit');
    assert.ok(existsSync(tempPath));
    child.kill('SIGKILL');
    assert.equal((await exited(child)).signal, 'SIGKILL');
    assert.equal(readFileSync(target, 'utf8'), 'precious');
    assert.ok(existsSync(tempPath), 'a SIGKILL leaves the temp behind');
    // a temp of a live process (ours) is not touched; the dead child's is
    const mine = await openAtomicOutput(join(dir, 'other.gguf'));
    assert.deepEqual(await cleanStaleTemps(dir), [tempPath]);
    assert.ok(existsSync(mine.tempPath));
    await mine.abort();
    // the next run on the same target cleans up by itself
    const { child: c2, tempPath: t2 } = await startChild(target);
    c2.removeAllListeners('exit');
    c2.kill('SIGKILL');
    await exited(c2);
    const out = await openAtomicOutput(target);
    assert.ok(!existsSync(t2));
    await out.sink.write(enc('fresh'));
    await out.commit();
    assert.deepEqual(readdirSync(dir), ['model.gguf']);
    assert.equal(readFileSync(target, 'utf8'), 'fresh');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} exits ${code} and leaves no temp`, async () => {
    const dir = tmp();
    try {
      const target = join(dir, 'model.gguf');
      writeFileSync(target, 'precious');
      const { child, tempPath } = await startChild(target);
      child.removeAllListeners('exit');
      child.kill(signal);
      assert.deepEqual(await exited(child), { code, signal: null });
      assert.ok(!existsSync(tempPath));
      assert.deepEqual(readdirSync(dir), ['model.gguf']);
      assert.equal(readFileSync(target, 'utf8'), 'precious');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
