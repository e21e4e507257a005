// Ctrl-C during a long write: say how far the run got. The atomic output's own SIGINT handler
// (registered when the output opens, so after this one) then removes the temp file and exits 130;
// before any output is open this handler exits 130 itself, as an unhandled SIGINT would.
// `exit: true` (the engine-backed commands: eval, report, demo) always exits 130 here: engines load
// libraries (signal-exit) that listen for SIGINT too and would otherwise keep the run going. The
// atomic output's exit hook still removes any temp file.
export function onInterrupt(message: () => string, opts: { exit?: boolean } = {}): () => void {
  const handler = () => {
    process.stderr.write(`lowbit: interrupted ${message()}\n`);
    if (opts.exit || process.listenerCount('SIGINT') <= 1) process.exit(130);
  };
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGINT', handler);
  };
}

/**
 * Runs one phase that writes no output of its own (a calibration, the sensitivity probes): Ctrl-C
 * during it says which phase and that `output` was not written, and exits 130 (temp folders are
 * removed on exit: src/node/temp-dir.ts).
 */
export async function interruptiblePhase<T>(what: string, output: string | undefined, f: () => Promise<T>): Promise<T> {
  const stop = onInterrupt(
    () => `while ${what}; ${output ? `${output} was not written` : 'nothing was written'} (nothing left behind)`,
    { exit: true },
  );
  try {
    return await f();
  } finally {
    stop();
  }
}
