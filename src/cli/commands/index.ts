// Every CLI command, one module each. A command module exports `register(program)`.
// Modules load lazily: a run of one command imports only that command's module (start-up time
// matters for quick jobs); help and unknown commands load them all.
import type { Command } from 'commander';

type Register = (program: Command) => void;

export const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  demo: () => import('./demo.js'),
  convert: () => import('./convert.js'),
  quantize: () => import('./quantize.js'),
  'quantize-dir': () => import('./quantize-dir.js'),
  inspect: () => import('./inspect.js'),
  compare: () => import('./compare.js'),
  eval: () => import('./eval.js'),
  imatrix: () => import('./imatrix.js'),
  report: () => import('./report.js'),
  levels: () => import('./levels.js'),
  explain: () => import('./explain.js'),
  web: () => import('./web.js'),
};

/** The registrations needed for this command line: the named command's, or all of them. */
export async function commandsFor(argv: readonly string[]): Promise<Register[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const names = first !== undefined && first in COMMANDS ? [first] : Object.keys(COMMANDS);
  return Promise.all(names.map(async (n) => (await COMMANDS[n]!()).register));
}
