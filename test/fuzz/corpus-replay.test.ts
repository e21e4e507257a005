// Replays the saved hostile inputs of test/fixtures/fuzz-corpus (listed with the reason each is
// there in manifest.json): every one must fail with a one-line LowbitError through the same
// harness the fuzzers use (no read outside the file, bounded heap, no hang).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FuzzHarness } from './support/harness.js';
import type { ParserName } from './support/protocol.js';

const CORPUS = join(import.meta.dirname, '..', 'fixtures', 'fuzz-corpus');
const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as {
  files: Record<string, { parser: ParserName; why: string }>;
};
const h = new FuzzHarness();
after(() => h.close());

test('every corpus file is listed in the manifest', () => {
  const onDisk = readdirSync(CORPUS, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(CORPUS, d.name)).map((f) => `${d.name}/${f}`))
    .sort();
  assert.deepEqual(onDisk, Object.keys(manifest.files).sort());
});

for (const [file, { parser, why }] of Object.entries(manifest.files)) {
  test(`corpus ${file}: ${why}`, { timeout: 60_000 }, async () => {
    const r = await h.check({
      parser,
      name: file,
      bytes: new Uint8Array(readFileSync(join(CORPUS, file))),
      sidecars: {},
    });
    assert.ok(r.kind === 'format' || r.kind === 'lowbit', `${file} parsed`);
  });
}
