// Expected failures print as one line (`lowbit: <message>`) and exit 1; anything else is a bug,
// printed with its stack so it can be reported.
import { LowbitError } from '../errors.js';
import { describeMissing } from '../node/output-guard.js';

const FILE_CODES = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'EISDIR']);

export function reportAndExit(err: unknown): never {
  if (err instanceof LowbitError) {
    process.stderr.write(`lowbit: ${err.message}\n`);
    process.exit(1);
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.message === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // system errors (ENOENT, EACCES, ENOSPC, ...) are the user's environment, not our bug: one
    // friendly line naming the file (`<file>: no such file`), not Node's `ENOENT: ..., open '<file>'`
    const path = (e as { path?: unknown }).path;
    process.stderr.write(
      `lowbit: ${typeof path === 'string' && FILE_CODES.has(e.code) ? describeMissing(path, e) : e.message}\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`lowbit: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(70);
}
