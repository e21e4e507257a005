// `npm run bench -- --web`: the web app against the CLI. Speed: the same model (the bench's small
// synthetic llama, F32) quantized by `lowbit quantize` (dist/cli/bundle) and in the page (dist/web
// in headless Chromium, served by `lowbit web`'s server), alternating, at the same thread count;
// MB/s = tensor bytes in / the run's own seconds (the CLI's --json `seconds`, the page's from the
// click to the last byte written); the page's first output is compared with the CLI's byte for byte.
// Memory: a synthetic llama of at least 2 GB quantized in the page while the resident set of every
// Chromium process (the renderer, where the page and its Web Workers run, and the browser's others)
// is sampled from /proc; the peaks are reported. The browser runs with a profile on disk, as a user's
// does (Playwright's default contexts are off the record, where the private file system is in memory).
// Options: --web-threads=2 --web-type=Q4_K_M --web-runs=3 --web-memory-gb=2 (0 skips) --web-memory-type=Q4_0
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { ensureSyntheticModel } from './synthetic.js';
import { serveWebApp } from '../src/node/web-server.js';
import { writeBigGguf, bigModelBytes, type BigSpec } from '../test/web/big-model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function chromiumVersion(): string {
  const r = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' });
  return (r.stdout || r.stderr || 'chromium (version unknown)').trim();
}

/** Resident set (MB) of a process's descendants (Chromium, launched by this process) by kind: the renderer(s) and all of them. */
function treeRss(rootPid: number): { renderer: number; total: number; byType: Record<string, number> } {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid)!.push(Number(d));
    } catch {
      /* gone */
    }
  }
  let renderer = 0,
    total = 0;
  const byType: Record<string, number> = {};
  const walk = (pid: number) => {
    if (pid !== rootPid)
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
        // file-backed resident pages (mapped files: the page cache, reclaimable) apart from anonymous memory
        const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
        total += rss;
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes('--type=renderer')) renderer += rss;
        const kind = /--type=([\w-]+)/.exec(cmd)?.[1] ?? (cmd.includes('chrom') ? 'browser' : 'other');
        const sub = /--utility-sub-type=([\w.-]+)/.exec(cmd)?.[1];
        const k = sub ? `${kind}:${sub.split('.').pop()}` : kind;
        byType[k] = (byType[k] ?? 0) + rss;
        byType[`${k} anon`] = (byType[`${k} anon`] ?? 0) + anon;
      } catch {
        /* gone */
      }
    for (const k of kids.get(pid) ?? []) walk(k);
  };
  walk(rootPid);
  return { renderer, total, byType };
}

async function pageRun(
  page: Page,
  path: string,
  type: string,
  threads: number,
): Promise<{ mbps: number; seconds: number; bytes: number; download: string }> {
  await page.setInputFiles('#file', path);
  await page.waitForFunction(
    () => !document.getElementById('model')!.hidden || !document.getElementById('error')!.hidden,
  );
  const err = await page.evaluate(() => {
    const e = document.getElementById('error')!;
    return e.hidden ? null : e.textContent;
  });
  if (err) throw new Error(err);
  await page.selectOption('#type', type);
  await page.selectOption('#dest', 'download');
  await page.fill('#threads', String(threads));
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 3_600_000 }), page.click('#run')]);
  const file = await download.path();
  const r = await page.evaluate(() => {
    const d = document.getElementById('done')!.dataset;
    return { mbps: Number(d.mbps), bytes: Number(d.bytes) };
  });
  const text = await page.textContent('#done-text');
  const seconds = Number(/in ([\d.]+) s/.exec(text ?? '')?.[1]);
  return { ...r, seconds, download: file! };
}

