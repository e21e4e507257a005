#!/usr/bin/env node
// Builds the web app (web/) into dist/web/ as plain static files: index.html, style.css, app.js (the
// page), job-worker.js (opens, plans, quantizes, compares) and row-worker.js (the quantize pool's
// threads), bundled by esbuild for browsers from lowbit's core. Served by `lowbit web`, or from any
// static host (cross-origin isolation headers give it threads; without them it runs on one).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/web');
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: {
    app: join(root, 'web/src/main.ts'),
    'job-worker': join(root, 'web/src/job-worker.ts'),
    'row-worker': join(root, 'web/src/row-worker.ts'),
  },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(outdir, f));
// the report's charts (src/report/html.ts) are drawn by ECharts' minified build (Apache-2.0), served
// beside the page so it works offline once loaded
copyFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), join(outdir, 'echarts.min.js'));
