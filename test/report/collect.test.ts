// lowbit report tells lowbit's own files from llama.cpp's mixes by their metadata: a --target-size
// file records quantize.target, and the report draws it on a curve of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { parseFileType } from '../../src/plan/file-types.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { collectReport } from '../../src/eval/report.js';
import { sizeQualityPoints } from '../../src/report/html.js';

test('report: a --target-size file (quantize.target) is its own curve beside the llama.cpp mix of its size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-report-target-'));
  try {
    const input = join(dir, 'm-F16.gguf');
    writeFileSync(input, await encodeGguf(syntheticLlama({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 64, seed: 3 })));
    const mix = join(dir, 'm-Q4_K_M.gguf'),
      target = join(dir, 'm-target-Q4_K_M.gguf'),
      best = join(dir, 'm-best-Q4_K_M.gguf');
    await quantizeGgufFile(input, mix, { fileType: parseFileType('Q4_K_M'), threads: 1 });
    const bytes = statSync(mix).size;
    await quantizeGgufFile(input, target, { fileType: parseFileType('Q8_0'), target: { bytes }, threads: 1 });
    await quantizeGgufFile(input, best, { fileType: parseFileType('Q4_K_M'), encoder: 'best', threads: 1 });
    const meta = async (p: string) => {
      const s = await FileSource.open(p);
      try {
        return (await readGgufHeader(s)).metadata;
      } finally {
        await s.close();
      }
    };
    assert.deepEqual((await meta(target)).get('quantize.target'), { type: 'string', value: `size ${bytes}` });
    assert.equal((await meta(mix)).get('quantize.target'), undefined, 'a plain quantize records no target');
    const data = await collectReport(input, [mix, target, best], { hist: [] });
    assert.deepEqual(
      sizeQualityPoints(data).map((p) => [p.label, p.family]),
      [
        ['m-Q4_K_M', 'k-quants'],
        ['m-target-Q4_K_M', 'lowbit --target-size'],
        ['m-best-Q4_K_M', 'lowbit --encoder best'],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
