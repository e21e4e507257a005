// `lowbit demo`: the main job end to end on the bundled real tiny model (stories260K, MIT):
// import it to GGUF, quantize it to every type, run each in llama.cpp, and show what each type
// trades: size, bits per weight, weight error, perplexity, KL divergence, next-token agreement, speed.
import type { Command } from 'commander';
import { mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { LowbitError } from '../../errors.js';
import { onInterrupt } from '../interrupt.js';
import { refuseOutputOverInputs } from '../../node/output-guard.js';
import { withAtomicOutput } from '../../pipeline/atomic-output.js';
import { convertLlama2cFiles } from '../../node/convert-files.js';
import { quantizeGgufFile } from '../../pipeline/quantize-file.js';
import { parseFileType } from '../../plan/file-types.js';
import { collectReport } from './report.js';
import { buildReportHtml, type ReportData } from '../../report/html.js';
import { loadEchartsSource } from '../../report/echarts-source.js';
import { fmtBytes, table } from '../format.js';
import { ggmlTypeById } from '../../formats/ggml-types.js';
import type { QuantPlan } from '../../plan/plan.js';

/** Every llama.cpp file type lowbit produces, from most to fewest bits. */
export const DEMO_TYPES = [
  'F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_K_S', 'Q4_1', 'Q4_0',
  'IQ4_NL', 'IQ4_XS', 'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K', 'TQ2_0', 'TQ1_0',
];

export const BUNDLED_MODEL = fileURLToPath(new URL('../../../fixtures/stories260K.bin', import.meta.url));

interface DemoOpts { out: string; types?: string; chunks: string; ctx: string; threads?: string; json?: boolean; /** what it is doing now (for the Ctrl-C message) */ stage?: { now: string } }

export interface DemoRow {
  type: string;
  /** the weight types the plan chose, most weights first, e.g. 'Q8_0 78%, Q6_K 22%' */
  tensorTypes: string; file: string; sizeBytes: number; sizeVsF32: number; bitsPerWeight: number; sqnrDb: number;
  perplexity: number; klMean: number; sameTopPct: number; ppTokPerSec: number; genTokPerSec: number;
}

const say = (s: string) => process.stderr.write(s + '\n');

export async function runDemo(opts: DemoOpts): Promise<{ rows: DemoRow[]; ref: { file: string; sizeBytes: number; perplexity: number }; report: string; data: ReportData }> {
  const types = (opts.types ?? DEMO_TYPES.join(',')).split(',').map((t) => parseFileType(t.trim()).name);
  const threads = opts.threads === undefined ? undefined : Number(opts.threads);
  if (!existsSync(BUNDLED_MODEL)) throw new LowbitError(`the bundled model is missing: ${BUNDLED_MODEL}`);
  const dir = resolve(opts.out);
  const f32 = join(dir, 'stories260K-F32.gguf');
  const report = join(dir, 'report.html');
  const outputs = [f32, ...types.map((t) => join(dir, `stories260K-${t}.gguf`)), report];
  // none of the files it writes may be the model it reads (an --out of the fixtures folder, links)
  refuseOutputOverInputs(outputs, [BUNDLED_MODEL]);
  await mkdir(dir, { recursive: true });
  const stage = opts.stage ?? { now: '' };
  stage.now = `step 1, importing the bundled model to ${f32}`;
  say(`1. import the bundled llama2.c model (stories260K, MIT) → ${f32}`);
  await convertLlama2cFiles(BUNDLED_MODEL, undefined, f32, 'F32');
  const variants: string[] = [];
  const mixes: string[] = [];
  say(`2. quantize it to ${types.length} types`);
  for (const t of types) {
    const out = join(dir, `stories260K-${t}.gguf`);
    stage.now = `step 2, quantizing to ${t} (${variants.length} of ${types.length} done)`;
    const summary = await quantizeGgufFile(f32, out, { fileType: parseFileType(t), threads });
    variants.push(out);
    mixes.push(typeMix(summary.plan));
  }
  say('3. run every file in llama.cpp against the F32 model on text the F32 model writes (seeded)');
  stage.now = 'step 3, evaluating';
  // the report's own stages, as parts of step 3
  const step3 = { get now() { return stage.now; }, set now(s: string) { stage.now = `step 3, ${s}`; } };
  const data = await collectReport(f32, variants, {
    eval: true, hist: ['blk.0.attn_q.weight'], chunks: opts.chunks, ctx: opts.ctx, seed: '1', threads: opts.threads,
    title: 'lowbit demo: stories260K quantized to every llama.cpp type', stage: step3,
  });
  const refEval = data.ref!.eval!;
  const f32Size = (await stat(f32)).size;
  const rows: DemoRow[] = data.variants.map((v, i) => ({
    type: types[i]!, tensorTypes: mixes[i]!, file: v.file, sizeBytes: v.sizeBytes, sizeVsF32: v.sizeBytes / f32Size,
    bitsPerWeight: v.comparison!.total.bitsPerWeightB, sqnrDb: v.comparison!.total.sqnrDb,
    perplexity: v.eval!.perplexity, klMean: v.eval!.klMean!, sameTopPct: v.eval!.sameTopPct!,
    ppTokPerSec: v.eval!.ppTokPerSec, genTokPerSec: v.eval!.genTokPerSec,
  }));
  data.notes = [
    `Model: stories260K (llama2.c, karpathy/tinyllamas, MIT), imported to F32 GGUF; ${types.length} quantized variants.`,
    `Text: ${refEval.tokens} tokens the F32 model generated (seeded); ${refEval.settings.method}.`,
    `Engine: ${refEval.settings.engine}; ${refEval.settings.kvCache}, flash attention off.`,
  ];
  stage.now = `step 4, writing ${report}`;
  const html = buildReportHtml(data, await loadEchartsSource());
  await withAtomicOutput(report, (out) => out.sink.write(new TextEncoder().encode(html)), { inputs: [BUNDLED_MODEL] });
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
  return [...count].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${Math.round((100 * n) / total)}%`).join(', ');
}

export function formatDemo(r: Awaited<ReturnType<typeof runDemo>>): string {
  const fix = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
  const rows = [
    ['F32', 'F32 100%', fmtBytes(r.ref.sizeBytes), '100%', '32.00', '-', fix(r.ref.perplexity, 3), '0', '100.0', '-', '-'],
    ...r.rows.map((x) => [
      x.type, x.tensorTypes, fmtBytes(x.sizeBytes), `${(x.sizeVsF32 * 100).toFixed(0)}%`, fix(x.bitsPerWeight, 2), fix(x.sqnrDb, 1),
      fix(x.perplexity, 3), x.klMean.toFixed(5), x.sameTopPct.toFixed(1), fix(x.ppTokPerSec, 0), fix(x.genTokPerSec, 0),
    ]),
  ];
  return [
    table(['type', 'weights stored as', 'size', 'vs F32', 'bits/weight', 'SQNR dB', 'perplexity', 'KL vs F32', 'same top %', 'prompt tok/s', 'gen tok/s'], rows),
    '',
    'size/bits per weight: the whole file and its average weight; SQNR: signal-to-noise of all weights against F32',
    '(higher is better, +6 dB per bit); perplexity: how surprised the model is by the text (lower is better);',
    'KL: how far its next-token probabilities moved from F32 (0 = identical); same top: how often it picks',
    'the same next token as F32. Tiny models are hit harder by quantization than big ones: a 7B model loses',
    'far less at 4 bits than this 260K-parameter one. Its rows are 64 or 172 weights long: K-quants and IQ4_XS',
    'need rows of 256, so llama.cpp falls back to 32-block types for them (see "weights stored as"), and a row',
    'of 172 fits no block at all and stays F16 or F32.',
    `report with charts: ${r.report}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('quantize the bundled tiny model to every type, run each in llama.cpp, and compare (no network)')
    .option('--out <dir>', 'where the models and report.html go', 'lowbit-demo')
    .option('--types <list>', 'comma-separated file types (default: all)')
    .option('--chunks <n>', 'evaluation chunks', '4')
    .option('--ctx <n>', 'tokens per chunk', '256')
    .option('--threads <n>', 'threads for quantizing')
    .option('--json', 'print the results as JSON')
    .action(async (opts: DemoOpts) => {
      // Ctrl-C: say which step was cut short; the files finished so far stay (each complete: an
      // interrupted quantize leaves no temp), the report is not written
      const stage = { now: 'starting' };
      const stop = onInterrupt(() => `demo during ${stage.now}; files finished before it are in ${resolve(opts.out)}, no partial file left; report.html was not written`, { exit: true });
      let r;
      try { r = await runDemo({ ...opts, stage }); } finally { stop(); }
      if (opts.json) process.stdout.write(JSON.stringify({ ref: r.ref, rows: r.rows, report: r.report }, null, 2) + '\n');
      else process.stdout.write(formatDemo(r) + '\n');
    });
}
