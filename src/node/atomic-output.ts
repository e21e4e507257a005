// Output files appear complete or not at all: bytes go to a temp file next to the target (same
// file system, so rename is atomic), which is fsynced and renamed over the target on commit. On
// failure, Ctrl-C or SIGTERM the temp is removed and the target is untouched. A SIGKILL leaves the
// temp behind; its name carries the pid, so a later run recognises it and cleans it up.
import { open, rename, unlink, readdir, stat, type FileHandle } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileSink } from '../node/file-io.js';
import { LowbitError } from '../errors.js';
import { refuseOutputOverInputs } from '../node/output-guard.js';
import { exitCleanup } from './exit-cleanup.js';

export interface AtomicOutput {
  /** the final path */
  readonly path: string;
  readonly tempPath: string;
  readonly sink: FileSink;
  /** fsync, close, rename over the target */
  commit(): Promise<void>;
  /** close and delete the temp; the target stays as it was. Safe to call more than once. */
  abort(): Promise<void>;
}

const TEMP_MARK = '.lowbit-tmp-';

/** Bytes written between background flushes of the temp file. */
const FLUSH_BYTES = 32 << 20;

export function tempNameFor(target: string, pid = process.pid): string {
  return join(dirname(target), `.${basename(target)}${TEMP_MARK}${pid}-${randomBytes(4).toString('hex')}`);
}

// Temps alive in this process, removed synchronously on exit or on a terminating signal.
const temps = exitCleanup((p) => {
  try {
    unlinkSync(p);
  } catch {
    /* already gone */
  }
});

export interface AtomicOutputOptions {
  /** input files the output must not overwrite */
  inputs?: readonly string[];
}

/** Refuses an output path that names one of the inputs (by path, another spelling, a link): see src/node/output-guard.ts. */
export async function checkNotInput(path: string, inputs: readonly string[]): Promise<void> {
  refuseOutputOverInputs([path], inputs);
}

export async function openAtomicOutput(path: string, options: AtomicOutputOptions = {}): Promise<AtomicOutput> {
  const target = resolve(path);
  await checkNotInput(path, options.inputs ?? []);
  try {
    const st = await stat(target);
    if (st.isDirectory()) throw new LowbitError(`output ${path} is a directory`, 'EIO', 'EISDIR');
  } catch (e) {
    if (e instanceof LowbitError) throw e;
  }
  await cleanStaleTemps(dirname(target), basename(target));

  const tempPath = tempNameFor(target);
  let fh: FileHandle;
  try {
    fh = await open(tempPath, 'wx', 0o644);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new LowbitError(
      `cannot write ${path}: ${describe(err)} (creating a temp file in ${dirname(target)})`,
      'EIO',
      err?.code,
    );
  }
  temps.track(tempPath);
  const sink = new FileSink(fh);
  // a full disk or a file size limit surfaces in a write: name the output, not just the errno
  const write = sink.write.bind(sink);
  const writev = sink.writev.bind(sink);
  // Data is flushed to disk in the background as it is written (one fdatasync at a time, every
  // FLUSH_BYTES), so the fsync on commit waits only for the tail: for a job of a second or two the
  // whole-file fsync was a tenth of the wall time. Durability is unchanged: commit still fsyncs.
  let unflushed = 0;
  let flushing: Promise<void> | null = null;
  let flushError: unknown = null;
  const settleFlush = async () => {
    if (flushing) await flushing;
  };
  const written = async (n: number, go: () => Promise<void>) => {
    try {
      if (flushError) throw flushError;
      await go();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw typeof err?.code === 'string' && !(e instanceof LowbitError)
        ? new LowbitError(`cannot write ${path}: ${describe(err)}`, 'EIO', err.code)
        : e;
    }
    unflushed += n;
    if (unflushed >= FLUSH_BYTES && !flushing) {
      unflushed = 0;
      flushing = fh
        .datasync()
        .catch((e: unknown) => {
          flushError = e;
        })
        .finally(() => {
          flushing = null;
        });
    }
  };
  sink.write = (bytes) => written(bytes.length, () => write(bytes));
  sink.writev = (parts) =>
    written(
      parts.reduce((n, b) => n + b.length, 0),
      () => writev(parts),
    );
  let state: 'open' | 'committed' | 'aborted' = 'open';

  return {
    path: target,
    tempPath,
    sink,
    async commit() {
      if (state !== 'open') throw new LowbitError(`output ${path} already ${state}`, 'EINTERNAL');
      try {
        await settleFlush();
        if (flushError) throw flushError;
        await fh.sync();
        await fh.close();
        await rename(tempPath, target);
      } catch (e) {
        state = 'aborted';
        await fh.close().catch(() => {});
        await unlink(tempPath).catch(() => {});
        temps.untrack(tempPath);
        const err = e as NodeJS.ErrnoException;
        throw new LowbitError(`cannot write ${path}: ${describe(err)}`, 'EIO', err?.code);
      }
      state = 'committed';
      temps.untrack(tempPath);
      await syncDir(dirname(target));
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await settleFlush(); // never close the descriptor under a flush still using it
      await fh.close().catch(() => {});
      await unlink(tempPath).catch(() => {});
      temps.untrack(tempPath);
    },
  };
}

/** Runs `write` against an atomic output: commit when it resolves, abort (and rethrow) when it throws. */
export async function withAtomicOutput<T>(
  path: string,
  write: (out: AtomicOutput) => Promise<T>,
  options?: AtomicOutputOptions,
): Promise<T> {
  const out = await openAtomicOutput(path, options);
  try {
    const r = await write(out);
    await out.commit();
    return r;
  } catch (e) {
    await out.abort();
    throw e;
  }
}

/** Deletes temps of `basename` in `dir` (all basenames when omitted) whose process is gone. Returns the paths removed. */
export async function cleanStaleTemps(dir: string, base?: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^\.(.+)\.lowbit-tmp-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || (base !== undefined && m[1] !== base)) continue;
    const p = join(dir, name);
    const pid = Number(m[2]);
    if (temps.isTracked(p) || (pid !== process.pid && isAlive(pid))) continue;
    try {
      await unlink(p);
      removed.push(p);
    } catch {
      /* raced with another cleaner */
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDir(dir: string): Promise<void> {
  // make the rename durable; not every platform lets a directory be opened, so best effort
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* ignore */
  }
}

function describe(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'the folder does not exist';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EFBIG':
      return 'file too large (file system or process file size limit)';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EIO':
      return 'input/output error';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e.code ?? e.message;
  }
}
