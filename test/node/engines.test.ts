// The optional engines load through one function (src/node/engines.ts); a missing one is a
// LowbitError with the install command (the pack-install test checks that from an installed tarball).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINES, loadEngine, missingEngineMessage } from '../../src/node/engines.js';
import { REPO } from '../support/cli.js';

test('engines: exact versions, the same in package.json (optional peers, and dev deps for the tests)', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  for (const [name, e] of Object.entries(ENGINES)) {
    assert.equal(pkg.peerDependencies[name], e.version, `${name} peer`);
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} optional`);
    assert.equal(pkg.devDependencies[name], e.version, `${name} dev`);
    assert.equal(pkg.dependencies[name], undefined, `${name} not a dependency`);
    assert.equal(pkg.allowScripts[name], false, `${name}'s install script not run in the clone`);
  }
  assert.equal(
    missingEngineMessage('node-llama-cpp', 'eval'),
    'eval needs node-llama-cpp (running GGUF models in llama.cpp), which is not installed: run npm install node-llama-cpp@3.21.1',
  );
  // without its CUDA download, which fails outside the npm registry (the CPU runtime is in the package)
  assert.match(
    missingEngineMessage('onnxruntime-node', 'eval'),
    /run ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1\.30\.0$/,
  );
});

test('engines load through loadEngine', async () => {
  const ort = await loadEngine<{ InferenceSession?: unknown; default?: { InferenceSession?: unknown } }>(
    'onnxruntime-node',
    'test',
  );
  assert.ok(ort.InferenceSession ?? ort.default?.InferenceSession);
  const llama = await loadEngine<{ getLlama: unknown }>('node-llama-cpp', 'test');
  assert.equal(typeof llama.getLlama, 'function');
});

test('no runtime import of an engine outside src/node/engines.ts (type-only imports are fine)', () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    }
  };
  walk(join(REPO, 'src'));
  const bad: string[] = [];
  for (const f of files) {
    if (f.endsWith(join('node', 'engines.ts'))) continue;
    const text = readFileSync(f, 'utf8');
    for (const name of Object.keys(ENGINES)) {
      const re = new RegExp(
        `(import\\s*\\(\\s*['"]${name}['"]|from\\s+['"]${name}['"]|require\\(\\s*['"]${name}['"])`,
        'g',
      );
      for (const m of text.matchAll(re)) {
        const line = text.slice(text.lastIndexOf('\n', m.index!) + 1, text.indexOf('\n', m.index!));
        if (/^\s*import\s+type\b/.test(line) || /^\s*\/\//.test(line) || /typeof import\(/.test(line)) continue;
        bad.push(`${f}: ${line.trim()}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
