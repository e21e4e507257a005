// `lowbit demo`: the main job end to end on the bundled real tiny model (brown-3m, a 256-wide Llama
// trained on the Brown corpus, MIT): convert it to GGUF, compute its importance matrix in llama.cpp,
// quantize it to every type (the i-quants with the matrix), run each in llama.cpp, and show what each
// type trades: size, bits per weight, weight error, perplexity, KL divergence, next-token agreement, speed.
import type { Command } from 'commander';
import { mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join, resolve } from 'node:path';
import { LowbitError } from '../../errors.js';
import { loadEngine } from '../../node/engines.js';
import { onInterrupt } from '../interrupt.js';
import { refuseOutputOverInputs } from '../../node/output-guard.js';
import { withAtomicOutput } from '../../node/atomic-output.js';
import { convertHfDir } from '../../node/convert-files.js';
import { computeImatrixFile, loadImatrixInput } from '../../node/imatrix.js';
import { quantizeGgufFile } from '../../node/quantize-file.js';
import { parseFileType } from '../../plan/file-types.js';
import { collectReport } from '../../eval/report.js';
import { buildReportHtml, type ReportData } from '../../report/html.js';
import { loadEchartsSource } from '../../node/echarts-source.js';
import { fmtBytes, table } from '../format.js';
import { ggmlTypeById } from '../../formats/ggml-types.js';
import type { QuantPlan } from '../../plan/plan.js';
import type { KindSensitivity } from '../../pipeline/target.js';
import { HessianAccumulator } from '../../imatrix/hessian.js';
import { measureKindSensitivity } from '../../eval/sensitivity.js';

/** Every llama.cpp file type lowbit produces, from most to fewest bits. */
export const DEMO_TYPES = [
  'F16',
  'BF16',
  'Q8_0',
  'Q6_K',
  'Q5_K_M',
  'Q5_K_S',
  'Q5_1',
  'Q5_0',
  'Q4_K_M',
  'Q4_K_S',
  'Q4_1',
  'Q4_0',
  'IQ4_NL',
  'IQ4_XS',
  'IQ3_M',
  'Q3_K_L',
  'Q3_K_M',
  'IQ3_S',
  'Q3_K_S',
  'IQ3_XS',
  'IQ3_XXS',
  'Q2_K',
  'Q2_K_S',
  'IQ2_M',
  'IQ2_S',
  'IQ2_XS',
  'IQ2_XXS',
  'IQ1_M',
  'IQ1_S',
  'TQ2_0',
  'TQ1_0',
];

/** The types llama.cpp refuses to make without an importance matrix (the demo gives them its matrix). */
export const NEEDS_IMATRIX = new Set([
  'IQ1_S',
  'IQ1_M',
  'IQ2_XXS',
  'IQ2_XS',
  'IQ2_S',
  'IQ2_M',
  'IQ3_XXS',
  'IQ3_XS',
  'Q2_K_S',
]);

/** llama.cpp's K-quant mixes that get a `--target-size` row of the same file size beside them. */
export const TARGET_MIXES = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M'];

/** Float outputs: no importance matrix applies to them. */
const FLOAT_TYPES = new Set(['F16', 'BF16']);

export const BUNDLED_MODEL = fileURLToPath(new URL('../../../fixtures/brown-3m', import.meta.url));
/** The files of the bundled checkpoint: no output of the demo may be one of them. */
const BUNDLED_FILES = ['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json'].map((f) =>
  join(BUNDLED_MODEL, f),
);

interface DemoOpts {
  out: string;
  types?: string;
  chunks: string;
  ctx: string;
  threads?: string;
  json?: boolean;
  /** what it is doing now (for the Ctrl-C message) */ stage?: { now: string };
}

export interface DemoRow {
  /** the file type, or for a --target-size row 'target Q4_K_M', for an --encoder gptq row 'gptq Q4_K_M' */
  type: string;
  /** a --target-size row: the llama.cpp mix whose file size it was asked for, and that size */
  target?: { mix: string; bytes: number; searchSeconds: number };
  /** the weight types the plan chose, most weights first, e.g. 'Q8_0 78%, Q6_K 22%' */
  tensorTypes: string;
  file: string;
  sizeBytes: number;
  sizeVsF32: number;
  bitsPerWeight: number;
  sqnrDb: number;
  perplexity: number;
  klMean: number;
  sameTopPct: number;
  ppTokPerSec: number;
  genTokPerSec: number;
}

const say = (s: string) => process.stderr.write(s + '\n');

