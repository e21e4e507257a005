// The web app's --target-size / --target-bpw allocation and --encoder best, driven in headless
// Chromium: the plan table shows the allocation's chosen type, size and predicted error per tensor
// as `lowbit quantize --dry-run` does (same types, same errors, same predicted size), and each
// download is byte-identical to the CLI's output for the same options.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { needsChromium } from '../support/chromium.js';
import { syntheticLlama, encodeGguf } from '../pipeline/synthetic-model.js';
import { openApp, loadFile, loadFolder, quantizeInPage, pageError, REPO, type App } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-web-target-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// the README's picture of a size-targeted run: written to docs/ when LOWBIT_WRITE_DOCS=1 (else into the temp dir)
const DOCS = process.env.LOWBIT_WRITE_DOCS === '1' ? join(REPO, 'docs') : join(dir, 'docs');

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
function runCli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function cli(args: string[]): string {
  const r = runCli(args);
  assert.equal(r.code, 0, `lowbit ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const same = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.equal(a.length, b.length, `${what}: sizes`);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${what}: bytes differ`);
};

interface DryRunJson {
  outputBytes: number;
  fileType: string;
  tensors: { name: string; to: string; bytesOut: number; predictedError?: number | null }[];
  target?: { targetBytes: number; predictedBytes: number };
}

