// Measures --target-size and --encoder best against llama.cpp's own mixes on one real model, as the
// README's table shows them. Usage:
//   node --import tsx tools/measure-target.ts --name NAME --f32 MODEL-F32.gguf --calib TEXT --out DIR
//        [--mixes Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q4_0] [--eval-text FILE] [--chunks N] [--ctx N]
//        [--variants llama,best,target,target+best,target-s,target-s+best,target-t,target-t+best,
//         target-t+refine,target-t+refine+best,target+refine,gptq,target-t+gptq,target-t+refine+gptq]
//        (+refine: --refine; gptq: --calibrate on the same text and ctx, --encoder gptq)
//        --calib generated[:CHUNKS]: the model's own documents (seed 2) instead of a text, for the
//        matrix (lowbit imatrix, byte-identical to llama-imatrix on the same kernels) and --calibrate
// (target-s: --sensitivity engine; target-t: --sensitivity engine-tensors; each measured once per
// model into DIR/sensitivity.json / DIR/sensitivity-tensors.json and replayed for every size)
// Steps: llama.cpp's llama-imatrix on --calib (built by tools/build-llama-tools.sh); per mix,
// llama.cpp's llama-quantize with that imatrix (the baseline), lowbit with the same types and
// --encoder best, and lowbit --target-size at the baseline's exact file size (default encoder, and
// with --encoder best); each file judged with `lowbit eval` against the F32 model (KL, p99 KL,
// same-top %). Writes DIR/results.json and prints a markdown table. Nothing here tunes anything:
// every option is the CLI's default.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, cpus } from 'node:os';