export async function runDemo(opts: DemoOpts): Promise<{
  rows: DemoRow[];
  ref: { file: string; sizeBytes: number; perplexity: number };
  report: string;
  data: ReportData;
}> {
  const types = (opts.types ?? DEMO_TYPES.join(',')).split(',').map((t) => parseFileType(t.trim()).name);
  const threads = opts.threads === undefined ? undefined : Number(opts.threads);
  if (!existsSync(BUNDLED_MODEL)) throw new LowbitError(`the bundled model is missing: ${BUNDLED_MODEL}`);
  await loadEngine('node-llama-cpp', 'demo');
  const dir = resolve(opts.out);
  const f32 = join(dir, 'brown-3m-F32.gguf');
  const imatrixPath = join(dir, 'brown-3m.imatrix.gguf');
  const report = join(dir, 'report.html');
  const targets = TARGET_MIXES.filter((t) => types.includes(t));
  const fileOf = (t: string) => join(dir, `brown-3m-${t}.gguf`);
  const targetFileOf = (t: string) => join(dir, `brown-3m-target-${t}.gguf`);
  const gptqFileOf = (t: string) => join(dir, `brown-3m-gptq-${t}.gguf`);
  const outputs = [
    f32,
    imatrixPath,
    ...types.map(fileOf),
    ...targets.map(targetFileOf),
    ...targets.map(gptqFileOf),
    report,
  ];
  // none of the files it writes may be the model it reads (an --out of the fixtures folder, links)
  refuseOutputOverInputs(outputs, BUNDLED_FILES);
  await mkdir(dir, { recursive: true });
  const stage = opts.stage ?? { now: '' };
  stage.now = `step 1, converting the bundled model to ${f32}`;
  say(`1. convert the bundled Hugging Face model (brown-3m, MIT) → ${f32}`);
  await convertHfDir(BUNDLED_MODEL, f32, 'F32', { name: 'brown-3m' });
  const ctx = Number(opts.ctx);
  let imatrixFile: string | null = null;
  let imatrixNote = '';
  // the activations' matrices for the --encoder gptq rows, from the same calibration run
  const hessian = targets.length ? new HessianAccumulator() : undefined;
  if (types.some((t) => NEEDS_IMATRIX.has(t)) || targets.length) {
    imatrixFile = imatrixPath;
    stage.now = `step 2, computing the importance matrix ${imatrixFile}`;
    say(
      `2. compute its importance matrix in llama.cpp (llama-imatrix's method) on documents the model writes (seed 2) → ${imatrixFile}`,
    );
    const im = await computeImatrixFile({
      model: f32,
      output: imatrixFile,
      ctx,
      chunks: 16,
      seed: 2,
      threads: threads ?? 1,
      outputFrequency: 0,
      hessian,
    });
    imatrixNote = `importance matrix: ${im.entries} tensors from ${im.chunks} chunks of ${im.chunkSize} tokens the model wrote (seed 2; the evaluation text is seed 1)`;
    say(`   ${imatrixNote}`);
  }
  // with a matrix, every quantized type uses it (as llama-quantize --imatrix would): the mixes and
  // the --target-size files beside them are then made from the same information
  const withMatrix = (t: string) => !!imatrixFile && !FLOAT_TYPES.has(t);
  const entries: { label: string; file: string; mix: string; target?: DemoRow['target'] }[] = [];
  say(
    `3. quantize it to ${types.length} types${imatrixFile ? ' with the matrix' : ''}${targets.length ? `, and with --target-size to the sizes of ${targets.join(', ')}` : ''}`,
  );
  const imatrix = imatrixFile ? await loadImatrixInput(imatrixFile) : undefined;
  // recorded in each file as quantize.imatrix.file: its name alone, so that the files (and the
  // --target-size budgets at the mixes' sizes) are the same wherever --out points
  if (imatrix && imatrixFile) imatrix.provenance.file = basename(imatrixFile);
  // the --target-size files weigh each tensor by its own measured effect in llama.cpp
  // (--sensitivity engine-tensors), measured once on documents the model writes (seed 2)
  let sensitivity: KindSensitivity | undefined;
  if (targets.length) {
    stage.now = "step 3, measuring each tensor's effect in llama.cpp for --target-size";
    say(
      "   measuring each tensor's effect on the output in llama.cpp (--sensitivity engine-tensors), once for every --target-size file",
    );
    sensitivity = await measureKindSensitivity(
      f32,
      { fileType: parseFileType('Q8_0'), threads, imatrix },
      { per: 'tensor' },
    );
  }
  for (const t of types) {
    const out = fileOf(t);
    stage.now = `step 3, quantizing to ${t} (${entries.length} files done)`;
    const summary = await quantizeGgufFile(f32, out, {
      fileType: parseFileType(t),
      threads,
      imatrix: withMatrix(t) ? imatrix : undefined,
    });
    entries.push({ label: t, file: out, mix: typeMix(summary.plan) });
    if (!targets.includes(t)) continue;
    // lowbit's own choice of types at exactly that file's size, from the same matrix
    const bytes = (await stat(out)).size;
    const tOut = targetFileOf(t);
    stage.now = `step 3, quantizing with --target-size ${bytes} (${t}'s size)`;
    const ts = await quantizeGgufFile(f32, tOut, {
      fileType: parseFileType('Q8_0'),
      target: { bytes, sensitivity },
      threads,
      imatrix,
    });
    entries.push({
      label: `target ${t}`,
      file: tOut,
      mix: typeMix(ts.plan),
      target: { mix: t, bytes, searchSeconds: ts.target!.seconds },
    });
    // llama.cpp's own types for the mix, rounded with GPTQ's compensation (--encoder gptq)
    const gOut = gptqFileOf(t);
    stage.now = `step 3, quantizing to ${t} with --encoder gptq`;
    const gs = await quantizeGgufFile(f32, gOut, {
      fileType: parseFileType(t),
      threads,
      imatrix,
      encoder: 'gptq',
      gptq: { moments: (name) => hessian!.get(name) },
    });
    entries.push({ label: `gptq ${t}`, file: gOut, mix: typeMix(gs.plan) });
  }
  const variants = entries.map((e) => e.file);
  say('4. run every file in llama.cpp against the F32 model on text the F32 model writes (seeded)');
  stage.now = 'step 4, evaluating';
  // the report's own stages, as parts of step 4
  const step4 = {
    get now() {
      return stage.now;
    },
    set now(s: string) {
      stage.now = `step 4, ${s}`;
    },
  };
  const data = await collectReport(f32, variants, {
    eval: true,
    hist: ['blk.0.attn_q.weight'],
    chunks: opts.chunks,
    ctx: opts.ctx,
    seed: '1',
    threads: opts.threads,
    title: `lowbit demo: brown-3m quantized to every llama.cpp type${targets.length ? ", and with --target-size at the K-quant mixes' sizes" : ''}`,
    stage: step4,
  });
  const refEval = data.ref!.eval!;
  const f32Size = (await stat(f32)).size;
  const rows: DemoRow[] = data.variants.map((v, i) => ({
    type: entries[i]!.label,
    ...(entries[i]!.target ? { target: entries[i]!.target } : {}),
    tensorTypes: entries[i]!.mix,
    file: v.file,
    sizeBytes: v.sizeBytes,
    sizeVsF32: v.sizeBytes / f32Size,
    bitsPerWeight: v.comparison!.total.bitsPerWeightB,
    sqnrDb: v.comparison!.total.sqnrDb,
    perplexity: v.eval!.perplexity,
    klMean: v.eval!.klMean!,
    sameTopPct: v.eval!.sameTopPct!,
    ppTokPerSec: v.eval!.ppTokPerSec,
    genTokPerSec: v.eval!.genTokPerSec,
  }));
  data.notes = [
    `Model: brown-3m (a 3.4M-parameter Llama trained on the Brown corpus, MIT), converted to F32 GGUF; ${types.length} quantized variants.`,
    ...(imatrixNote
      ? [
          `${imatrixNote[0]!.toUpperCase()}${imatrixNote.slice(1)}; used for every quantized type${targets.length ? ' and the --target-size files' : ''}.`,
        ]
      : []),
    ...(targets.length
      ? [
          `target Q4_K_M and the like: lowbit quantize --target-size --sensitivity engine-tensors at exactly that llama.cpp mix's file size (its own choice of type per tensor, each tensor's effect measured in llama.cpp once: ${sensitivity!.seconds.toFixed(1)} s; search ${entries
            .filter((e) => e.target)
            .map((e) => `${e.target!.searchSeconds.toFixed(1)} s`)
            .join(
              ', ',
            )}). gptq Q4_K_M and the like: the mix's own types, rounded with --encoder gptq (GPTQ's error compensation from the activations the calibration run measured).`,
        ]
      : []),
    `Text: ${refEval.tokens} tokens the F32 model generated (seeded); ${refEval.settings.method}.`,
    `Engine: ${refEval.settings.engine}; ${refEval.settings.kvCache}, flash attention off.`,
  ];
  stage.now = `step 5, writing ${report}`;
  const html = buildReportHtml(data, await loadEchartsSource());
  await withAtomicOutput(report, (out) => out.sink.write(new TextEncoder().encode(html)), { inputs: BUNDLED_FILES });
  return { rows, ref: { file: f32, sizeBytes: f32Size, perplexity: refEval.perplexity }, report, data };
}

