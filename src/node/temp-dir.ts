// Temporary folders a run makes for itself (`convert hf`'s F32 conversion, a calibration's matrix,
// the sensitivity probes and --refine's judged files): removed when the run is done with them, and
// also when it ends early. Ctrl-C ends a run through process.exit, which runs 'exit' handlers but no
// finally blocks; while a folder lives, SIGINT/SIGTERM also exit (130/143) once the other handlers
// have had their turn (their messages first; without this an engine's signal library would re-raise
// the signal and the process would die without 'exit').
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCleanup } from './exit-cleanup.js';

// deferred: Ctrl-C's messages (src/cli/interrupt.ts) come first, whenever their handlers were added
const dirs = exitCleanup((d) => rmSync(d, { recursive: true, force: true }), { deferExit: true });

export interface TempDir {
  path: string;
  /** removes the folder and everything in it (again: a no-op) */
  remove(): void;
}

/** A new folder `lowbit-<prefix>-XXXXXX` in the system's temp folder. */
export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `lowbit-${prefix}-`));
  dirs.track(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      dirs.untrack(path);
    },
  };
}
