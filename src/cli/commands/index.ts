// Every CLI command, one module each. A command module exports `register(program)`.
import type { Command } from 'commander';
import { register as demo } from './demo.js';
import { register as levels } from './levels.js';
import { register as explain } from './explain.js';
import { register as convert } from './convert.js';
import { register as quantizeDir } from './quantize-dir.js';
import { register as inspect } from './inspect.js';
import { register as quantize } from './quantize.js';
import { register as compare } from './compare.js';
import { register as evalCmd } from './eval.js';
import { register as report } from './report.js';

export const COMMANDS: ((program: Command) => void)[] = [demo, convert, quantize, quantizeDir, inspect, compare, evalCmd, report, levels, explain];
