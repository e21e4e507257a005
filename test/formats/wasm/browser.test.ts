// The WebAssembly kernels in a real browser: bundle the codecs for the browser platform, load the
// bundle in headless Chromium, and check there that the kernels instantiate (synchronously, from
// the embedded base64) and give the same bytes as the TypeScript reference and ggml's goldens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { loadGolden } from '../../support/golden.js';
import { launchChromium, needsChromium } from '../../support/chromium.js';

const SRC = fileURLToPath(new URL('../../../src/formats/', import.meta.url));

test(
  'WebAssembly kernels run in Chromium: same bytes as the TypeScript path and ggml',
  { skip: needsChromium },
  async () => {
    const bundle = await build({
      stdin: {
        contents:
          "export { codecByName } from './registry.ts'; export { setWasmKernels, wasmKernelsActive } from './wasm/kernels.ts';",
        resolveDir: SRC,
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'lbk',
      write: false,
      target: 'es2022',
      logLevel: 'silent',
    });
    const g = loadGolden();
    const types = ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q6_K', 'TQ1_0', 'TQ2_0'].filter(
      (t) => g.types[t],
    );
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setContent('<!doctype html><html><body></body></html>');
      await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
      const r = await page.evaluate(
        ({ input, rows, n, types }) => {
          const lb = (globalThis as any).lbk;
          const x = new Float32Array(input);
          const active = lb.wasmKernelsActive();
          const out: Record<string, { wasm: number[]; ts: number[]; deqSame: boolean }> = {};
          for (const t of types) {
            const c = lb.codecByName(t);
            const size = ((rows * n) / c.type.blockSize) * c.type.typeSize;
            // no named inner functions here: the test's transpiler would wrap them in a helper the page lacks
            const res: { q: Uint8Array; y: Float32Array }[] = [];
            for (const on of [true, false]) {
              lb.setWasmKernels(on);
              const q = new Uint8Array(size);
              c.quantize(x, q, rows, n, null);
              const y = new Float32Array(rows * n);
              c.dequantize(q, y, rows * n);
              res.push({ q, y });
            }
            const w = res[0]!,
              s = res[1]!;
            lb.setWasmKernels(true);
            const yw = new Uint32Array(w.y.buffer),
              ys = new Uint32Array(s.y.buffer);
            out[t] = {
              wasm: Array.from(w.q),
              ts: Array.from(s.q),
              deqSame: yw.every(
                (v, i) => v === ys[i] || ((v & 0x7fffffff) > 0x7f800000 && (ys[i]! & 0x7fffffff) > 0x7f800000),
              ),
            };
          }
          return { active, out, page: typeof document };
        },
        { input: Array.from(g.input.subarray(0, 8 * g.rowLength)), rows: 8, n: g.rowLength, types },
      );
      assert.deepEqual(errors, []);
      assert.equal(r.page, 'object', 'ran in a browser page');
      assert.equal(r.active, true, 'the WebAssembly kernels instantiate in Chromium');
      for (const t of types) {
        const gt = g.types[t]!;
        const want = g.bytes(gt.quant.file).subarray(0, 8 * gt.rowBytes);
        assert.deepEqual(new Uint8Array(r.out[t]!.wasm), want, `${t}: WebAssembly in the browser vs ggml`);
        assert.deepEqual(new Uint8Array(r.out[t]!.ts), want, `${t}: TypeScript in the browser vs ggml`);
        assert.ok(r.out[t]!.deqSame, `${t}: dequantize, WebAssembly vs TypeScript in the browser`);
      }
    } finally {
      await browser.close();
    }
  },
);