const args = process.argv.slice(2);
const opt = (k: string, d?: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const name = opt('name')!,
  f32 = opt('f32')!,
  calib = opt('calib')!,
  out = opt('out')!;
const mixes = opt('mixes', 'Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q4_0')!.split(',');
const evalText = opt('eval-text');
const chunks = opt('chunks'),
  ctx = opt('ctx');
const variants = opt('variants', 'llama,best,target,target+best')!.split(',');
// Q4_0 is there for the same-type encoders alone (llama.cpp has no Q4_0 mix to beat by size)
const variantsFor = (mix: string) =>
  mix === 'Q4_0' ? variants.filter((v) => v === 'llama' || v === 'best' || v === 'gptq') : variants;
if (!name || !f32 || !calib || !out) {
  console.error('usage: see the header of tools/measure-target.ts');
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const here = new URL('..', import.meta.url).pathname;
// LLAMA_BIN: a bin directory with llama-imatrix (and llama-quantize); else tools/build-llama-tools.sh's
const bin =
  process.env.LLAMA_BIN ??
  execFileSync('bash', [join(here, 'tools/build-llama-tools.sh')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
const lowbit = (a: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'src/cli/main.ts'), ...a], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`lowbit ${a.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

const imatrix = join(out, 'imatrix.gguf');
// --calib generated[:CHUNKS]: no text; the model writes its calibration documents (seed 2, CHUNKS
// chunks of ctx tokens, default 125), for models no text represents (a stand-in vocabulary)
const generated = calib.startsWith('generated') ? (calib.split(':')[1] ?? '125') : null;
const calibArgs = generated
  ? ['--calibrate', '--ctx', ctx ?? '128', '--chunks', generated]
  : ['--calibrate', calib, '--ctx', ctx ?? '128'];
if (!existsSync(imatrix) && generated) {
  lowbit(['imatrix', f32, '-o', imatrix, '--ctx', ctx ?? '128', '--chunks', generated, '--threads', '1']);
} else if (!existsSync(imatrix)) {
  const r = spawnSync(
    join(bin, 'llama-imatrix'),
    ['-m', f32, '-f', calib, '-o', imatrix, '-c', ctx ?? '128', '-t', '1', '--no-ppl'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`llama-imatrix: ${r.stderr.slice(-2000)}`);
}

interface Row {
  mix: string;
  variant: string;
  file: string;
  bytes: number;
  bpw: number;
  kl: number;
  klP99: number;
  sameTop: number;
  ppl: number;
  quantizeSeconds?: number;
  searchSeconds?: number;
}
const resultsPath = join(out, 'results.json');
const rows: Row[] = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')).rows : [];
const nElements = (() => {
  const j = JSON.parse(lowbit(['inspect', f32, '--json']));
  return j.totals?.parameters ?? j.nElements ?? j.parameters;
})();

function evaluate(file: string): { kl: number; klP99: number; sameTop: number; ppl: number } {
  const a = ['eval', file, '--ref', f32, '--json'];
  if (evalText) a.push('--text', evalText);
  if (chunks) a.push('--chunks', chunks);
  if (ctx) a.push('--ctx', ctx);
  const j = JSON.parse(lowbit(a));
  return { kl: j.klMean, klP99: j.klP99, sameTop: j.sameTopPct, ppl: j.perplexity };
}

// --sensitivity engine / engine-tensors, measured once per model (it does not depend on the size) and reused
function sensitivity(size: number, how: 'engine' | 'engine-tensors'): string {
  const sensPath = join(out, how === 'engine' ? 'sensitivity.json' : 'sensitivity-tensors.json');
  if (!existsSync(sensPath)) {
    const j = JSON.parse(
      lowbit([
        'quantize',
        f32,
        '--dry-run',
        '--json',
        '--target-size',
        String(size),
        '--imatrix',
        imatrix,
        '--sensitivity',
        how,
      ]),
    );
    writeFileSync(sensPath, JSON.stringify(j.target.sensitivity, null, 2));
  }
  return sensPath;
}

for (const mix of mixes) {
  const base = join(out, `${mix}-llama.gguf`);
  if (!existsSync(base)) {
    if (existsSync(join(bin, 'llama-quantize'))) {
      const r = spawnSync(join(bin, 'llama-quantize'), ['--imatrix', imatrix, f32, base, mix, '1'], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`llama-quantize: ${r.stderr.slice(-2000)}`);
    } else {
      // lowbit's default quantize writes llama-quantize's bytes (the test suite proves it against llama_model_quantize)
      lowbit(['quantize', f32, base, '--type', mix, '--imatrix', imatrix, '--threads', '1']);
    }
  }
  const size = statSync(base).size;
  for (const v of variantsFor(mix)) {
    if (rows.some((r) => r.mix === mix && r.variant === v)) continue;
    const file = v === 'llama' ? base : join(out, `${mix}-${v.replaceAll('+', '-')}.gguf`);
    let quantizeSeconds: number | undefined, searchSeconds: number | undefined;
    if (v !== 'llama') {
      const a = ['quantize', f32, file, '--json', '--threads', '1'];
      // +gptq: the same matrix computed in the run (--calibrate on the same text and ctx: the
      // byte-identical matrix), with the activations' correlations GPTQ needs
      if (v === 'gptq' || v.endsWith('+gptq')) a.push(...calibArgs, '--encoder', 'gptq');
      else a.push('--imatrix', imatrix);
      if (v === 'best' || v.endsWith('+best')) a.push('--encoder', 'best');
      if (v.includes('+refine')) a.push('--refine');
      if (v.startsWith('target-s')) a.push('--sensitivity', sensitivity(size, 'engine'));
      if (v.startsWith('target-t')) a.push('--sensitivity', sensitivity(size, 'engine-tensors'));
      if (v === 'best' || v === 'gptq') a.push('--type', mix);
      else a.push('--target-size', String(size));
      const j = JSON.parse(lowbit(a));
      quantizeSeconds = j.seconds;
      searchSeconds = j.target?.seconds;
    } else {
      // a plain lowbit quantize of the same mix, for the time the search adds
      const j = JSON.parse(
        lowbit([
          'quantize',
          f32,
          join(out, `${mix}-lowbit-plain.gguf`),
          '--type',
          mix,
          '--imatrix',
          imatrix,
          '--json',
          '--threads',
          '1',
        ]),
      );
      quantizeSeconds = j.seconds;
    }
    const bytes = statSync(file).size;
    const e = evaluate(file);
    const row: Row = {
      mix,
      variant: v,
      file,
      bytes,
      bpw: (bytes * 8) / nElements,
      ...e,
      quantizeSeconds,
      searchSeconds,
    };
    rows.push(row);
    writeFileSync(
      resultsPath,
      JSON.stringify(
        {
          name,
          f32,
          calib,
          evalText: evalText ?? null,
          machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
          rows,
        },
        null,
        2,
      ),
    );
    console.error(
      `${name} ${mix} ${v}: ${bytes} B, KL ${e.kl.toFixed(5)}, p99 ${e.klP99.toFixed(4)}, same-top ${e.sameTop.toFixed(2)}%`,
    );
  }
}

const label: Record<string, string> = {
  llama: "llama.cpp's mix",
  best: '--encoder best (same types)',
  target: '--target-size',
  'target+best': '--target-size --encoder best',
  'target-s': '--target-size --sensitivity engine',
  'target-s+best': '--target-size --sensitivity engine --encoder best',
  'target-t': '--target-size --sensitivity engine-tensors',
  'target-t+best': '--target-size --sensitivity engine-tensors --encoder best',
  'target-t+refine': '--target-size --sensitivity engine-tensors --refine',
  'target-t+refine+best': '--target-size --sensitivity engine-tensors --refine --encoder best',
  'target+refine': '--target-size --refine',
  gptq: '--encoder gptq (same types)',
  'target-t+gptq': '--target-size --sensitivity engine-tensors --encoder gptq',
  'target-t+refine+gptq': '--target-size --sensitivity engine-tensors --refine --encoder gptq',
};
console.log(`| ${name} | size | bpw | mean KL | vs llama.cpp | p99 KL | same top % | quantize s |`);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const mix of mixes) {
  const ref = rows.find((r) => r.mix === mix && r.variant === 'llama');
  for (const r of rows.filter((x) => x.mix === mix)) {
    console.log(
      `| ${mix} ${label[r.variant]} | ${(r.bytes / 1024).toFixed(0)} KiB | ${r.bpw.toFixed(3)} | ${r.kl.toFixed(5)} | ${ref ? (r.kl / ref.kl).toFixed(2) + '×' : ''} | ${r.klP99.toFixed(4)} | ${r.sameTop.toFixed(2)} | ${r.quantizeSeconds?.toFixed(1) ?? ''}${r.searchSeconds ? ` (search ${r.searchSeconds.toFixed(1)})` : ''} |`,
    );
  }
}
