// The library core runs in a browser: bundle src/index.ts for the browser platform (esbuild fails
// on any Node built-in), load it in headless Chromium, and quantize there. The bytes must equal
// ggml's golden vectors, and a GGUF written in the page must parse back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { loadGolden } from '../support/golden.js';
import { launchChromium, needsChromium } from '../support/chromium.js';

const ENTRY = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

test(
  'the browser bundle of lowbit quantizes byte-identically to ggml inside Chromium',
  { skip: needsChromium },
  async () => {
    const bundle = await build({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'lowbit',
      write: false,
      target: 'es2022',
      logLevel: 'silent',
    });
    const code = bundle.outputFiles[0]!.text;
    assert.ok(!/require\(["']node:/.test(code), 'no Node built-ins in the browser bundle');

    const g = loadGolden();
    const types = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K', 'IQ4_XS', 'MXFP4'].filter((t) => g.types[t]);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setContent('<!doctype html><html><body></body></html>');
      await page.addScriptTag({ content: code });
      const result = await page.evaluate(
        async ({ input, rows, n, types }) => {
          const lb = (globalThis as any).lowbit;
          const x = new Float32Array(input);
          const out: Record<string, number[]> = {};
          for (const t of types) {
            const c = lb.codecByName(t);
            const q = new Uint8Array(((rows * n) / c.type.blockSize) * c.type.typeSize);
            c.quantize(x, q, rows, n, null);
            out[t] = Array.from(q);
          }
          // a GGUF written and read back in the page, through the byte-source abstraction
          const sink = new lb.BufferSink();
          const w = await lb.gguf.GgufWriter.begin(sink, {
            metadata: [['general.architecture', lb.gguf.gv.str('llama')]],
            tensors: [{ name: 't', dims: [n, rows], type: 8 }],
          });
          await w.writeTensorData('t', new Uint8Array(out['Q8_0']!));
          await w.finish();
          const f = await lb.gguf.readGgufHeader(new lb.BlobSource(new Blob([sink.bytes()]), 'page.gguf'));
          return { out, tensors: f.tensors.map((t: any) => t.name), arch: typeof navigator };
        },
        { input: Array.from(g.input.subarray(0, 16 * g.rowLength)), rows: 16, n: g.rowLength, types },
      );
      assert.deepEqual(errors, []);
      assert.equal(result.arch, 'object', 'ran in a browser page');
      assert.deepEqual(result.tensors, ['t']);
      for (const t of types) {
        const gt = g.types[t]!;
        const want = g.bytes(gt.quant.file).subarray(0, 16 * gt.rowBytes);
        assert.deepEqual(new Uint8Array(result.out[t]!), want, `${t} in the browser`);
      }
    } finally {
      await browser.close();
    }
  },
);
