// --target-size / --target-bpw: the file is at most the target and within 1 % of it, the same
// bytes for any thread count, the user's own type rules kept, and the output runs in llama.cpp.
// --encoder best files too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from './synthetic-model.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { runCli, REPO } from '../support/cli.js';
import { llamaLogProbs } from '../support/llama-logprobs.js';
import { compareGguf } from '../../src/analysis/compare-gguf.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-target-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const input = join(dir, 'model-f16.gguf');
writeFileSync(input, await encodeGguf(syntheticLlama({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 64, seed: 11 })));

async function typesOf(path: string): Promise<Map<string, number>> {
  const src = await FileSource.open(path);
  try {
    return new Map((await readGgufHeader(src)).tensors.map((t) => [t.name, t.type.id]));
  } finally {
    await src.close();
  }
}

test('--target-size: never above the target, within 1 % of it, the size predicted exactly', async () => {
  const f16 = statSync(input).size;
  // (between Q8_0 and F16 sizes no type lies in between: 1 % is then out of reach on so small a model)
  for (const frac of [0.2, 0.28, 0.37, 0.5]) {
    const target = Math.round(f16 * frac);
    const out = join(dir, `t${frac}.gguf`);
    const s = await quantizeGgufFile(input, out, {
      fileType: parseFileType('Q8_0'),
      target: { bytes: target },
      threads: 2,
    });
    const size = statSync(out).size;
    assert.ok(size <= target, `${frac}: ${size} > ${target}`);
    assert.ok(size >= 0.99 * target, `${frac}: ${size} is not within 1 % of ${target}`);
    assert.equal(s.target?.predictedBytes, size);
    assert.equal(s.outputBytes, size);
  }
});

test('--target-bpw: bits per weight of the tensor data at most the target', async () => {
  const out = join(dir, 'bpw.gguf');
  const s = await quantizeGgufFile(input, out, { fileType: parseFileType('Q8_0'), target: { bpw: 4.5 }, threads: 2 });
  assert.ok(s.bitsPerWeight <= 4.5 && s.bitsPerWeight >= 4.5 * 0.99, `${s.bitsPerWeight}`);
});

test('--target-size: the same bytes with 1 and 2 threads', async () => {
  const target = Math.round(statSync(input).size * 0.3);
  const a = join(dir, 'th1.gguf'),
    b = join(dir, 'th2.gguf');
  await quantizeGgufFile(input, a, { fileType: parseFileType('Q8_0'), target: { bytes: target }, threads: 1 });
  await quantizeGgufFile(input, b, {
    fileType: parseFileType('Q8_0'),
    target: { bytes: target },
    threads: 2,
    parallelMinElements: 0,
  });
  assert.ok(readFileSync(a).equals(readFileSync(b)));
});

test('--target-size keeps --tensor-type, --output-tensor-type and --token-embedding-type as given', async () => {
  const target = Math.round(statSync(input).size * 0.25);
  const out = join(dir, 'rules.gguf');
  const s = await quantizeGgufFile(input, out, {
    fileType: parseFileType('Q8_0'),
    target: { bytes: target },
    threads: 2,
    tensorTypes: [
      { pattern: 'attn_v', type: GGML_TYPE.Q8_0 },
      { pattern: 'blk\\.1\\.ffn_down', type: GGML_TYPE.Q2_K },
    ],
    outputTensorType: GGML_TYPE.Q6_K,
    tokenEmbeddingType: GGML_TYPE.Q4_0,
  });
  assert.ok(statSync(out).size <= target);
  const types = await typesOf(out);
  for (const l of [0, 1]) assert.equal(types.get(`blk.${l}.attn_v.weight`), GGML_TYPE.Q8_0);
  assert.equal(types.get('blk.1.ffn_down.weight'), GGML_TYPE.Q2_K);
  assert.equal(types.get('output.weight'), GGML_TYPE.Q6_K);
  assert.equal(types.get('token_embd.weight'), GGML_TYPE.Q4_0);
  // the others were chosen, and not all alike at this size
  const chosen = s.plan.tensors.filter((t) => t.kind === 'target');
  assert.equal(chosen.length, 2 * 7 - 2 - 1);
  assert.ok(new Set(chosen.map((t) => t.dstType)).size >= 2);
  // 1-D tensors stay F32
  assert.equal(types.get('output_norm.weight'), GGML_TYPE.F32);
});

