// Makes the golden importance matrices in test/fixtures/imatrix/ with llama.cpp's own llama-imatrix
// (built from the source node-llama-cpp ships: tools/build-llama-tools.sh), so `npm test` compares
// lowbit imatrix with it without the build.
//
//   node --import tsx tools/make-imatrix-golden.ts
//
// 1. fixtures/brown-3m → F32 GGUF (lowbit convert hf), and the synthetic 4-expert MoE made from it
//    (test/support/moe-model.ts);
// 2. calib.txt (made once, committed): documents brown-3m writes (generateEvalText, seed 7), so the
//    text's licence is the model's (MIT);
// 3. llama-imatrix runs, from the repository root with relative paths (they are recorded in
//    imatrix.datasets), on 2 threads:
//      llama-imatrix -m <brown-f32> -f test/fixtures/imatrix/calib.txt -o brown3m.imatrix.gguf -c 128 --chunks 8 -t 2
//      the same with --output-format dat → brown3m.imatrix.dat
//      the same with --process-output --chunk 1 --chunks 4 → brown3m-output.imatrix.gguf
//      llama-imatrix -m <moe> -f calib.txt -o brown3m-moe.imatrix.gguf -c 128 --chunks 4 -t 2
//    and the commands are written to test/fixtures/imatrix/COMMANDS.txt.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeMoeModel } from '../test/support/moe-model.js';

const REPO = new URL('..', import.meta.url).pathname;
const FIX = join(REPO, 'test/fixtures/imatrix');

const GOLDEN_RUNS = [
  { out: 'brown3m.imatrix.gguf', model: 'dense', args: ['-c', '128', '--chunks', '8'] },
  { out: 'brown3m.imatrix.dat', model: 'dense', args: ['-c', '128', '--chunks', '8', '--output-format', 'dat'] },
  {
    out: 'brown3m-output.imatrix.gguf',
    model: 'dense',
    args: ['-c', '128', '--chunk', '1', '--chunks', '4', '--process-output'],
  },
  { out: 'brown3m-moe.imatrix.gguf', model: 'moe', args: ['-c', '128', '--chunks', '4'] },
] as const;

const CALIB_TEXT = 'test/fixtures/imatrix/calib.txt';

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'lowbit-imatrix-golden-'));
  const dense = join(tmp, 'brown-f32.gguf');
  const moe = join(tmp, 'brown-moe.gguf');
  execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'convert', 'hf', 'fixtures/brown-3m', dense], {
    cwd: REPO,
    stdio: 'inherit',
  });
  await makeMoeModel(dense, moe);
  if (!existsSync(join(REPO, CALIB_TEXT))) {
    const { generateEvalText } = await import('../src/eval/llama.js');
    const g = await generateEvalText({ model: dense, seed: 7, minTokens: 3000, docs: 1000, ctx: 128, threads: 1 });
    writeFileSync(join(REPO, CALIB_TEXT), g.text + '\n');
  }
  // LOWBIT_LLAMA_BIN: a bin folder with llama-imatrix already built (else tools/build-llama-tools.sh)
  const bin =
    process.env.LOWBIT_LLAMA_BIN ??
    execFileSync('bash', [join(REPO, 'tools/build-llama-tools.sh')], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!;
  const cmds: string[] = [];
  for (const r of GOLDEN_RUNS) {
    const outTmp = join(tmp, r.out);
    const args = ['-m', r.model === 'dense' ? dense : moe, '-f', CALIB_TEXT, '-o', outTmp, ...r.args, '-t', '2'];
    cmds.push(`llama-imatrix ${args.join(' ').replace(tmp, '<tmp>').replace(tmp, '<tmp>')}`);
    // llama.cpp's logger is asynchronous: now and then the last lines miss the pipe; run again then
    let p = spawnSync(join(bin, 'llama-imatrix'), args, { cwd: REPO, encoding: 'utf8' });
    for (let tries = 0; p.status === 0 && !/Final estimate: PPL/.test(p.stdout) && tries < 5; tries++)
      p = spawnSync(join(bin, 'llama-imatrix'), args, { cwd: REPO, encoding: 'utf8' });
    if (p.status !== 0 || !/Final estimate: PPL/.test(p.stdout))
      throw new Error(`llama-imatrix failed: ${p.stderr.slice(-2000)}`);
    copyFileSync(outTmp, join(FIX, r.out));
    writeFileSync(join(FIX, r.out.replace(/\.imatrix\.(gguf|dat)$/, `.$1.log`)), p.stdout);
  }
  writeFileSync(
    join(FIX, 'COMMANDS.txt'),
    `# made by tools/make-imatrix-golden.ts with ${bin}/llama-imatrix\n# <tmp>/brown-f32.gguf: lowbit convert hf fixtures/brown-3m; <tmp>/brown-moe.gguf: test/support/moe-model.ts\n${cmds.join('\n')}\n`,
  );
  console.log(`wrote ${GOLDEN_RUNS.length} golden matrices to ${FIX}`);
}

await main();
