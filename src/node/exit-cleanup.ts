// Paths a process must not leave behind (atomic outputs' temp files, a run's temp folders): removed
// synchronously on exit and, while any is tracked, on SIGINT/SIGTERM, which then end the process
// with 130/143 (a finally block does not run on process.exit; 'exit' handlers do). With nothing
// tracked, the signals get their default behaviour back.
export interface ExitCleanup {
  track(path: string): void;
  untrack(path: string): void;
  isTracked(path: string): boolean;
}

/**
 * One registry of such paths, `remove` deleting one of them synchronously. `deferExit`: on a signal,
 * exit only once the signal's other handlers have run (their messages first), removing at 'exit';
 * otherwise remove and exit at once.
 */
export function exitCleanup(remove: (path: string) => void, opts: { deferExit?: boolean } = {}): ExitCleanup {
  const live = new Set<string>();
  let installed = false;
  const removeAll = () => {
    for (const p of live) remove(p);
    live.clear();
  };
  const exitWith = (code: number) =>
    opts.deferExit
      ? () => setImmediate(() => process.exit(code))
      : () => {
          removeAll();
          process.exit(code);
        };
  const onSigint = exitWith(130),
    onSigterm = exitWith(143);
  return {
    track(p) {
      live.add(p);
      if (!installed) {
        process.on('SIGINT', onSigint);
        process.on('SIGTERM', onSigterm);
        process.on('exit', removeAll);
        installed = true;
      }
    },
    untrack(p) {
      live.delete(p);
      if (live.size === 0 && installed) {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigterm);
        process.off('exit', removeAll);
        installed = false;
      }
    },
    isTracked: (p) => live.has(p),
  };
}
