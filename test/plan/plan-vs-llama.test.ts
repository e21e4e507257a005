// The plan's per-tensor types against llama.cpp's own choices: llama_model_quantize --dry-run (through
// koffi) on synthetic llama-architecture models, for every file type, with and without options.
// Dry runs need no codecs, so this covers file types whose codecs lowbit does not have yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaOracle, type LlamaQuantizeOptions } from '../../tools/llama-oracle.js';
import { writeSyntheticLlama, type SyntheticSpec } from '../pipeline/synthetic-model.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { planGguf } from '../../src/plan/from-gguf.js';
import { FILE_TYPES, parseFileType } from '../../src/plan/file-types.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { typeName, type PlanOptions } from '../../src/plan/plan.js';

const llama = loadLlamaOracle();
if (!llama) throw new Error('llama oracle (libllama from @node-llama-cpp/linux-x64) is not available');

/** name -> ggml type name, in llama.cpp's order, parsed from its per-tensor log lines. */
function llamaDryRun(path: string, opts: LlamaQuantizeOptions): [string, string][] {
  const log = llama!.quantize(path, '/dev/null', { ...opts, dryRun: true, nthread: 1 });
  const out: [string, string][] = [];
  const re =
    /\[\s*\d+\/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\S+), (?:[^\n]*?)size =\s*[\d.]+ MiB(?: ->\s*[\d.]+ MiB \((\S+)\))?/g;
  for (const m of log.matchAll(re)) out.push([m[1]!, m[3] ?? m[2]!]);
  if (out.length === 0) throw new Error(`no tensor lines in llama.cpp's log:\n${log}`);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'lowbit-plan-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const VARIANTS: Record<string, SyntheticSpec> = {
  base: { nLayer: 8 },
  gqaTied: { nLayer: 9, nHead: 8, nHeadKv: 2, tied: true },
  oddRows: {
    nLayer: 16,
    nFf: 320,
    extra: [
      { name: 'odd_proj.weight', shape: [100, 4] },
      { name: 'blk.3.attn_q_a.weight', shape: [96, 8] },
      { name: 'proj5', shape: [256, 4] },
      { name: 'blk.1.attn_q.bias', shape: [256, 2] },
    ],
  },
  moe8: { nLayer: 8, nHead: 8, nHeadKv: 2, nExpert: 8, nFf: 64 },
  moe4: { nLayer: 4, nExpert: 4, nFf: 256 },
};

const written = new Map<string, Promise<string>>();
function model(name: string): Promise<string> {
  if (!written.has(name)) {
    const p = join(dir, `${name}.gguf`);
    written.set(
      name,
      writeSyntheticLlama(p, VARIANTS[name]!).then(() => p),
    );
  }
  return written.get(name)!;
}

async function lowbitPlan(path: string, opts: PlanOptions): Promise<[string, string][]> {
  const src = await FileSource.open(path);
  try {
    const plan = planGguf(await readGgufHeader(src), opts);
    return plan.tensors.map((t) => [t.name, typeName(t.dstType)]);
  } finally {
    await src.close();
  }
}

for (const variant of Object.keys(VARIANTS)) {
  test(`every file type plans like llama.cpp: ${variant}`, async () => {
    const path = await model(variant);
    for (const ft of FILE_TYPES) {
      for (const hasImatrix of [false, true]) {
        const imatrix = hasImatrix ? new Map([['unused.weight', new Float32Array(4).fill(1)]]) : undefined;
        const what = `${variant} ${ft.name}${hasImatrix ? ' with imatrix' : ''}`;
        let expected: [string, string][] | Error;
        try {
          expected = llamaDryRun(path, { ftype: ft.id, imatrix });
        } catch (e) {
          expected = e as Error;
        }
        if (expected instanceof Error) {
          // e.g. Q1_0 has no fallback for rows that are not a multiple of 128: both must refuse
          const why = /failed to quantize: ([^\n]*)/.exec(expected.message)?.[1] ?? expected.message;
          await assert.rejects(
            lowbitPlan(path, { fileType: ft, hasImatrix }),
            (e: Error) => e.message.startsWith(why),
            what,
          );
          continue;
        }
        const actual = await lowbitPlan(path, { fileType: ft, hasImatrix });
        assert.deepEqual(actual, expected, what);
      }
    }
  });
}

