#!/usr/bin/env node
// The lowbit command line. Each command lives in its own module under ./commands and registers
// itself on the program; this file only wires them up and turns expected errors into one line.
import { Command, CommanderError } from 'commander';
import { commandsFor } from './commands/index.js';
import { reportAndExit } from './errors.js';

const program = new Command();
program
  .name('lowbit')
  .description('Model quantization for JavaScript: GGUF, safetensors and ONNX, byte-identical to llama.cpp where formats are shared.')
  .version('0.1.0')
  .showHelpAfterError('(run lowbit --help for usage)')
  .exitOverride();

for (const register of await commandsFor(process.argv.slice(2))) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  reportAndExit(err);
}
