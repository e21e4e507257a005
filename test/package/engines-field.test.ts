// package.json's `engines` is true for every package a user installs (dependencies and the optional
// engines): each Node version at the bottom of each part of lowbit's declared range satisfies every
// such package's own engines.node. The repo's dev dependencies (the linters need Node 20.19) are
// held to `devEngines`, the Node a clone of the repo declares it needs, in the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO } from '../support/cli.js';

// semver is in node_modules through node-llama-cpp and sharp (npm's own range grammar)
const semver = createRequire(join(REPO, 'package.json'))('semver') as {
  satisfies(v: string, r: string): boolean;
  minVersion(r: string): { version: string } | null;
  validRange(r: string): string | null;
};

test('every locked package supports the Node versions package.json declares', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    engines: { node: string };
    devEngines: { runtime: { name: string; version: string } };
  };
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<
      string,
      {
        version?: string;
        dev?: boolean;
        optional?: boolean;
        os?: string[];
        cpu?: string[];
        engines?: { node?: string } | string[];
      }
    >;
  };
  const declared = pkg.engines.node;
  assert.ok(semver.validRange(declared), declared);
  assert.equal(pkg.devEngines.runtime.name, 'node');
  // the lowest version of each alternative of the range (^20.17.0 || >=22.9.0: 20.17.0 and 22.9.0)
  const floorsOf = (range: string) => range.split('||').map((r) => semver.minVersion(r.trim())!.version);
  const floors = floorsOf(declared);
  const devFloors = floorsOf(pkg.devEngines.runtime.version);
  // what a clone needs is at least what a user needs
  for (const v of devFloors)
    assert.ok(!semver.satisfies(v, `<${floors[0]}`), `devEngines ${v} below engines ${floors[0]}`);
  assert.equal(
    lock.packages['']!.engines && (lock.packages['']!.engines as { node: string }).node,
    declared,
    'the lockfile records the same range',
  );
  const bad: string[] = [];
  let checked = 0;
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path || !p.engines || Array.isArray(p.engines) || !p.engines.node) continue;
    // an optional package for another platform is never installed here (npm leaves it out):
    // e.g. sharp's win32-ia32 build, which only supports Node 20
    const fits = (list: string[] | undefined, v: string) =>
      !list || list.some((x) => x === v) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${v}`));
    if (p.optional && !(fits(p.os, process.platform) && fits(p.cpu, process.arch))) continue;
    checked++;
    for (const v of p.dev ? devFloors : floors)
      if (!semver.satisfies(v, p.engines.node))
        bad.push(`${path}@${p.version}${p.dev ? ' (dev)' : ''} needs node ${p.engines.node}, not ${v}`);
  }
  assert.ok(checked > 20, `checked ${checked} packages`);
  assert.deepEqual(bad, []);
});