test('--target-size too small, or with --target-bpw: one-line errors, nothing written', () => {
  const out = join(dir, 'never.gguf');
  let r = runCli(['quantize', input, out, '--target-size', '1000']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lowbit: the target is too small: .*\n$/);
  r = runCli(['quantize', input, out, '--target-size', '1MB', '--target-bpw', '4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lowbit: --target-size and --target-bpw cannot be used together\n$/);
  r = runCli(['quantize', input, out, '--target-size', 'lots']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lowbit: --target-size: cannot read 'lots'/);
  assert.ok(!existsSync(out));
});

test('--dry-run --json shows each chosen type, its predicted error and the candidates; writes nothing', () => {
  const target = Math.round(statSync(input).size * 0.3);
  const out = join(dir, 'dry.gguf');
  const r = runCli(['quantize', input, out, '--target-size', String(target), '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(out));
  const j = JSON.parse(r.stdout);
  assert.ok(j.outputBytes <= target && j.outputBytes >= 0.99 * target);
  assert.equal(j.target.predictedBytes, j.outputBytes);
  const chosen = j.tensors.filter((t: { kind: string }) => t.kind === 'target');
  assert.equal(chosen.length, 16); // 2 layers x 7 matrices, output, token_embd
  for (const t of chosen) {
    assert.equal(typeof t.predictedError, 'number');
    assert.match(t.reason, /^target: rel\. error/);
  }
  assert.equal(j.target.candidates.length, 16);
  const plain = runCli(['quantize', input, '--target-size', String(target), '--dry-run']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /target .*: predicted \d+ bytes \(.*% of it\), 16 tensors chosen, predicted error/);
  assert.match(plain.stdout, /search [\d.]+ s/);
});

const BROWN = join(REPO, 'fixtures/brown-3m');
test(
  'convert hf --target-bpw, and --encoder best, on the real brown-3m: load and run in llama.cpp, close to the F32 model',
  { skip: !existsSync(join(BROWN, 'model.safetensors')) && 'fixtures/brown-3m is absent' },
  async () => {
    const f32 = join(dir, 'brown-f32.gguf'),
      q = join(dir, 'brown-t.gguf');
    let r = runCli(['convert', 'hf', BROWN, f32]);
    assert.equal(r.code, 0, r.stderr);
    r = runCli(['convert', 'hf', BROWN, q, '--target-bpw', '4.5']);
    assert.equal(r.code, 0, r.stderr);
    const types = new Set((await typesOf(q)).values());
    assert.ok(types.size >= 3, 'a mixture of types');
    const best = join(dir, 'brown-best.gguf'),
      plain = join(dir, 'brown-q4km.gguf');
    r = runCli(['quantize', f32, best, '--type', 'Q4_K_M', '--encoder', 'best']);
    assert.equal(r.code, 0, r.stderr);
    r = runCli(['quantize', f32, plain, '--type', 'Q4_K_M']);
    assert.equal(r.code, 0, r.stderr);
    // mean KL(F32 || file) over the positions, in llama.cpp; llama.cpp's own Q4_K_M file is the yardstick
    const tokens = [1, 45, 17, 300, 12, 88, 5, 61, 230, 9, 14, 400, 33, 2, 150, 77];
    const a = await llamaLogProbs(f32, tokens);
    const meanKl = async (file: string) => {
      const b = await llamaLogProbs(file, tokens);
      let kl = 0;
      for (let p = 0; p < tokens.length; p++) {
        assert.ok(
          b[p]!.every((x) => x <= 0 && !Number.isNaN(x)),
          file,
        );
        for (let i = 0; i < a[p]!.length; i++)
          if (a[p]![i]! > -Infinity) kl += Math.exp(a[p]![i]!) * (a[p]![i]! - b[p]![i]!);
      }
      return kl / tokens.length;
    };
    const ref = await meanKl(plain);
    assert.ok(ref > 0 && ref < 1, `llama.cpp's Q4_K_M: mean KL ${ref}`);
    for (const file of [q, best]) {
      const kl = await meanKl(file);
      assert.ok(kl < 2 * ref, `${file}: mean KL ${kl}, llama.cpp's Q4_K_M ${ref}`);
    }
  },
);

test('a whole model with --encoder best: quantize.encoder recorded, the same types, the same bytes for 1 and 2 threads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-enc-'));
  try {
    const input = join(dir, 'in.gguf');
    writeFileSync(input, await encodeGguf(syntheticLlama({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 64, seed: 4 })));
    const a = join(dir, 'ggml.gguf'),
      b = join(dir, 'best.gguf'),
      b1 = join(dir, 'best1.gguf');
    await quantizeGgufFile(input, a, { fileType: parseFileType('Q4_K_M'), threads: 2 });
    await quantizeGgufFile(input, b, {
      fileType: parseFileType('Q4_K_M'),
      threads: 2,
      encoder: 'best',
      parallelMinElements: 0,
    });
    await quantizeGgufFile(input, b1, { fileType: parseFileType('Q4_K_M'), threads: 1, encoder: 'best' });
    assert.ok(readFileSync(b).equals(readFileSync(b1)));
    const head = async (p: string) => {
      const s = await FileSource.open(p);
      try {
        return await readGgufHeader(s);
      } finally {
        await s.close();
      }
    };
    const [ha, hb] = [await head(a), await head(b)];
    assert.equal(ha.metadata.get('quantize.encoder'), undefined);
    assert.equal(hb.metadata.get('quantize.encoder')?.value, 'best');
    assert.deepEqual(
      hb.tensors.map((t) => [t.name, t.type.id]),
      ha.tensors.map((t) => [t.name, t.type.id]),
    );
    // compare shows per tensor what ggml's own encoder would have cost: never less than best's (no imatrix here)
    const [sa, sb] = [await FileSource.open(input), await FileSource.open(b)];
    try {
      const r = await compareGguf(sa, sb);
      const quantized = r.tensors.filter((t) => t.typeB !== 'F32');
      assert.ok(quantized.length >= 14);
      for (const t of quantized) {
        assert.ok(t.ggmlRmse !== undefined && t.bestSaved !== undefined, t.name);
        assert.ok(t.bestSaved! >= -1e-9, `${t.name}: best's weighted error above ggml's (${t.bestSaved})`);
      }
      assert.ok(
        quantized.some((t) => t.bestSaved! > 0.01),
        'best saves error somewhere',
      );
    } finally {
      await sa.close();
      await sb.close();
    }
    const [sa2, sg] = [await FileSource.open(input), await FileSource.open(a)];
    try {
      assert.ok((await compareGguf(sa2, sg)).tensors.every((t) => t.ggmlRmse === undefined));
    } finally {
      await sa2.close();
      await sg.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--sensitivity engine measures each kind of tensor in llama.cpp (stories260K); a saved measurement is reused; bad ones are one-line errors', async () => {
  const f32 = join(dir, 'stories-f32.gguf');
  let r = runCli(['convert', 'llama2c', join(REPO, 'fixtures/stories260K.bin'), f32]);
  assert.equal(r.code, 0, r.stderr);
  r = runCli(['quantize', f32, '--target-bpw', '8.5', '--sensitivity', 'engine', '--dry-run', '--json'], {
    timeoutMs: 600_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const s = j.target.sensitivity;
  assert.equal(s.probeType, GGML_TYPE.Q4_0);
  for (const k of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'token_embd'])
    assert.ok(typeof s.kl[k] === 'number' && s.kl[k] >= 0, k);
  assert.ok(Object.values(s.kl as Record<string, number>).some((v) => v > 0));
  assert.match(j.target.measure, /measured KL per unit at q4_0/);
  const saved = join(dir, 'sens.json');
  writeFileSync(saved, JSON.stringify(s));
  const again = runCli(['quantize', f32, '--target-bpw', '8.5', '--sensitivity', saved, '--dry-run', '--json']);
  assert.equal(again.code, 0, again.stderr);
  // the same measurement gives the same plan
  assert.deepEqual(
    JSON.parse(again.stdout).tensors.map((t: { to: string }) => t.to),
    j.tensors.map((t: { to: string }) => t.to),
  );
  writeFileSync(saved, '{"probeType": 2, "kl": {"attn_q": -1}}');
  for (const [args, re] of [
    [['--target-bpw', '8.5', '--sensitivity', saved], /^lowbit: --sensitivity: .* does not hold/],
    [
      ['--target-bpw', '8.5', '--sensitivity', join(dir, 'none.json')],
      /^lowbit: --sensitivity: .* is not none, engine, engine-tensors or a readable JSON file/,
    ],
    [['--type', 'Q4_0', '--sensitivity', 'engine'], /^lowbit: --sensitivity needs --target-size or --target-bpw/],
  ] as [string[], RegExp][]) {
    const e = runCli(['quantize', f32, '--dry-run', ...args]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, re);
  }
});

test('--sensitivity engine-tensors measures each free tensor in llama.cpp (stories260K): its own factor, reused from a file, the file under the target runs in llama.cpp', async () => {
  const f32 = join(dir, 'stories-f32-t.gguf');
  let r = runCli(['convert', 'llama2c', join(REPO, 'fixtures/stories260K.bin'), f32]);
  assert.equal(r.code, 0, r.stderr);
  r = runCli(['quantize', f32, '--target-bpw', '8.5', '--sensitivity', 'engine-tensors', '--dry-run', '--json'], {
    timeoutMs: 900_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const s = j.target.sensitivity;
  assert.equal(s.probeType, GGML_TYPE.Q4_0);
  assert.equal(s.per, 'tensor');
  // one probe per free tensor whose rows Q4_0 fits: every one but the 172-wide ffn_down
  const cands = j.target.candidates as {
    name: string;
    sensitivity: number;
    options: { type: string; error: number }[];
  }[];
  const probed = cands.filter((c) => !c.name.includes('ffn_down')).map((c) => c.name);
  assert.deepEqual(Object.keys(s.kl).sort(), probed.sort());
  assert.ok(Object.values(s.kl as Record<string, number>).every((v) => v >= 0));
  // each probed tensor's factor is its own KL over its own relative error at Q4_0
  for (const c of cands.filter((x) => probed.includes(x.name))) {
    const nsr = c.options.find((o) => o.type === 'q4_0')!.error;
    assert.ok(Math.abs(c.sensitivity - Math.max(s.kl[c.name], 1e-12) / nsr) <= 1e-9 * c.sensitivity, c.name);
  }
  const layers = cands.filter((c) => c.name.endsWith('attn_q.weight')).map((c) => c.sensitivity);
  assert.ok(new Set(layers).size > 1, 'layers of one kind get their own factors');
  assert.match(j.target.measure, /its own measured KL per unit at q4_0/);
  const saved = join(dir, 'sens-t.json');
  writeFileSync(saved, JSON.stringify(s));
  const out = join(dir, 'stories-sens-t.gguf');
  r = runCli(['quantize', f32, out, '--target-bpw', '8.5', '--sensitivity', saved, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const w = JSON.parse(r.stdout);
  // the same measurement gives the same plan, and the file is what it predicted, under the target
  assert.deepEqual(
    w.tensors.map((t: { to: string }) => t.to),
    j.tensors.map((t: { to: string }) => t.to),
  );
  assert.ok(statSync(out).size <= j.target.targetBytes);
  assert.equal(statSync(out).size, j.target.predictedBytes);
  const lp = await llamaLogProbs(out, [1, 45, 17, 300, 12, 88, 5, 61]);
  for (const p of lp) assert.ok(p.every((x) => x <= 0 && !Number.isNaN(x)));
  writeFileSync(saved, JSON.stringify({ ...s, per: 'layer' }));
  const e = runCli(['quantize', f32, '--dry-run', '--target-bpw', '8.5', '--sensitivity', saved]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /^lowbit: --sensitivity: .* does not hold/);
});

test('--refine judges whole files in llama.cpp (stories260K): kept moves measured better, the written file is the one judged, under the target, it runs; bad uses are one-line errors', async () => {
  const f32 = join(dir, 'stories-f32-r.gguf');
  let r = runCli(['convert', 'llama2c', join(REPO, 'fixtures/stories260K.bin'), f32]);
  assert.equal(r.code, 0, r.stderr);
  const out = join(dir, 'stories-refined.gguf');
  r = runCli(['quantize', f32, out, '--target-bpw', '8.3', '--refine', '24', '--json'], { timeoutMs: 900_000 });
  assert.equal(r.code, 0, r.stderr);
  const w = JSON.parse(r.stdout);
  const rf = w.target.refine;
  assert.ok(rf.evals <= 24, `${rf.evals}`);
  assert.ok(rf.kl <= rf.klStart);
  let prev = rf.klStart;
  for (const m of rf.moves) {
    assert.equal(m.klBefore, prev);
    assert.ok(m.klAfter < m.klBefore);
    prev = m.klAfter;
  }
  assert.equal(prev, rf.kl);
  assert.match(w.target.measure, /then refined by measurement \(llama\.cpp KL on/);
  assert.ok(statSync(out).size <= w.target.targetBytes);
  assert.equal(statSync(out).size, w.target.predictedBytes);
  const src = await FileSource.open(out);
  try {
    assert.match(String((await readGgufHeader(src)).metadata.get('quantize.target')?.value), /^bpw 8\.3, refined$/);
  } finally {
    await src.close();
  }
  // the file written is the choice the judge scored last: the same KL on the same documents
  const { defaultEvalCtx, evalGguf, generateEvalText, ggufTrainContext, openKlJudge } =
    await import('../../src/eval/llama.js');
  const { REFINE_TOKENS } = await import('../../src/eval/refine-engine.js');
  const ctx = defaultEvalCtx(await ggufTrainContext(f32));
  const chunks = Math.max(2, Math.ceil(REFINE_TOKENS / ctx));
  const generated = await generateEvalText({ model: f32, seed: 2, minTokens: ctx * chunks + 1, ctx, docs: 1000 });
  const judge = await openKlJudge({ ref: f32, generated, ctx, chunks });
  try {
    assert.equal(await judge.kl(out), rf.kl);
    // and the judge is `lowbit eval`'s KL on the same documents
    const e = await evalGguf({ model: out, ref: f32, generated, ctx, chunks, genTokens: 2 });
    assert.equal(e.klMean, rf.kl);
  } finally {
    await judge.close();
  }
  const lp = await llamaLogProbs(out, [1, 45, 17, 300, 12, 88, 5, 61]);
  for (const p of lp) assert.ok(p.every((x) => x <= 0 && !Number.isNaN(x)));
  for (const [args, msg] of [
    [
      ['quantize', f32, join(dir, 'x.gguf'), '--type', 'Q4_0', '--refine'],
      /^lowbit: --refine needs --target-size or --target-bpw\n/,
    ],
    [['quantize', f32, join(dir, 'x.gguf'), '--target-bpw', '5', '--refine', '0'], /^lowbit: --refine takes a number/],
    [
      ['quantize', f32, join(dir, 'x.gguf'), '--target-bpw', '5', '--refine', 'many'],
      /^lowbit: --refine takes a number/,
    ],
    [
      [
        'convert',
        'llama2c',
        join(REPO, 'fixtures/stories260K.bin'),
        join(dir, 'x.gguf'),
        '--target-bpw',
        '5',
        '--refine',
      ],
      /^lowbit: convert llama2c: --refine needs a GGUF/,
    ],
  ] as const) {
    const e = runCli([...args]);
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, msg);
    assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
    assert.ok(!existsSync(join(dir, 'x.gguf')));
  }
});
