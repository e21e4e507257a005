#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js) and the quantize worker (dist/node/workers-thread.js)
// into dist/cli/bundle/ with esbuild. Node's ES module loader resolves, reads and compiles each of
// lowbit's ~100 modules one by one; a bundle halves the CLI's start-up (measured: 0.24 s → 0.12 s
// before a quantize run starts), which matters for jobs that take a second. The library entry
// points (dist/index.js, dist/node.js) stay unbundled.
// Layout constraints the code relies on: the bundle sits three levels below the package root (as
// dist/cli/commands/*.js does: demo finds fixtures/ by a relative URL) and the worker entry is
// named workers-thread.js beside the chunk that starts it (node/workers.ts resolves it so).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/cli/bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    main: join(root, 'dist/cli/main.js'),
    'workers-thread': join(root, 'dist/node/workers-thread.js'),
  },
  outdir,
  bundle: true,
  // one file per entry, no shared chunks: loading one 1 MB file beats loading twenty chunks (the
  // lazily imported commands are inlined; V8 compiles a function only when it first runs)
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // the engines are optional peer dependencies (src/node/engines.ts loads them on first use): never
  // bundled, resolved from the user's node_modules. commander, cli-progress and @bufbuild/protobuf
  // are bundled; echarts stays a dependency (report reads echarts.min.js from it at run time).
  external: ['onnxruntime-node', 'node-llama-cpp', 'koffi'],
  // bundled CommonJS dependencies (commander, cli-progress) call require() for Node built-ins
  banner: {
    js: "import { createRequire as __lowbitCreateRequire } from 'node:module'; const require = __lowbitCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
