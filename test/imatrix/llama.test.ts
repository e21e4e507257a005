// `lowbit imatrix` against llama.cpp's own llama-imatrix: the committed golden matrices
// (test/fixtures/imatrix/, made by tools/make-imatrix-golden.ts with llama-imatrix built from the
// source node-llama-cpp ships), and live when that build is present. The model runs in llama.cpp
// (node-llama-cpp's libllama); the matrices must have the same tensors, identical counts and chunk
// counts, and every in_sum2 within 1e-4 relative (the CPU kernels differ: see the README).
// Also the bad inputs: short text, a model llama.cpp cannot run, a quantized model, an output in a
// missing folder, Ctrl-C mid-run, merging matrices of different models; and --calibrate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { runCli, REPO } from '../support/cli.js';
import { makeMoeModel, MOE_EXPERTS, MOE_USED } from '../support/moe-model.js';
import { makeBytelessModel } from '../support/byteless-model.js';
import { readRawImatrix } from '../../src/imatrix/file.js';
import type { RawImatrix } from '../../src/imatrix/collector.js';
import { BufferSource } from '../../src/io/source.js';

const FIX = join(REPO, 'test/fixtures/imatrix');
const TEXT = 'test/fixtures/imatrix/calib.txt';
const hasLib = existsSync(join(REPO, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so'));
const skip = hasLib ? false : 'node-llama-cpp linux-x64 binaries not installed';

let dir = '';
let dense = '';
let moe = '';

before(() => {
  if (!hasLib) return;
  dir = mkdtempSync(join(tmpdir(), 'lowbit-imatrix-'));
  dense = join(dir, 'brown-f32.gguf');
  moe = join(dir, 'brown-moe.gguf');
  const r = runCli(['convert', 'hf', 'fixtures/brown-3m', dense]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function moeModel(): Promise<string> {
  if (!existsSync(moe)) await makeMoeModel(dense, moe);
  return moe;
}

function raw(path: string): Promise<RawImatrix> {
  return readRawImatrix(new BufferSource(new Uint8Array(readFileSync(path)), path));
}

/** llama-imatrix's -c/--chunks/--chunk/--process-output/--output-format as lowbit's options. */
function lowbitArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c') out.push('--ctx', args[++i]!);
    else out.push(a);
  }
  return out;
}

function assertSameMatrix(mine: RawImatrix, ref: RawImatrix, what: string, tol = 1e-4): void {
  assert.equal(mine.legacy, ref.legacy, what);
  assert.deepEqual([...mine.entries.keys()], [...ref.entries.keys()], `${what}: the same tensors`);
  assert.equal(mine.chunkCount, ref.chunkCount, `${what}: chunk count`);
  assert.equal(mine.chunkSize, ref.chunkSize, `${what}: chunk size`);
  assert.deepEqual(mine.datasets, ref.datasets, `${what}: datasets`);
  let worst = 0,
    where = '';
  for (const [name, r] of ref.entries) {
    const m = mine.entries.get(name)!;
    assert.deepEqual(m.counts, r.counts, `${what}: counts of ${name}`);
    assert.equal(m.sums.length, r.sums.length, `${what}: size of ${name}`);
    for (let j = 0; j < r.sums.length; j++) {
      const a = m.sums[j]!,
        b = r.sums[j]!;
      const rel = Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
      if (rel > worst) {
        worst = rel;
        where = `${name}[${j}]: ${a} vs ${b}`;
      }
    }
  }
  assert.ok(worst <= tol, `${what}: in_sum2 differs by ${worst.toExponential(2)} relative at ${where}`);
}

const GOLDEN = [
  { out: 'brown3m.imatrix.gguf', model: 'dense', args: ['-c', '128', '--chunks', '8'] },
  { out: 'brown3m.imatrix.dat', model: 'dense', args: ['-c', '128', '--chunks', '8', '--output-format', 'dat'] },
  {
    out: 'brown3m-output.imatrix.gguf',
    model: 'dense',
    args: ['-c', '128', '--chunk', '1', '--chunks', '4', '--process-output'],
  },
  { out: 'brown3m-moe.imatrix.gguf', model: 'moe', args: ['-c', '128', '--chunks', '4'] },
] as const;

const haswell = { ...process.env, LOWBIT_GGML_CPU: 'haswell' };
const best = { ...process.env, LOWBIT_GGML_CPU: 'best' };

for (const g of GOLDEN) {
  test(
    `byte-identical to llama-imatrix's ${g.out} (${g.args.join(' ')}) on the same CPU kernels (node-llama-cpp's haswell variant, lowbit's default)`,
    { skip },
    async () => {
      const model = g.model === 'dense' ? dense : await moeModel();
      const out = join(dir, `same-${g.out}`);
      const r = runCli(['imatrix', model, '-f', TEXT, '-o', out, ...lowbitArgs(g.args), '--threads', '1'], {
        env: haswell,
      });
      if (r.code !== 0 && /cannot load .*haswell/.test(r.stderr)) return; // a CPU without AVX2: the other test still compares
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /CPU backend libggml-cpu-haswell\.so/);
      assert.ok(readFileSync(out).equals(readFileSync(join(FIX, g.out))), `${g.out}: the same bytes`);
      // the running perplexity and the final estimate, as llama-imatrix prints them
      const log = readFileSync(join(FIX, g.out.replace(/\.imatrix\.(gguf|dat)$/, '.$1.log')), 'utf8');
      assert.equal(r.stdout.split('\n')[0], /\[1\].*/.exec(log)![0]);
      assert.equal(r.stdout.split('\n')[1], /Final estimate.*/.exec(log)![0]);
    },
  );

  if (g.out === 'brown3m.imatrix.gguf')
    test(
      `byte-identical to llama-imatrix's ${g.out} with 2 threads (lowbit's persistent ggml threadpool)`,
      { skip },
      async () => {
        const out = join(dir, `two-${g.out}`);
        const r = runCli(['imatrix', dense, '-f', TEXT, '-o', out, ...lowbitArgs(g.args), '--threads', '2'], {
          env: haswell,
        });
        if (r.code !== 0 && /cannot load .*haswell/.test(r.stderr)) return;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(readFileSync(out).equals(readFileSync(join(FIX, g.out))), `${g.out}: the same bytes`);
      },
    );

  test(
    `equal to llama-imatrix's ${g.out} on ggml's best CPU variant for this machine (LOWBIT_GGML_CPU=best): same tensors and counts, sums within 1e-4`,
    { skip },
    async () => {
      const model = g.model === 'dense' ? dense : await moeModel();
      const out = join(dir, `mine-${g.out}`);
      const r = runCli(['imatrix', model, '-f', TEXT, '-o', out, ...lowbitArgs(g.args), '--threads', '1'], {
        env: best,
      });
      assert.equal(r.code, 0, r.stderr);
      // The best CPU variant (e.g. AVX-512) rounds matrix products and attention differently from
      // llama-imatrix's AVX2 build; through 4 layers that stays below 1e-4 for brown-3m. In the
      // synthetic MoE (random router, perturbed experts) it grows to ~8e-4 in the last layer's
      // ffn_down_exps (measured; the haswell test above shows the collection itself is exact). On a machine whose best
      // variant is haswell itself this compares identical files., so the
      // MoE is held to 1e-3 here.
      assertSameMatrix(await raw(out), await raw(join(FIX, g.out)), g.out, g.model === 'moe' ? 1e-3 : 1e-4);
      const log = readFileSync(join(FIX, g.out.replace(/\.imatrix\.(gguf|dat)$/, '.$1.log')), 'utf8');
      const theirs = [...log.matchAll(/\[(\d+)\]([\d.]+),/g)].map((m) => Number(m[2]));
      const mine = [...r.stdout.matchAll(/\[(\d+)\]([\d.]+),/g)].map((m) => Number(m[2]));
      assert.equal(mine.length, theirs.length, 'a perplexity per chunk');
      for (let i = 0; i < mine.length; i++)
        assert.ok(Math.abs(mine[i]! - theirs[i]!) <= 2e-4 * theirs[i]!, `chunk ${i + 1}: ${mine[i]} vs ${theirs[i]}`);
      if (g.model === 'moe') {
        // every token goes to MOE_USED experts: the per-expert counts add up to that many rows
        const m = await raw(out);
        const e = m.entries.get('blk.0.ffn_down_exps.weight')!;
        assert.equal(e.counts.length, MOE_EXPERTS);
        assert.equal(
          e.counts.reduce((a, b) => a + b, 0),
          MOE_USED * 4 * 128,
        );
        assert.ok(
          e.counts.every((c) => c > 0),
          `every expert used: ${e.counts}`,
        );
      }
    },
  );
}

/** llama-imatrix from tools/build-llama-tools.sh, when already built (never builds here). */
function llamaImatrix(): string | null {
  const base = process.env.LOWBIT_LLAMA_CACHE ?? join(homedir(), '.cache/lowbit');
  if (!existsSync(base)) return null;
  for (const d of readdirSync(base)) {
    const p = join(base, d, 'build/bin/llama-imatrix');
    if (d.startsWith('llama.cpp-') && existsSync(p)) return p;
  }
  return null;
}

test(
  'live: byte-identical to llama-imatrix built from the same source, running its own libraries (dense and MoE, other chunks)',
  { skip: skip || (llamaImatrix() ? false : 'llama-imatrix not built (tools/build-llama-tools.sh)') },
  async () => {
    const bin = llamaImatrix()!;
    for (const [name, model] of [
      ['dense', dense],
      ['moe', await moeModel()],
    ] as const) {
      const args = ['-c', '64', '--chunk', '2', '--chunks', '5'];
      const ref = join(dir, `live-ref-${name}.gguf`),
        mine = join(dir, `live-mine-${name}.gguf`);
      const p = spawnSync(bin, ['-m', model, '-f', TEXT, '-o', ref, ...args, '-t', '1'], {
        cwd: REPO,
        encoding: 'utf8',
      });
      assert.equal(p.status, 0, p.stderr.slice(-2000));
      // lowbit's runner on the built libllama / libggml-cpu (LOWBIT_LLAMA_LIB_DIR): the same kernels
      const r = runCli(['imatrix', model, '-f', TEXT, '-o', mine, ...lowbitArgs(args), '--threads', '1'], {
        env: { ...process.env, LOWBIT_LLAMA_LIB_DIR: join(bin, '..') },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(mine).equals(readFileSync(ref)), `live ${name}: the same bytes`);
    }
  },
);

test('merging: --in-file A --in-file B equals the counts and sums added', { skip }, async () => {
  const out = join(dir, 'merged.gguf');
  const r = runCli([
    'imatrix',
    '--in-file',
    join(FIX, 'brown3m.imatrix.gguf'),
    '--in-file',
    join(FIX, 'brown3m-output.imatrix.gguf'),
    '-o',
    out,
    '--ctx',
    '128',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const a = await raw(join(FIX, 'brown3m.imatrix.gguf')),
    b = await raw(join(FIX, 'brown3m-output.imatrix.gguf')),
    m = await raw(out);
  assert.deepEqual(m.datasets, [...a.datasets, ...b.datasets]);
  const e = m.entries.get('blk.1.ffn_down.weight')!;
  assert.deepEqual(e.counts, [
    a.entries.get('blk.1.ffn_down.weight')!.counts[0]! + b.entries.get('blk.1.ffn_down.weight')!.counts[0]!,
  ]);
  assert.equal(
    e.sums[7],
    Math.fround(a.entries.get('blk.1.ffn_down.weight')!.sums[7]! + b.entries.get('blk.1.ffn_down.weight')!.sums[7]!),
  );
  assert.ok(m.entries.has('output.weight'), 'output.weight comes from the --process-output matrix');
  assert.equal(m.chunkCount, 12); // 8 + 4 chunks of 128
});

test('merging matrices of different models fails with one line naming the first mismatched tensor', { skip }, () => {
  const r = runCli([
    'imatrix',
    '--in-file',
    join(FIX, 'brown3m.imatrix.gguf'),
    '--in-file',
    join(FIX, 'brown3m-moe.imatrix.gguf'),
    '-o',
    join(dir, 'never.gguf'),
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^lowbit: cannot merge .*brown3m\.imatrix\.gguf and .*brown3m-moe\.imatrix\.gguf: blk\.0\.ffn_down\.weight is only in/,
  );
  assert.ok(!existsSync(join(dir, 'never.gguf')));
});

test('bad input: text too short says how many tokens it has and needs', { skip }, () => {
  const short = join(dir, 'short.txt');
  writeFileSync(short, 'The house stood at the end of the road.\n');
  const r = runCli(['imatrix', dense, '-f', short, '-o', join(dir, 'x.gguf'), '--ctx', '128', '--threads', '1']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim().split('\n').pop()!,
    /^lowbit: the calibration text has \d+ tokens; a context of 128 needs at least 256/,
  );
  assert.ok(!existsSync(join(dir, 'x.gguf')));
});

test('bad input: a file llama.cpp cannot run as a model', { skip }, () => {
  const junk = join(dir, 'junk.gguf');
  writeFileSync(junk, 'not a model at all, just text\n');
  let r = runCli(['imatrix', junk, '-f', TEXT, '-o', join(dir, 'x.gguf')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /^lowbit: .*junk\.gguf: not a GGUF model llama\.cpp can run/);
  // a valid GGUF that is no model (an imatrix file)
  r = runCli(['imatrix', join(FIX, 'brown3m.imatrix.gguf'), '-f', TEXT, '-o', join(dir, 'x.gguf')]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim().split('\n').pop()!,
    /^lowbit: .*brown3m\.imatrix\.gguf: llama\.cpp cannot load this model/,
  );
  assert.ok(!existsSync(join(dir, 'x.gguf')));
});

test('bad input: LOWBIT_LLAMA_LIB_DIR that holds no llama.cpp build is one line naming it', { skip }, () => {
  const r = runCli(['imatrix', dense, '-f', TEXT, '-o', join(dir, 'x.gguf'), '--threads', '1'], {
    env: { ...process.env, LOWBIT_LLAMA_LIB_DIR: dir },
  });
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    /^lowbit: LOWBIT_LLAMA_LIB_DIR=.*: cannot load .*libggml-base\.so .*bin folder of a llama\.cpp build/,
  );
  assert.ok(!existsSync(join(dir, 'x.gguf')));
});

test(
  'bad input: a text the vocabulary cannot spell (no byte tokens) is one line where llama.cpp aborts',
  { skip },
  async () => {
    const model = join(dir, 'byteless.gguf');
    await makeBytelessModel(dense, model);
    const text = join(dir, 'euro.txt');
    writeFileSync(text, readFileSync(join(REPO, TEXT), 'utf8').replaceAll('\n', ' ') + ' Price: 5 \u20ac.');
    const line =
      /^lowbit: .*byteless\.gguf: llama\.cpp cannot tokenize this text: .* no token for "\u20ac" \(U\+20AC\) and no byte tokens/;
    for (const args of [
      ['imatrix', model, '-f', text, '-o', join(dir, 'x.gguf'), '--ctx', '128', '--threads', '1'],
      ['quantize', model, join(dir, 'x.gguf'), '--type', 'Q4_K_M', '--calibrate', text, '--ctx', '128'],
      ['eval', model, '--text', text, '--ctx', '128'],
    ]) {
      const r = runCli(args);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr.trim().split('\n').pop()!, line, args[0]);
      assert.doesNotMatch(r.stderr, /terminate called|out_of_range/);
      assert.ok(!existsSync(join(dir, 'x.gguf')));
    }
    // the same model runs a text it can spell (its 512 tokens cover the rest of this text)
    const ok = join(dir, 'spellable.txt');
    writeFileSync(ok, readFileSync(join(REPO, TEXT), 'utf8').replaceAll('\n', ' '));
    const r = runCli([
      'imatrix',
      model,
      '-f',
      ok,
      '-o',
      join(dir, 'ok.gguf'),
      '--ctx',
      '128',
      '--chunks',
      '2',
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // what llama.cpp itself does with it: llama-imatrix aborts (std::out_of_range from the tokenizer)
    const bin = llamaImatrix();
    if (bin) {
      const p = spawnSync(bin, ['-m', model, '-f', text, '-o', join(dir, 'ref.gguf'), '-c', '128', '-t', '1'], {
        encoding: 'utf8',
      });
      assert.equal(p.signal, 'SIGABRT', p.stderr.slice(-500));
      assert.match(p.stderr, /out_of_range/);
    }
  },
);

test('a quantized model is allowed (as llama-imatrix allows it) and the run says so', { skip }, async () => {
  const q = join(dir, 'q4km.gguf');
  assert.equal(runCli(['quantize', dense, q, '--type', 'Q4_K_M']).code, 0);
  const out = join(dir, 'q.imatrix.gguf');
  const r = runCli(['imatrix', q, '-f', TEXT, '-o', out, '--ctx', '128', '--chunks', '2', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note: the model's weights are quantized \(.*Q4_K.*\): allowed, as llama-imatrix allows it/);
  const m = await raw(out);
  assert.equal(m.entries.size, 28);
  assert.equal(m.chunkCount, 2);
});

test('bad input: an output in a missing folder fails before the run', { skip }, () => {
  const r = runCli(['imatrix', dense, '-f', TEXT, '-o', join(dir, 'no/such/dir/m.gguf'), '--threads', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /^lowbit: cannot write .*m\.gguf: folder .*no\/such\/dir does not exist$/);
  assert.doesNotMatch(r.stdout, /\[1\]/, 'no chunk was run');
});

test('output may not be an input', { skip }, () => {
  const r = runCli(['imatrix', dense, '-f', TEXT, '-o', TEXT]);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /^lowbit: output .*calib\.txt is the input file/);
});

test(
  'Ctrl-C mid-run exits 130 and leaves the last complete save (or nothing), never a temp file',
  { skip },
  async () => {
    const sub = mkdtempSync(join(dir, 'int-'));
    const out = join(sub, 'm.gguf');
    const p = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO, 'src/cli/main.ts'),
        'imatrix',
        dense,
        '-f',
        TEXT,
        '-o',
        out,
        '--ctx',
        '32',
        '--batch-size',
        '32',
        '--output-frequency',
        '1',
        '--threads',
        '1',
      ],
      { cwd: REPO },
    );
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => {
      const t = setInterval(() => {
        if (existsSync(out)) {
          clearInterval(t);
          p.kill('SIGINT');
        }
      }, 20);
      p.on('exit', (c) => {
        clearInterval(t);
        resolve(c);
      });
    });
    assert.equal(code, 130, stderr);
    assert.match(
      stderr,
      /lowbit: interrupted at chunk \d+ of \d+; .*m\.gguf holds the last complete save \(\d+ chunks\)/,
    );
    const m = await raw(out); // a complete, readable matrix
    assert.ok(m.chunkCount >= 1 && m.chunkCount < 90, `chunks ${m.chunkCount}`);
    assert.equal(m.entries.size, 28);
    assert.deepEqual(readdirSync(sub), ['m.gguf'], 'no temp file left');
  },
);

test("--show-statistics prints llama-imatrix's statistics; --json and --sort", { skip }, () => {
  let r = runCli(['imatrix', '--show-statistics', join(FIX, 'brown3m.imatrix.gguf'), '--json', '--sort', 'sum']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tensors.length, 28);
  for (let i = 1; i < j.tensors.length; i++) assert.ok(j.tensors[i - 1].sum >= j.tensors[i].sum);
  assert.equal(j.layers.length, 4);
  r = runCli(['imatrix', '--show-statistics', join(FIX, 'brown3m.imatrix.gguf')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /attn_k .* 100\.00%/);
});

test('quantize --calibrate equals lowbit imatrix then quantize --imatrix, byte for byte', { skip }, () => {
  const a = join(dir, 'cal.gguf'),
    m = join(dir, 'cal.imatrix.gguf');
  let r = runCli([
    'quantize',
    dense,
    a,
    '--type',
    'IQ2_XS',
    '--calibrate',
    TEXT,
    '--ctx',
    '128',
    '--chunks',
    '6',
    '--save-imatrix',
    m,
    '--threads',
    '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m2 = join(dir, 'hand.imatrix.gguf'),
    b = join(dir, 'hand.gguf');
  r = runCli(['imatrix', dense, '-f', TEXT, '-o', m2, '--ctx', '128', '--chunks', '6', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(m2), readFileSync(m), 'the same matrix');
  r = runCli(['quantize', dense, b, '--type', 'IQ2_XS', '--imatrix', m, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'the same quantized file');
});

test('convert hf --calibrate equals convert to F32, imatrix, then convert --imatrix', { skip }, () => {
  const a = join(dir, 'conv-cal.gguf'),
    m = join(dir, 'conv.imatrix.gguf');
  let r = runCli([
    'convert',
    'hf',
    'fixtures/brown-3m',
    a,
    '--type',
    'Q3_K_M',
    '--calibrate',
    TEXT,
    '--ctx',
    '128',
    '--chunks',
    '4',
    '--save-imatrix',
    m,
    '--threads',
    '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m2 = join(dir, 'conv-hand.imatrix.gguf'),
    b = join(dir, 'conv-hand.gguf');
  r = runCli(['imatrix', dense, '-f', TEXT, '-o', m2, '--ctx', '128', '--chunks', '4', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(m2), readFileSync(m), 'the same matrix');
  r = runCli(['convert', 'hf', 'fixtures/brown-3m', b, '--type', 'Q3_K_M', '--imatrix', m, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'the same converted file');
});

test(
  'without --text the model writes its own calibration documents (seeded), said and recorded in imatrix.datasets',
  { skip },
  async () => {
    const out = join(dir, 'gen.imatrix.gguf');
    const r = runCli(['imatrix', dense, '-o', out, '--ctx', '64', '--chunks', '2', '--threads', '1', '--seed', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no --text: the model writes its own calibration documents \(seeded\)/);
    assert.match(r.stderr, /text: \d+ documents the model wrote \(seed 3, \d+ tokens\)/);
    const m = await raw(out);
    assert.equal(m.chunkCount, 2);
    assert.equal(m.datasets.length, 1);
    assert.match(m.datasets[0]!, /^generated: \d+ documents written by .*brown-f32\.gguf \(seed 3, lowbit\)$/);
    // the same seed gives the same matrix
    const again = join(dir, 'gen2.imatrix.gguf');
    assert.equal(
      runCli(['imatrix', dense, '-o', again, '--ctx', '64', '--chunks', '2', '--threads', '1', '--seed', '3']).code,
      0,
    );
    assert.ok(readFileSync(again).equals(readFileSync(out)));
  },
);

test('a non-finite activation stops the run with one line naming the tensor and the chunk', { skip }, async () => {
  const { readGgufHeader } = await import('../../src/io/gguf/reader.js');
  const { FileSource } = await import('../../src/node/file-io.js');
  const bad = join(dir, 'nan.gguf');
  const bytes = Buffer.from(readFileSync(dense));
  const src = await FileSource.open(dense);
  try {
    const f = await readGgufHeader(src);
    const t = f.tensors.find((x) => x.name === 'blk.1.ffn_norm.weight')!;
    bytes.writeFloatLE(NaN, t.offset + 4 * 17);
  } finally {
    await src.close();
  }
  writeFileSync(bad, bytes);
  const out = join(dir, 'nan.imatrix.gguf');
  const r = runCli(['imatrix', bad, '-f', TEXT, '-o', out, '--ctx', '64', '--chunks', '3', '--threads', '1']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim().split('\n').pop()!,
    /^lowbit: non-finite activations in blk\.1\.ffn_(gate|up)\.weight \(chunks 1-3\): the model produces NaN\/Inf on this text$/,
  );
  assert.ok(!existsSync(out));
});
