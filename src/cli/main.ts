#!/usr/bin/env node
// The lowbit command line. Each command lives in its own module under ./commands and registers
// itself on the program; this file only wires them up and turns expected errors into one line.
// One error contract for every command: commander's own errors (a missing argument or required
// option, an unknown option or command, a bad option value) print as `lowbit: <problem>` on one
// line and exit 1, like every other bad input; --help and --version print to stdout and exit 0.
import { Command, CommanderError } from 'commander';
import { commandsFor } from './commands/index.js';
import { reportAndExit } from './errors.js';

const program = new Command();
program
  .name('lowbit')
  .description(
    'Model quantization for JavaScript: GGUF, safetensors and ONNX, byte-identical to llama.cpp where formats are shared.',
  )
  .version('0.1.0')
  .exitOverride();

for (const register of await commandsFor(process.argv.slice(2))) register(program);

/** `lowbit: <commander's message without its "error: ">, see lowbit <command> --help` on one line. */
function oneLineErrors(cmd: Command, path: string): void {
  cmd.configureOutput({
    outputError: (str, write) => {
      const problem = str
        .trim()
        .replace(/^error:\s*/i, '')
        .replace(/\s*\n\s*/g, ' ');
      write(`lowbit: ${problem} (see lowbit ${path}--help)\n`);
    },
  });
  for (const sub of cmd.commands) oneLineErrors(sub, `${path}${sub.name()} `);
}
oneLineErrors(program, '');

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // help and version: exit 0; the help shown for a missing subcommand and every usage error: exit 1
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 1);
  reportAndExit(err);
}
