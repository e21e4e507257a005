// lowbit says what happened instead of leaving the user to find out: llama.cpp's fallbacks (rows
// that do not fit the requested type) are counted and named as llama.cpp counts them, in quantize,
// its dry run and convert --type; inspect names the file type and writes shapes and types as compare
// does; eval warns about a --ctx past the training context and a --ref that is another model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { loadLlamaOracle } from '../../tools/llama-oracle.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { STORIES } from '../support/hf-fixture.js';
import { runCli } from '../support/cli.js';
import { storiesModels } from '../eval/models.js';

let dir = '';
let input = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-say-'));
  input = join(dir, 'odd.gguf');
  // rows of 64 (K-quants and IQ4_XS fall back to 32-blocks), one of 96 and one of 40 (fits no block: F16)
  writeFileSync(
    input,
    await encodeGguf(
      syntheticLlama({
        nLayer: 2,
        nEmbd: 64,
        nFf: 128,
        nVocab: 32,
        weightType: GGML_TYPE.F32,
        extra: [
          { name: 'blk.0.odd96.weight', shape: [96, 4] },
          { name: 'blk.1.odd40.weight', shape: [40, 4] },
        ],
      }),
    ),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** llama.cpp's own fallback report from llama_model_quantize's log: "N of M" and each "from -> to". */
function llamaFallbacks(log: string): { n: number; of: number; moves: Map<string, number> } | undefined {
  const head = /WARNING: (\d+) of (\d+) tensor\(s\) required fallback quantization/.exec(log);
  if (!head) return undefined;
  const moves = new Map<string, number>();
  for (const m of log.matchAll(
    /warning: \S+\s+- ncols\s+\d+ not divisible by\s+\d+ \(required for type\s+(\S+)\) (?:\(WARNING: must use F16 due to unusual shape\) )?-> falling back to\s+(\S+)/g,
  )) {
    const k = `${m[1]} -> ${m[2]}`;
    moves.set(k, (moves.get(k) ?? 0) + 1);
  }
  return { n: Number(head[1]), of: Number(head[2]), moves };
}

/** lowbit's warning line, parsed the same way. */
function lowbitFallbacks(stderr: string): { n: number; of: number; moves: Map<string, number> } | undefined {
  const m =
    /warning: (\d+) of (\d+) tensor\(s\) required fallback quantization \(rows not a multiple of the type's block size\): (.*)$/m.exec(
      stderr,
    );
  if (!m) return undefined;
  const moves = new Map<string, number>();
  for (const part of m[3]!.split(', ')) {
    const p = /^(\d+) (\S+ -> \S+)$/.exec(part);
    assert.ok(p, `malformed part '${part}' in ${m[0]}`);
    moves.set(p[2]!, Number(p[1]));
  }
  return { n: Number(m[1]), of: Number(m[2]), moves };
}

test("quantize, its dry run and convert --type warn of llama.cpp's fallbacks with the same count and types as llama.cpp", () => {
  const llama = loadLlamaOracle();
  assert.ok(llama, 'llama.cpp (libllama from node-llama-cpp) loads through koffi on this platform');
  for (const type of ['Q4_K_M', 'Q6_K', 'IQ4_XS', 'Q2_K', 'Q3_K_S', 'TQ1_0', 'Q5_K_S', 'Q8_0']) {
    const ours = join(dir, `${type}.gguf`),
      theirs = join(dir, `${type}-llama.gguf`);
    const log = llama.quantize(input, theirs, { ftype: parseFileType(type).id, nthread: 1 });
    const want = llamaFallbacks(log);
    assert.ok(want && want.n > 0, `${type}: llama.cpp reports fallbacks\n${log}`);
    const run = runCli(['quantize', input, ours, '--type', type, '--threads', '1']);
    assert.equal(run.code, 0, run.stderr);
    const got = lowbitFallbacks(run.stderr);
    assert.ok(got, `${type}: no fallback warning in\n${run.stderr}`);
    assert.deepEqual(got, want, `${type}: ${run.stderr}`);
    const dry = runCli(['quantize', input, '--dry-run', '--type', type]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(lowbitFallbacks(dry.stdout), want, `${type} --dry-run`);
  }
});

test('a model whose rows all fit its types gets no fallback warning', async () => {
  const fits = join(dir, 'fits.gguf');
  writeFileSync(
    fits,
    await encodeGguf(
      syntheticLlama({ nLayer: 1, nEmbd: 256, nFf: 512, nVocab: 32, compactRows: 4, weightType: GGML_TYPE.F32 }),
    ),
  );
  for (const type of ['Q4_K_M', 'Q8_0']) {
    const r = runCli(['quantize', fits, join(dir, `fits-${type}.gguf`), '--type', type]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', type);
  }
});

test('convert --type warns of the same fallbacks as converting to F32 and then quantizing', () => {
  const f32 = join(dir, 'stories-f32.gguf');
  assert.equal(runCli(['convert', 'llama2c', STORIES, f32]).code, 0);
  const q = runCli(['quantize', f32, join(dir, 'stories-q4km.gguf'), '--type', 'Q4_K_M']);
  const c = runCli(['convert', 'llama2c', STORIES, join(dir, 'stories-conv-q4km.gguf'), '--type', 'Q4_K_M']);
  assert.equal(c.code, 0, c.stderr);
  const want = lowbitFallbacks(q.stderr);
  assert.ok(want && want.n > 0, q.stderr);
  assert.deepEqual(lowbitFallbacks(c.stderr), want, c.stderr);
  // stories260K: rows of 64 take 32-block types instead of the K-quants
  assert.match(c.stderr, /\d+ q4_K -> q5_0/);
});

test('inspect names the file type (Q4_K_M, not 15) and writes shapes and types as compare does', () => {
  const q = join(dir, 'insp-q4km.gguf');
  assert.equal(runCli(['quantize', input, q, '--type', 'Q4_K_M']).code, 0);
  const r = runCli(['inspect', q]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /general\.file_type\s+Q4_K_M \(15\)$/m);
  const j = JSON.parse(runCli(['inspect', q, '--json']).stdout);
  assert.equal(j.fileType, 'Q4_K_M');
  assert.equal(j.metadata['general.file_type'], 15);
  // every tensor: the shape and type cells inspect prints are the ones compare prints
  const cmp = runCli(['compare', input, q]);
  assert.equal(cmp.code, 0, cmp.stderr);
  let checked = 0;
  for (const t of j.tensors as { name: string; shape: number[]; type: string }[]) {
    const shape = `[${t.shape.join(', ')}]`;
    const esc = (s: string) => s.replace(/[.[\]]/g, '\\$&');
    assert.match(
      r.stdout,
      new RegExp(`^${esc(t.name)}\\s+${esc(shape)}\\s+${t.type}\\s`, 'm'),
      `inspect row of ${t.name}`,
    );
    assert.match(
      cmp.stdout,
      new RegExp(`^${esc(t.name)}\\s+${esc(shape)}\\s+F32\\s+${t.type}\\s`, 'm'),
      `compare row of ${t.name}`,
    );
    checked++;
  }
  assert.equal(checked, 23);
});

test('eval warns when --ctx exceeds the training context and when --ref is another model', () => {
  const m = storiesModels();
  // a copy that says it was trained on 64 tokens
  const short = join(dir, 'stories-ctx64.gguf');
  assert.equal(
    runCli(['quantize', m.f32, short, '--type', 'F32', '--override-kv', 'llama.context_length=int:64']).code,
    0,
  );
  const r = runCli(['eval', short, '--ctx', '128', '--chunks', '1'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^lowbit: warning: --ctx 128 exceeds the training context of \S*stories-ctx64\.gguf \(llama\.context_length = 64\).*use --ctx 64 or less$/m,
  );
  // within the training context: no warning
  const ok = runCli(['eval', short, '--ctx', '64', '--chunks', '1'], { timeoutMs: 300_000 });
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /warning/);
  // another model with the same vocabulary: one layer fewer
  const pruned = join(dir, 'stories-pruned.gguf');
  assert.equal(runCli(['quantize', m.f32, pruned, '--type', 'F32', '--prune-layers', '4']).code, 0);
  const d = runCli(['eval', pruned, '--ref', m.f32, '--ctx', '64', '--chunks', '1', '--json'], { timeoutMs: 300_000 });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /^lowbit: warning: --ref \S+ is a different model from \S+ \(llama\.block_count 4 vs 5\)/m);
  assert.equal(JSON.parse(d.stdout).warnings.length, 1);
  // a quantization of the reference: no warning
  const q = runCli(['eval', m.q8, '--ref', m.f32, '--ctx', '64', '--chunks', '1'], { timeoutMs: 300_000 });
  assert.equal(q.code, 0, q.stderr);
  assert.doesNotMatch(q.stderr, /warning/);
});

test('report --eval measures with the same text and amount as eval by default (same figures)', () => {
  const m = storiesModels();
  // trained on 128 tokens: the default chunk is then 128, not 512
  const ref = join(dir, 'stories-ctx128-f32.gguf'),
    q = join(dir, 'stories-ctx128-q4_0.gguf');
  assert.equal(
    runCli(['quantize', m.f32, ref, '--type', 'F32', '--override-kv', 'llama.context_length=int:128']).code,
    0,
  );
  assert.equal(runCli(['quantize', ref, q, '--type', 'Q4_0']).code, 0);
  const e = runCli(['eval', q, '--ref', ref, '--chunks', '3', '--json'], { timeoutMs: 600_000 });
  assert.equal(e.code, 0, e.stderr);
  const rep = runCli(['report', ref, q, '--eval', '--chunks', '3', '--json'], { timeoutMs: 600_000 });
  assert.equal(rep.code, 0, rep.stderr);
  const a = JSON.parse(e.stdout),
    b = JSON.parse(rep.stdout).variants[0].eval;
  for (const k of ['ctx', 'chunks', 'tokens', 'scored', 'perplexity', 'refPerplexity', 'klMean', 'klP99', 'sameTopPct'])
    assert.equal(b[k], a[k], k);
  assert.equal(a.ctx, 128);
  assert.deepEqual(b.text, a.text);
});