describe('the web app: size targets and --encoder best', { skip: needsChromium }, () => {
  let app: App;
  before(async () => {
    app = await openApp();
    const m = syntheticLlama({ nLayer: 2, nFf: 768, nVocab: 256, seed: 5 });
    writeFileSync(join(dir, 'tiny.gguf'), await encodeGguf(m));
  });
  after(async () => {
    await app?.close();
  });

  const setOptions =
    (o: { size?: string; bpw?: string; types?: string; encoder?: string; threads?: string }) =>
    async (page: App['page']) => {
      await page.fill('#target-size', o.size ?? '');
      await page.fill('#target-bpw', o.bpw ?? '');
      await page.fill('#target-types', o.types ?? '');
      await page.selectOption('#encoder', o.encoder ?? '');
      await page.fill('#threads', o.threads ?? '2');
    };
  const planTable = (page: App['page']) =>
    page.$$eval('#plan-table tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));

  test("--target-bpw: the plan is the CLI's dry run (types, predicted error, size); the download is the CLI's output", async () => {
    const { page } = app;
    await loadFile(page, join(dir, 'tiny.gguf'));
    assert.equal(await pageError(page), null);
    await page.selectOption('#type', 'Q4_K_M');
    await setOptions({ bpw: '4.2' })(page);
    await page.click('#plan-btn');
    await page.waitForFunction(
      () => !document.getElementById('plan')!.hidden || !document.getElementById('error')!.hidden,
      undefined,
      { timeout: 120_000 },
    );
    assert.equal(await pageError(page), null);
    const dry = JSON.parse(
      cli(['quantize', 'tiny.gguf', '--type', 'Q4_K_M', '--target-bpw', '4.2', '--dry-run', '--json']),
    ) as DryRunJson;
    const [head, ...rows] = await planTable(page);
    assert.deepEqual(head, ['tensor', 'shape', 'from', 'to', 'size', 'new size', 'predicted error', 'why']);
    assert.equal(rows.length, dry.tensors.length);
    const chosen = new Set<string>();
    for (const t of dry.tensors) {
      const r = rows.find((x) => x[0] === t.name)!;
      assert.equal(r[3], t.to, `${t.name}: the allocation's type`);
      assert.equal(
        r[6],
        t.predictedError === undefined || t.predictedError === null ? '' : t.predictedError.toExponential(2),
        `${t.name}: predicted error`,
      );
      if (t.predictedError !== undefined) chosen.add(t.to);
    }
    assert.ok(chosen.size >= 2, `the allocation mixes types (${[...chosen].join(', ')})`);
    assert.equal(
      Number(await page.getAttribute('#predicted', 'data-bytes')),
      dry.outputBytes,
      "the predicted size is the CLI's",
    );
    const text = (await page.textContent('#predicted')) ?? '';
    assert.match(
      text,
      new RegExp(`target [^(]+\\(${dry.target!.targetBytes} bytes\\): predicted ${dry.target!.predictedBytes} bytes`),
    );
    assert.match(text, /error measure: no imatrix: plain squared error/);

    const out = await quantizeInPage(page, 'Q4_K_M', setOptions({ bpw: '4.2' }));
    assert.equal(out.name, 'tiny-4.2bpw.gguf');
    cli(['quantize', 'tiny.gguf', 'bpw.gguf', '--type', 'Q4_K_M', '--target-bpw', '4.2', '--threads', '2']);
    same(out.bytes, readFileSync(join(dir, 'bpw.gguf')), 'page vs CLI, --target-bpw 4.2');
    assert.equal(out.bytes.length, dry.outputBytes);
    assert.match((await page.textContent('#done-text')) ?? '', /target .* predicted \d+ bytes/);
    assert.match(
      (await page.textContent('#done-text')) ?? '',
      /\(\d+\.\d\d s of it choosing the types\) on 2 threads/,
      "the search's time is said apart from the MB/s",
    );
    // the README's picture: the allocation's plan, the result, the error table and the report's charts
    await page.click('#plan-btn');
    await page.waitForFunction(() => !document.getElementById('plan')!.hidden, undefined, { timeout: 120_000 });
    await page.waitForFunction(
      () => !!(document.getElementById('report-frame') as HTMLIFrameElement).dataset.rendered,
      undefined,
      { timeout: 120_000 },
    );
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, 'web-target.png'), fullPage: true });
    assert.deepEqual(app.errors, []);
  });

  test('--target-size with --target-types and --encoder best: the same bytes as the CLI', async () => {
    const { page } = app;
    const size = `${Math.floor((readFileSync(join(dir, 'tiny.gguf')).length * 0.3) / 1000)}kB`;
    const o = { size, types: 'q8_0,q6_k,q5_k,q4_k,q3_k', encoder: 'best' };
    const out = await quantizeInPage(page, 'Q4_K_M', setOptions(o));
    assert.equal(out.name, `tiny-${size}-best.gguf`);
    cli([
      'quantize',
      'tiny.gguf',
      'size.gguf',
      '--type',
      'Q4_K_M',
      '--target-size',
      size,
      '--target-types',
      o.types,
      '--encoder',
      'best',
      '--threads',
      '2',
    ]);
    same(out.bytes, readFileSync(join(dir, 'size.gguf')), `page vs CLI, --target-size ${size} --encoder best`);
    assert.ok(
      Buffer.from(out.bytes).includes(Buffer.from('quantize.encoder')),
      'the file says it was made with --encoder best',
    );
  });

  test("--encoder best alone, on one thread and on two: the CLI's bytes, which differ from ggml's", async () => {
    const { page } = app;
    for (const threads of ['1', '2']) {
      const out = await quantizeInPage(page, 'Q4_K_M', setOptions({ encoder: 'best', threads }));
      assert.equal(out.name, 'tiny-Q4_K_M-best.gguf');
      cli([
        'quantize',
        'tiny.gguf',
        `best${threads}.gguf`,
        '--type',
        'Q4_K_M',
        '--encoder',
        'best',
        '--threads',
        threads,
      ]);
      same(
        out.bytes,
        readFileSync(join(dir, `best${threads}.gguf`)),
        `page vs CLI, --encoder best, ${threads} thread(s)`,
      );
    }
    cli(['quantize', 'tiny.gguf', 'ggml.gguf', '--type', 'Q4_K_M']);
    assert.ok(
      !Buffer.from(readFileSync(join(dir, 'ggml.gguf'))).equals(Buffer.from(readFileSync(join(dir, 'best2.gguf')))),
      "best is not ggml's encoding",
    );
  });

  test("a real model (brown-3m, as F16 GGUF) to a size target: the CLI's bytes", async () => {
    const { page } = app;
    const r = spawnSync(
      process.execPath,
      ['--import', TSX, MAIN, 'convert', 'hf', join(REPO, 'fixtures/brown-3m'), 'brown-3m-F16.gguf', '--type', 'F16'],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    await loadFile(page, join(dir, 'brown-3m-F16.gguf'));
    const t0 = Date.now();
    const out = await quantizeInPage(page, 'Q4_K_M', setOptions({ bpw: '4.5' }));
    console.log(
      `# brown-3m --target-bpw 4.5 in the page: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${await page.textContent('#done-text')}`,
    );
    cli([
      'quantize',
      'brown-3m-F16.gguf',
      'brown-bpw.gguf',
      '--type',
      'Q4_K_M',
      '--target-bpw',
      '4.5',
      '--threads',
      '2',
    ]);
    same(out.bytes, readFileSync(join(dir, 'brown-bpw.gguf')), 'page vs CLI, brown-3m --target-bpw 4.5');
  });

  test('a Hugging Face folder (brown-3m) to a size target: equals `lowbit convert hf --target-bpw`', async () => {
    const { page } = app;
    await loadFolder(page, join(REPO, 'fixtures/brown-3m'));
    assert.equal(await pageError(page), null);
    const out = await quantizeInPage(page, 'Q4_K_M', setOptions({ bpw: '4.5' }));
    cli([
      'convert',
      'hf',
      join(REPO, 'fixtures/brown-3m'),
      'hf-bpw.gguf',
      '--type',
      'Q4_K_M',
      '--target-bpw',
      '4.5',
      '--threads',
      '2',
    ]);
    same(out.bytes, readFileSync(join(dir, 'hf-bpw.gguf')), 'page vs CLI, brown-3m folder --target-bpw 4.5');
  });

  test("bad target options: the CLI's one-line message in the page", async () => {
    const { page } = app;
    await loadFile(page, join(dir, 'tiny.gguf'));
    const cases: [Parameters<typeof setOptions>[0], string[]][] = [
      [{ size: '1GB', bpw: '4' }, ['--target-size', '1GB', '--target-bpw', '4']],
      [{ size: 'lots' }, ['--target-size', 'lots']],
      [{ types: 'q4_k' }, ['--target-types', 'q4_k']],
    ];
    for (const [o, args] of cases) {
      const r = runCli(['quantize', 'tiny.gguf', '--type', 'Q4_K_M', ...args, '--dry-run']);
      assert.equal(r.code, 1, `CLI ${args.join(' ')}`);
      await page.selectOption('#type', 'Q4_K_M');
      await setOptions(o)(page);
      await page.click('#plan-btn');
      await page.waitForFunction(() => !document.getElementById('error')!.hidden);
      assert.equal(await pageError(page), r.stderr.trim(), `page ${args.join(' ')}`);
    }
    await setOptions({})(page);
  });
});