test('options plan like llama.cpp: --pure, --tensor-type, --output-tensor-type, --token-embedding-type', async () => {
  const cases: { variant: string; ft: string; llama: Partial<LlamaQuantizeOptions>; plan: Partial<PlanOptions> }[] = [
    { variant: 'base', ft: 'Q4_K_M', llama: { pure: true }, plan: { pure: true } },
    { variant: 'oddRows', ft: 'Q3_K_M', llama: { pure: true }, plan: { pure: true } },
    {
      variant: 'base',
      ft: 'Q4_K_M',
      llama: { outputTensorType: GGML_TYPE.Q4_0 },
      plan: { outputTensorType: GGML_TYPE.Q4_0 },
    },
    {
      variant: 'gqaTied',
      ft: 'Q5_K_S',
      llama: { outputTensorType: GGML_TYPE.Q8_0 },
      plan: { outputTensorType: GGML_TYPE.Q8_0 },
    },
    {
      variant: 'gqaTied',
      ft: 'Q2_K',
      llama: { tokenEmbeddingType: GGML_TYPE.Q4_K },
      plan: { tokenEmbeddingType: GGML_TYPE.Q4_K },
    },
    {
      variant: 'base',
      ft: 'Q6_K',
      llama: { tokenEmbeddingType: GGML_TYPE.F16, outputTensorType: GGML_TYPE.Q2_K },
      plan: { tokenEmbeddingType: GGML_TYPE.F16, outputTensorType: GGML_TYPE.Q2_K },
    },
    {
      variant: 'base',
      ft: 'F16',
      llama: { tokenEmbeddingType: GGML_TYPE.Q8_0 },
      plan: { tokenEmbeddingType: GGML_TYPE.Q8_0 },
    },
    { variant: 'base', ft: 'Q4_K_M', llama: { leaveOutputTensor: true }, plan: { leaveOutputTensor: true } },
    { variant: 'gqaTied', ft: 'Q4_K_M', llama: { leaveOutputTensor: true }, plan: { leaveOutputTensor: true } },
  ];
  const tt = [
    { pattern: 'attn_v', type: GGML_TYPE.Q8_0 },
    { pattern: 'blk\\.[0-3]\\.ffn_down', type: GGML_TYPE.Q6_K },
    { pattern: 'ATTN_Q', type: GGML_TYPE.Q5_0 }, // llama-quantize lower-cases patterns
    { pattern: 'ffn_.*', type: GGML_TYPE.IQ4_NL }, // first match wins: blk.0-3 ffn_down stay q6_K
    { pattern: 'output', type: GGML_TYPE.Q4_1 },
  ];
  for (const [variant, ft] of [
    ['base', 'Q4_K_M'],
    ['oddRows', 'Q4_K_S'],
    ['moe8', 'IQ4_XS'],
    ['base', 'F16'],
  ] as const) {
    cases.push({
      variant,
      ft,
      llama: { tensorTypes: tt },
      plan: { tensorTypes: tt.map((t) => ({ ...t, pattern: t.pattern.toLowerCase() })) },
    });
  }
  cases.push({
    variant: 'base',
    ft: 'Q4_K_M',
    llama: { tensorTypes: tt, pure: true },
    plan: { tensorTypes: tt.map((t) => ({ ...t, pattern: t.pattern.toLowerCase() })), pure: true },
  });
  for (const c of cases) {
    const path = await model(c.variant);
    const ft = parseFileType(c.ft);
    const expected = llamaDryRun(path, { ftype: ft.id, ...c.llama });
    const actual = await lowbitPlan(path, { fileType: ft, ...c.plan });
    assert.deepEqual(actual, expected, `${c.variant} ${c.ft} ${JSON.stringify(c.plan)}`);
  }
});