function cliRun(path: string, out: string, type: string, threads: number): { mbps: number; seconds: number } {
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'dist/cli/bundle/main.js'),
      'quantize',
      path,
      out,
      '--type',
      type,
      '--threads',
      String(threads),
      '--json',
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`lowbit quantize failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { seconds: number; tensorBytesIn: number };
  return { seconds: j.seconds, mbps: j.tensorBytesIn / 1e6 / j.seconds };
}

export async function runWebBench(args: readonly string[]): Promise<void> {
  const val = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const threads = Number(val('web-threads') ?? 2);
  const type = val('web-type') ?? 'Q4_K_M';
  const runs = Number(val('web-runs') ?? 3);
  const memGB = Number(val('web-memory-gb') ?? 2);
  const memType = val('web-memory-type') ?? 'Q4_0';
  if (!existsSync(CHROMIUM)) {
    console.log('web: skipped (needs /usr/bin/chromium)');
    return;
  }
  const b = spawnSync(process.execPath, ['scripts/build-web.mjs'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (b.status !== 0) throw new Error('building the web app failed');
  const dir = join(os.tmpdir(), 'lowbit-bench');
  mkdirSync(dir, { recursive: true });
  const model = await ensureSyntheticModel('small', dir);
  const server = await serveWebApp({ port: 0 });
  // a profile on disk, as a user's browser has: in an off-the-record context (Playwright's default
  // newContext, a private window) the origin's private file system is kept in memory
  const profile = mkdtempSync(join(os.tmpdir(), 'lowbit-web-bench-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const version = chromiumVersion();
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="1"]');
    console.log(
      `web app (${version}, headless) vs CLI: ${type}, ${threads} thread(s), ${(statSync(model).size / 1e9).toFixed(2)} GB synthetic llama F32 (bench small); MB/s of tensor data in, median of ${runs} alternating runs; load at start ${load()}`,
    );
    const cliOut = join(dir, `web-bench-cli-${process.pid}.gguf`);
    const pageMbps: number[] = [],
      cliMbps: number[] = [];
    let identical: boolean | null = null;
    for (let i = 0; i < runs; i++) {
      // (--web-runs=0: the memory part only)
      const c = cliRun(model, cliOut, type, threads);
      cliMbps.push(c.mbps);
      const p = await pageRun(page, model, type, threads);
      pageMbps.push(p.mbps);
      if (identical === null) identical = spawnSync('cmp', ['-s', cliOut, p.download]).status === 0;
      rmSync(p.download, { force: true });
      console.log(
        `  run ${i + 1}: CLI ${c.mbps.toFixed(1)} MB/s (${c.seconds.toFixed(2)} s), page ${p.mbps.toFixed(1)} MB/s (${p.seconds.toFixed(2)} s); load ${load()}`,
      );
    }
    rmSync(cliOut, { force: true });
    const pm = median(pageMbps),
      cm = median(cliMbps);
    if (runs > 0)
      console.log(
        `web: page ${pm.toFixed(1)} MB/s, CLI ${cm.toFixed(1)} MB/s, ratio page/CLI ${(pm / cm).toFixed(2)}; page output identical to the CLI's: ${identical}`,
      );

    if (memGB > 0) {
      // a llama-shaped F32 model of at least memGB GB (cached)
      const layers = Math.ceil((memGB * 1e9 - 4 * 2 * 2048 * 8192) / (4 * (4 * 2048 * 2048 + 3 * 2048 * 5632)));
      const spec: BigSpec = { nLayer: layers, nEmbd: 2048, nFf: 5632, nVocab: 8192 };
      const big = join(dir, `web-bench-llama-${layers}x2048-f32.gguf`);
      if (!existsSync(big) || statSync(big).size < bigModelBytes(spec)) await writeBigGguf(big, spec);
      // Chromium and its helpers are this process's descendants (the CLI runs are over by now)
      const pid = process.pid;
      const base = treeRss(pid);
      // two phases: quantizing (the output streams into the origin's private storage) and the
      // hand-off of the finished file to the browser's download manager
      let phase = 0;
      const peaks = [
        { renderer: 0, total: 0, byType: {} as Record<string, number> },
        { renderer: 0, total: 0, byType: {} as Record<string, number> },
      ];
      const sample = () => {
        const r = treeRss(pid);
        const p = peaks[phase]!;
        p.renderer = Math.max(p.renderer, r.renderer);
        p.total = Math.max(p.total, r.total);
        for (const [k, v] of Object.entries(r.byType)) p.byType[k] = Math.max(p.byType[k] ?? 0, v);
      };
      const timer = setInterval(sample, 200);
      page.once('download', () => {
        sample();
        phase = 1;
      });
      let p;
      try {
        p = await pageRun(page, big, memType, threads);
        await new Promise((r) => setTimeout(r, 1000));
        sample();
      } finally {
        clearInterval(timer);
      }
      rmSync(p.download, { force: true });
      const types = (x: Record<string, number>) =>
        Object.entries(x)
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(', ');
      console.log(
        `web memory: ${(statSync(big).size / 1e9).toFixed(2)} GB F32 model -> ${memType} in the page (${threads} threads, ${p.mbps.toFixed(1)} MB/s, output ${(p.bytes / 1e6).toFixed(0)} MB); load ${load()}`,
      );
      console.log(
        `  before the run: renderer ${base.renderer.toFixed(0)} MB, all Chromium processes ${base.total.toFixed(0)} MB (${types(base.byType)})`,
      );
      console.log(
        `  peak while quantizing: renderer (page + its Web Workers) ${peaks[0]!.renderer.toFixed(0)} MB, all ${peaks[0]!.total.toFixed(0)} MB (${types(peaks[0]!.byType)})`,
      );
      console.log(
        `  peak while the browser takes the finished file as a download: renderer ${peaks[1]!.renderer.toFixed(0)} MB, all ${peaks[1]!.total.toFixed(0)} MB (${types(peaks[1]!.byType)})`,
      );
    }
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
