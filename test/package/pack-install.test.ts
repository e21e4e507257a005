// lowbit as a dependency, exactly as a user gets it: `npm pack` (which builds dist/ and the CLI
// bundle through prepare, here in a staging copy of the sources so the repo's own dist/ is not
// touched), then `npm install <tarball>` into a fresh project with the engines absent:
//   - the core and lowbit/node import, the README's runnable examples run against the package,
//   - `npx lowbit quantize` (the bundle and its worker, from node_modules) writes the bytes the
//     source CLI writes, and a global install (`npm install -g`, into a temporary prefix) runs,
//   - `npx lowbit eval` / `demo` without node-llama-cpp print the one-line install hint, exit 1;
// then `npm install node-llama-cpp@3.21.1` and `npx lowbit eval` runs the model in llama.cpp.
// npm runs with --prefer-offline: its cache has every package; the registry is asked only when not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, runCli } from '../support/cli.js';
import { blockAsModule, runnableBlocks, stageExampleFiles } from './readme-blocks.js';

/** The environment without the npm_* variables of an enclosing `npm test` (they would point npm at the repo). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

function run(cmd: string, args: string[], cwd: string, timeout = 300_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stderr}`);
  return r.stdout;
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += duBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const ENGINES = ['node-llama-cpp', 'onnxruntime-node', 'koffi', '@node-llama-cpp'];

test(
  'npm pack → npm install in a fresh project: core, lowbit/node, README examples, npx lowbit quantize, global install; eval hint, then eval with node-llama-cpp',
  { timeout: 1_200_000 },
  () => {
    const tmp = mkdtempSync(join(tmpdir(), 'lowbit-pack-'));
    try {
      // 1. pack from a staging copy of what the package is built from
      const stage = join(tmp, 'stage');
      mkdirSync(stage);
      for (const f of ['package.json', 'README.md', 'tsconfig.json', 'src', 'scripts', 'web', 'fixtures'])
        cpSync(join(REPO, f), join(stage, f), { recursive: true });
      symlinkSync(join(REPO, 'node_modules'), join(stage, 'node_modules'), 'dir');
      const packed = JSON.parse(
        ok(run('npm', ['pack', '--json', '--pack-destination', tmp], stage, 600_000), 'npm pack'),
      ) as { filename: string; files: { path: string }[] }[];
      const files = packed[0]!.files.map((f) => f.path);
      for (const f of [
        'dist/cli/bundle/main.js',
        'dist/cli/bundle/workers-thread.js',
        'dist/index.js',
        'dist/node.js',
        'dist/node.d.ts',
        'fixtures/stories260K.bin',
        'README.md',
        'package.json',
      ]) {
        assert.ok(files.includes(f), `the tarball has ${f}`);
      }
      assert.ok(
        !files.some((f) => f.startsWith('src/') || f.startsWith('test/')),
        'no sources or tests in the tarball',
      );
      assert.ok(!files.some((f) => f.endsWith('.map')), 'no source maps (they point at src/, which is not shipped)');
      const tgz = join(tmp, packed[0]!.filename);

      // 2. a fresh project; the engines stay absent
      const proj = join(tmp, 'project');
      mkdirSync(proj);
      writeFileSync(
        join(proj, 'package.json'),
        JSON.stringify({ name: 'lowbit-user', version: '1.0.0', private: true, type: 'module' }),
      );
      ok(run('npm', ['install', '--prefer-offline', tgz], proj), 'npm install lowbit');
      for (const e of ENGINES) assert.ok(!existsSync(join(proj, 'node_modules', e)), `${e} not installed with lowbit`);
      const size = duBytes(join(proj, 'node_modules'));
      assert.ok(size < 120e6, `the library install is small: ${(size / 1e6).toFixed(1)} MB`);

      // 3. the core and lowbit/node import; the README's examples run against the package
      const imports = ok(
        run(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            "const c = await import('lowbit'); const n = await import('lowbit/node'); console.log(typeof c.codecByName, typeof n.quantizeFile, typeof n.convertHfFolder, typeof n.inspectGgufFile, c.codecByName('Q4_K').type.typeSize)",
          ],
          proj,
        ),
        'import lowbit',
      );
      assert.equal(imports.trim(), 'function function function function 144');
      stageExampleFiles(proj);
      runnableBlocks(join(stage, 'README.md')).forEach((b, i) => {
        // the README packed, not the one being edited
        const file = join(proj, `example-${i + 1}.mjs`);
        writeFileSync(file, blockAsModule(b));
        ok(run(process.execPath, [file], proj), `README example ${i + 1}`);
      });

      // 4. the CLI from node_modules: npx lowbit quantize on two threads (the bundled worker)
      ok(run('npx', ['lowbit', 'convert', 'llama2c', 'stories260K.bin', 'f32.gguf'], proj), 'npx lowbit convert');
      const q = ok(
        run('npx', ['lowbit', 'quantize', 'f32.gguf', 'q4.gguf', '--type', 'Q4_K_M', '--threads', '2'], proj),
        'npx lowbit quantize',
      );
      assert.match(q, /wrote q4\.gguf as Q4_K_M/);
      const ref = join(tmp, 'source-q4.gguf');
      const s = runCli(['quantize', join(proj, 'f32.gguf'), ref, '--type', 'Q4_K_M', '--threads', '1']);
      assert.equal(s.code, 0, s.stderr);
      assert.ok(
        readFileSync(join(proj, 'q4.gguf')).equals(readFileSync(ref)),
        'the installed CLI writes the bytes the source CLI writes',
      );
      assert.match(
        ok(run('npx', ['lowbit', 'inspect', 'q4.gguf'], proj), 'npx lowbit inspect'),
        /total: 47 tensors, \d+ parameters/,
      );
      // report without --eval needs no engine; it inlines echarts, a dependency read at run time
      assert.match(
        ok(run('npx', ['lowbit', 'report', 'f32.gguf', 'q4.gguf', '--html', 'plain.html'], proj), 'npx lowbit report'),
        /plain\.html: report of 1 variant/,
      );
      assert.ok(readFileSync(join(proj, 'plain.html'), 'utf8').length > 500_000, 'the report inlines ECharts');

      // 5. without the engine: one line naming the package to install, exit 1
      for (const args of [
        ['eval', 'q4.gguf'],
        ['demo', '--out', 'demo-out'],
        ['report', 'f32.gguf', 'q4.gguf', '--html', 'r.html', '--eval'],
      ]) {
        const r = run('npx', ['lowbit', ...args], proj);
        assert.equal(r.status, 1, `${args[0]} without node-llama-cpp: exit ${r.status}\n${r.stderr}`);
        assert.match(
          r.stderr,
          /^lowbit: [a-z -]+ needs node-llama-cpp \([^)]*\), which is not installed: run npm install node-llama-cpp@3\.21\.1\n$/,
          r.stderr,
        );
      }
      assert.ok(
        !existsSync(join(proj, 'r.html')) && !existsSync(join(proj, 'demo-out')),
        'nothing written before the engine check',
      );

      // 6. a global install (into a temporary prefix) runs the CLI
      const prefix = join(tmp, 'global');
      ok(run('npm', ['install', '-g', '--prefer-offline', '--prefix', prefix, tgz], tmp), 'npm install -g');
      const bin = join(prefix, 'bin', 'lowbit');
      assert.equal(ok(run(bin, ['--version'], tmp), 'global lowbit --version').trim(), '0.1.0');
      assert.match(ok(run(bin, ['inspect', join(proj, 'q4.gguf')], tmp), 'global lowbit inspect'), /Q4_K_M|q5_0|q8_0/i);

      // 7. add the engine: eval runs the models in llama.cpp
      ok(
        run('npm', ['install', '--prefer-offline', 'node-llama-cpp@3.21.1'], proj, 900_000),
        'npm install node-llama-cpp',
      );
      const ev = ok(
        run('npx', ['lowbit', 'eval', 'q4.gguf', '--ref', 'f32.gguf', '--ctx', '64', '--chunks', '2'], proj),
        'npx lowbit eval',
      );
      assert.match(ev, /perplexity\s+\d+(\.\d+)?/);
      assert.match(ev, /mean KL\(ref ‖ model\)\s+\d/);
      assert.match(ev, /via node-llama-cpp 3\.21\.1, CPU/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
