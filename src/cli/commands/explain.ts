// `lowbit explain VALUE --bits 8,4`: what rounding to N bits does to one value.
// `lowbit explain --format Q4_K`: how a block format lays out its bits; `--format Q4_K_M` (a
// llama.cpp file type): which tensors get which type; `explain 0.3 --format Q4_0`: where that value
// lands in that format (stored scale, code, bytes).
import type { Command } from 'commander';
import { LowbitError } from '../../errors.js';
import { parseBitsList, parseRange, roundToLevel } from '../../teach/levels.js';
import { describeFormat } from '../../teach/formats.js';
import { codecs } from '../../formats/registry.js';
import { findScalarFormat, scalarFormats } from '../../formats/scalar/registry.js';
import { describeScalarFormat } from '../../formats/scalar/describe.js';
import { FILE_TYPES } from '../../plan/file-types.js';
import { describeFileTypeMix } from '../../teach/file-type-mix.js';
import { valueInBlockFormat, valueInScalarFormat } from '../../teach/value-in-format.js';
import { fmtNum, fmtPct, table } from '../format.js';

interface Opts {
  bits: string;
  range: string;
  format?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('explain')
    .description('explain what quantizing a value to N bits costs it, or how a block format (Q4_K, …) stores weights')
    .argument('[value]', 'a number to quantize')
    .option('--bits <list>', 'bit widths, comma-separated', '8,4')
    .option('--range <min,max>', 'the range the levels span, ends included', '0,1')
    .option(
      '--format <name>',
      'a block format (Q4_0, Q4_K, IQ4_XS; "all" lists every one), a file type (Q4_K_M: its mix) or a scalar format (FP8_E4M3, INT4, NF4, ...); with VALUE: where VALUE lands in it',
    )
    .option('--json', 'print JSON')
    .action((value: string | undefined, opts: Opts) => {
      if (opts.format && value === undefined) return explainFormat(opts.format, opts.json);
      if (value === undefined)
        throw new LowbitError('explain needs a VALUE (e.g. lowbit explain 0.12 --bits 8,4) or --format NAME');
      const x = Number(value);
      if (value.trim() === '' || !Number.isFinite(x))
        throw new LowbitError(`value must be a finite number, got "${value}"`);
      if (opts.format) return explainValueInFormat(x, opts.format, opts.json);
      const r = parseRange(opts.range);
      const results = parseBitsList(opts.bits).map((b) => roundToLevel(x, b, r));
      if (opts.json) {
        process.stdout.write(JSON.stringify({ value: x, range: r, results }, null, 2) + '\n');
        return;
      }
      const rows = results.map((q) => [
        `${q.bits}`,
        `${q.levels}`,
        fmtNum(q.step),
        `${q.code}`,
        fmtNum(q.value),
        fmtNum(q.absError),
        q.relError === null ? '-' : fmtPct(q.relError, 2),
        `${fmtPct(q.savedVs32, 1)} (${fmtNum(q.ratioVs32, 3)}x smaller)`,
      ]);
      const out = [
        `${fmtNum(x)} on the range ${fmtNum(r.min)}..${fmtNum(r.max)}:`,
        '',
        table(['bits', 'levels', 'step', 'code', 'stored as', 'abs error', 'rel error', 'saved vs 32-bit float'], rows),
        '',
        'Each bit width splits the range into 2^bits evenly spaced levels; the value is stored as the code of the',
        'nearest level and read back as that level. Fewer bits: fewer, wider-spaced levels, a larger rounding error.',
      ];
      if (results.some((q) => q.clamped))
        out.push(`${fmtNum(x)} lies outside the range, so it was clamped to the nearest end first.`);
      process.stdout.write(out.join('\n') + '\n');
    });
}

/** Every format name explain knows, each once (F16/FP16 and BF16 are both block and scalar formats). */
function knownFormats(): string {
  const names: string[] = [];
  for (const n of [
    ...codecs().map((c) => c.name),
    ...FILE_TYPES.map((f) => f.name),
    ...scalarFormats().map((f) => f.name),
  ])
    if (!names.includes(n)) names.push(n);
  return names.join(', ');
}

const codecNamed = (name: string) => codecs().find((c) => c.name.toUpperCase() === name.trim().toUpperCase());
const fileTypeNamed = (name: string) => FILE_TYPES.find((f) => f.name === name.trim().toUpperCase());

function explainValueInFormat(x: number, name: string, json?: boolean): void {
  const c = codecNamed(name);
  const ft = c ? undefined : fileTypeNamed(name);
  if (ft)
    throw new LowbitError(
      `${ft.name} is a file type (a mix of block formats); give a block format, e.g. explain ${x} --format ${codecs().find((k) => k.type.id === ft.defaultType)?.name ?? 'Q4_K'}`,
    );
  const scalar = c ? undefined : findScalarFormat(name);
  if (!c && !scalar) throw new LowbitError(`unknown format "${name}"; known: ${knownFormats()}`);
  const r = c ? valueInBlockFormat(c, x) : valueInScalarFormat(scalar!, x);
  process.stdout.write((json ? JSON.stringify(r, null, 2) : r.text) + '\n');
}

function explainFormat(name: string, json?: boolean): void {
  // a llama.cpp file type that is not also a block format's name (Q4_K_M, IQ3_XS, ...): its mix
  const ft = codecNamed(name) ? undefined : fileTypeNamed(name);
  if (ft) {
    const mix = describeFileTypeMix(ft);
    process.stdout.write((json ? JSON.stringify(mix, null, 2) : mix.text) + '\n');
    return;
  }
  // scalar formats (FP8, INTn, NF4, FP16): their level grid; ggml names (F16, BF16, Q4_0...) win
  const scalar =
    name.toLowerCase() === 'all' || codecs().some((c) => c.name.toUpperCase() === name.toUpperCase())
      ? undefined
      : findScalarFormat(name);
  if (scalar) {
    const d = describeScalarFormat(scalar);
    process.stdout.write((json ? JSON.stringify(d, null, 2) : d.text) + '\n');
    return;
  }
  const list =
    name.toLowerCase() === 'all' ? [...codecs()] : [codecs().find((c) => c.name.toUpperCase() === name.toUpperCase())];
  if (!list[0]) throw new LowbitError(`unknown format "${name}"; known: ${knownFormats()}`);
  const described = list.map((c) => describeFormat(c!));
  if (json) {
    process.stdout.write(JSON.stringify(described.length === 1 ? described[0] : described, null, 2) + '\n');
    return;
  }
  process.stdout.write(described.map((d) => d.text).join('\n\n') + '\n');
}
