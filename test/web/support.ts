// The web app in headless Chromium: dist/web/ built from source (scripts/build-web.mjs), served by
// `lowbit web`'s own server (COOP/COEP: the page is cross-origin isolated, so it has threads), a
// page driven through its real file inputs, and downloads caught as the browser saves them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { serveWebApp, type WebServer } from '../../src/node/web-server.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

let built = false;
export function buildWebApp(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['scripts/build-web.mjs'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-web failed: ${r.stderr}`);
  built = true;
}

export interface App {
  browser: Browser;
  page: Page;
  server: WebServer;
  errors: string[];
  close(): Promise<void>;
}

export async function openApp(opts: { args?: string[] } = {}): Promise<App> {
  buildWebApp();
  const server = await serveWebApp({ port: 0 });
  const browser = await launchChromium(opts.args);
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="1"]');
  return {
    browser,
    page,
    server,
    errors,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Loads a file through the page's file input; waits for the inspect table (or an error). */
export async function loadFile(page: Page, path: string): Promise<void> {
  await page.setInputFiles('#file', path);
  await page.waitForFunction(
    () => !document.getElementById('model')!.hidden || !document.getElementById('error')!.hidden,
  );
}

export async function loadFolder(page: Page, dir: string): Promise<void> {
  await page.setInputFiles('#folder', dir);
  await page.waitForFunction(
    () => !document.getElementById('model')!.hidden || !document.getElementById('error')!.hidden,
  );
}

/** Sets the options, quantizes to a download and returns its bytes. */
export async function quantizeInPage(
  page: Page,
  type: string,
  set: (page: Page) => Promise<void> = async () => {},
): Promise<{ bytes: Uint8Array; name: string }> {
  await page.selectOption('#type', type);
  await page.selectOption('#dest', 'download');
  await set(page);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 600_000 }), page.click('#run')]);
  const path = await download.path();
  await page.waitForFunction(
    () => !document.getElementById('done')!.hidden && !(document.getElementById('run') as HTMLButtonElement).disabled,
  );
  return { bytes: new Uint8Array(readFileSync(path!)), name: download.suggestedFilename() };
}

export async function pageError(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const e = document.getElementById('error')!;
    return e.hidden ? null : e.textContent;
  });
}
