// Ctrl-C during a long write: say how far the run got. The atomic output's own SIGINT handler
// (registered when the output opens, so after this one) then removes the temp file and exits 130;
// before any output is open this handler exits 130 itself, as an unhandled SIGINT would.
export function onInterrupt(message: () => string): () => void {
  const handler = () => {
    process.stderr.write(`lowbit: interrupted ${message()}\n`);
    if (process.listenerCount('SIGINT') <= 1) process.exit(130);
  };
  process.on('SIGINT', handler);
  return () => { process.off('SIGINT', handler); };
}
