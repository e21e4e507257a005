// Expected failures print as one line (`lowbit: <message>`) and exit 1; anything else is a bug,
// printed with its stack so it can be reported.
import { LowbitError } from '../errors.js';

export function reportAndExit(err: unknown): never {
  if (err instanceof LowbitError) {
    process.stderr.write(`lowbit: ${err.message}\n`);
    process.exit(1);
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.message === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // system errors (ENOENT, EACCES, ENOSPC, ...) are the user's environment, not our bug
    process.stderr.write(`lowbit: ${e.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`lowbit: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(70);
}