/** Share of quantized weights per chosen type: llama.cpp's fallbacks show here (K-quants need rows of 256). */
function typeMix(plan: QuantPlan): string {
  const count = new Map<string, number>();
  let total = 0;
  for (const t of plan.tensors) {
    if (!t.quantizable) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const name = ggmlTypeById(t.dstType)?.ggmlName.toUpperCase() ?? String(t.dstType);
    count.set(name, (count.get(name) ?? 0) + n);
    total += n;
  }
  const parts = [...count].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${Math.round((100 * n) / total)}%`);
  // a --target-size mix can hold many types: the four largest shares, and how many more
  return parts.length > 5 ? `${parts.slice(0, 4).join(', ')}, +${parts.length - 4} more` : parts.join(', ');
}

export function formatDemo(r: Awaited<ReturnType<typeof runDemo>>): string {
  const fix = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
  // a weight error of exactly 0 (BF16 of a BF16 checkpoint) is 'exact', not 'Infinity' dB; a KL that
  // float rounding puts a hair below 0 prints as 0, not '-0.00000'
  const sqnr = (x: number) => (x === Infinity ? 'exact' : fix(x, 1));
  const kl = (x: number) => (Math.abs(x) < 5e-6 ? 0 : x).toFixed(5);
  const rows = [
    [
      'F32',
      'F32 100%',
      fmtBytes(r.ref.sizeBytes),
      '100%',
      '32.00',
      '-',
      fix(r.ref.perplexity, 3),
      '0',
      '100.0',
      '-',
      '-',
    ],
    ...r.rows.map((x) => [
      x.type,
      x.tensorTypes,
      fmtBytes(x.sizeBytes),
      `${(x.sizeVsF32 * 100).toFixed(0)}%`,
      fix(x.bitsPerWeight, 2),
      sqnr(x.sqnrDb),
      fix(x.perplexity, 3),
      kl(x.klMean),
      x.sameTopPct.toFixed(1),
      fix(x.ppTokPerSec, 0),
      fix(x.genTokPerSec, 0),
    ]),
  ];
  return [
    table(
      [
        'type',
        'weights stored as',
        'size',
        'vs F32',
        'bits/weight',
        'SQNR dB',
        'perplexity',
        'KL vs F32',
        'same top %',
        'prompt tok/s',
        'gen tok/s',
      ],
      rows,
    ),
    '',
    'size/bits per weight: the whole file and its average weight; SQNR: signal-to-noise of all weights against F32',
    '(higher is better, +6 dB per bit); perplexity: how surprised the model is by the text (lower is better);',
    'KL: how far its next-token probabilities moved from F32 (0 = identical); same top: how often it picks',
    'the same next token as F32. Tiny models are hit harder by quantization than big ones: a 7B model loses',
    'far less at 2-4 bits than this 3.4M-parameter one. The i-quants IQ1_S ... IQ3_XS and Q2_K_S need an',
    'importance matrix: the demo computes one in llama.cpp (as llama-imatrix does) and quantizes every type',
    'with it. "target Q4_K_M": lowbit quantize --target-size at exactly the Q4_K_M file\'s size, lowbit choosing',
    "each tensor's type from measured errors, each tensor weighed by its own effect on the output measured in",
    'llama.cpp (--sensitivity engine-tensors; same matrix, same evaluation): compare the KL of the two rows.',
    '"gptq Q4_K_M": the Q4_K_M mix\'s own types, rounded with --encoder gptq (each rounding error compensated',
    'by the weights still to round, from the activations measured while computing the matrix).',
    `report with charts: ${r.report}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'quantize the bundled tiny model (brown-3m) to every type, the i-quants with an importance matrix it computes, run each in llama.cpp, and compare (no network)',
    )
    .option('--out <dir>', 'where the models and report.html go', 'lowbit-demo')
    .option('--types <list>', 'comma-separated file types (default: all)')
    .option('--chunks <n>', 'evaluation chunks', '8')
    .option('--ctx <n>', 'tokens per chunk (brown-3m was trained on 128)', '128')
    .option('--threads <n>', 'threads for quantizing and the importance matrix')
    .option('--json', 'print the results as JSON')
    .action(async (opts: DemoOpts) => {
      // Ctrl-C: say which step was cut short; the files finished so far stay (each complete: an
      // interrupted quantize leaves no temp), the report is not written
      const stage = { now: 'starting' };
      const stop = onInterrupt(
        () =>
          `demo during ${stage.now}; files finished before it are in ${resolve(opts.out)}, no partial file left; report.html was not written`,
        { exit: true },
      );
      let r;
      try {
        r = await runDemo({ ...opts, stage });
      } finally {
        stop();
      }
      if (opts.json)
        process.stdout.write(JSON.stringify({ ref: r.ref, rows: r.rows, report: r.report }, null, 2) + '\n');
      else process.stdout.write(formatDemo(r) + '\n');
    });
}
