// `lowbit levels`: the table of the 2^N codes and the value each stands for.
import type { Command } from 'commander';
import { levels, parseRange, step, levelCount, parseBits } from '../../teach/levels.js';
import { fmtNum } from '../format.js';

export function register(program: Command): void {
  program
    .command('levels')
    .description('show the 2^N quantization levels of N bits over a range, and the step between them')
    .requiredOption('--bits <n>', 'bits per value (1-16)')
    .option('--range <min,max>', 'the range the levels span, ends included', '0,1')
    .option('--json', 'print JSON')
    .action((opts: { bits: string; range: string; json?: boolean }) => {
      const bits = parseBits(opts.bits);
      const r = parseRange(opts.range);
      const table = levels(bits, r);
      const s = step(bits, r);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ bits, levels: table.length, range: r, step: s, table }, null, 2) + '\n');
        return;
      }
      const out: string[] = [];
      out.push(
        `${bits} bit${bits > 1 ? 's give' : ' gives'} 2^${bits} = ${levelCount(bits)} levels from ${fmtNum(r.min)} to ${fmtNum(r.max)}`,
      );
      out.push(`step = (max - min) / (2^${bits} - 1) = ${fmtNum(s)}`);
      out.push('');
      out.push(`${'code'.padStart(6)}  ${'binary'.padStart(Math.max(6, bits))}  value`);
      const show = (i: number) => {
        const l = table[i]!;
        out.push(
          `${String(l.code).padStart(6)}  ${l.code.toString(2).padStart(bits, '0').padStart(Math.max(6, bits))}  ${fmtNum(l.value)}`,
        );
      };
      if (table.length <= 64) table.forEach((_, i) => show(i));
      else {
        for (let i = 0; i < 8; i++) show(i);
        out.push(`${'…'.padStart(6)}  (${table.length - 16} more levels, each ${fmtNum(s)} apart)`);
        for (let i = table.length - 8; i < table.length; i++) show(i);
      }
      out.push('');
      out.push(
        `Any value in range is stored as the code of its nearest level, so rounding moves it by at most step/2 = ${fmtNum(s / 2)}.`,
      );
      process.stdout.write(out.join('\n') + '\n');
    });
}
