// Shared checks for the lattice formats (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M) against the live ggml
// oracle: quantize byte for byte (many seeds, distributions, imatrices, edge rows), dequantize bit
// for bit (ggml's bytes and random bytes), and the refusals where ggml would assert or abort.
// Inputs on which ggml aborts cannot go through the in-process oracle: lowbit must refuse them,
// and a child process confirms that ggml really dies on a sample of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowbitError } from '../../../src/errors.js';
import { oracle, randomRows, rng, gaussian } from '../../support/oracle.js';
import {
  assertBytes,
  assertFloats,
  codec,
  quantize as quantizeOnce,
  quantizeBothPaths,
  randomImatrix,
} from '../../support/ggml-check.js';
import type { BlockCodec } from '../../../src/formats/codec.js';

export { assertBytes, assertFloats, codec, randomImatrix };

/** Formats with a WebAssembly quantize kernel (iq2.as, iq1m.as): quantize compares it with the TypeScript path. */
const WASM_QUANT = new Set(['IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_S', 'IQ1_M']);

/**
 * Quantizes with the codec; for formats with a WebAssembly kernel, once with the kernels on and
 * once off (the TypeScript reference): the same bytes, or the same LowbitError, or the test fails.
 */
export function quantize(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): Uint8Array {
  return WASM_QUANT.has(c.name)
    ? quantizeBothPaths(c, x, nRows, nPerRow, imatrix)
    : quantizeOnce(c, x, nRows, nPerRow, imatrix);
}

export interface LatticeSpec {
  name: string;
  /** ggml_quantize_requires_imatrix: no oracle call without one, and lowbit refuses */
  requiresImatrix: boolean;
}

/** Hard finite rows: zeros, constants, outliers, tiny/denormal and large values, ties, grid values. */
export function edgeRowFns(nPerRow: number): ((i: number) => number)[] {
  return [
    () => 0,
    () => -0,
    (i) => (i % 2 ? -0 : 0),
    () => 1,
    () => -0.37,
    () => 7,
    (i) => (i === 37 % nPerRow ? 1000 : 0.02 * Math.sin(i)),
    (i) => (i === 5 ? -30000 : 0.01 * Math.cos(i * 3)),
    (i) => (i === 5 ? 7.5 : 0),
    (i) => (i === 200 ? -1 : 0),
    () => 1e-30,
    () => 1e-9,
    (i) => ((i % 3) - 1) * 1e-40, // denormals
    (i) => (i === 3 ? 1e-45 : 0),
    (i) => i * 1e-45,
    (i) => (i % 2) * 131008, // overflows FP16 scales
    (i) => (i % 7) * 1e5,
    (i) => 0.5 * ((i % 5) - 2), // ties
    (i) => (i % 16) - 8,
    (i) => [8, 25, 43, 62][i % 4]! * (i % 3 ? 1 : -1), // grid values
    (i) => [-1, 0, 1][(i * 7) % 3]!, // IQ1 levels
    (i) => 2 ** ((i % 60) - 30), // many binades
    (i) => (i === 100 % nPerRow ? 1e6 : 1e-3 * (i % 7)),
    (i) => (i < nPerRow / 2 ? 0 : Math.sin(i)), // zero super-blocks next to live ones
    (i) => (i % 32 < 16 ? 0 : Math.cos(i)), // zero sub-blocks next to live ones
    (i) => (i % 8 === 0 ? -2 : 1), // odd sign counts
    (i) => Math.round(Math.sin(i) * 2) / 2,
  ];
}

/** Non-finite rows: ggml either quantizes them (then lowbit must match) or aborts (lowbit must refuse). */
export function nonFiniteRowFns(): ((i: number) => number)[] {
  return [
    (i) => (i === 7 ? Infinity : i * 0.1),
    (i) => (i === 9 ? -Infinity : 1),
    (i) => (i === 3 ? NaN : i * 0.01),
    (i) => (i % 2 ? 3e38 : -3.4e38),
    () => 2e19, // x² overflows
  ];
}

/** Runs ggml_quantize_chunk in a child process; true when it died (abort) instead of returning.
 * Each child builds ggml's neighbour tables again (about 12 s for the IQ1 grid), so tests use few. */
export function ggmlAborts(
  typeId: number,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-iq-'));
  try {
    writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    if (imatrix)
      writeFileSync(join(dir, 'w.bin'), new Uint8Array(imatrix.buffer, imatrix.byteOffset, imatrix.byteLength));
    const oraclePath = new URL('../../support/oracle.ts', import.meta.url).pathname;
    const script = `
      import { readFileSync } from 'node:fs';
      import { oracle } from ${JSON.stringify(oraclePath)};
      const b = readFileSync(${JSON.stringify(join(dir, 'x.bin'))});
      const x = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      let w = null;
      ${imatrix ? `const wb = readFileSync(${JSON.stringify(join(dir, 'w.bin'))}); w = new Float32Array(wb.buffer, wb.byteOffset, wb.byteLength / 4);` : ''}
      oracle().quantize(${typeId}, x, ${nRows}, ${nPerRow}, w);
      process.stdout.write('returned');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: process.cwd(),
    });
    if (r.stdout.includes('returned')) return false;
    assert.ok(r.signal === 'SIGABRT' || r.status !== 0, `child ended oddly: ${r.status} ${r.signal} ${r.stderr}`);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function latticeTests(spec: LatticeSpec): void {
  const { name } = spec;
  const imatrixKinds = spec.requiresImatrix ? [0, 1, 2, 3, 4] : [-1, 0, 1, 2, 3, 4];

  test(`${name}: quantize and dequantize match the live ggml oracle over seeds, row lengths, imatrices`, () => {
    const o = oracle();
    const c = codec(name);
    let seed = 1;
    for (const nPerRow of [256, 512, 1536]) {
      const nRows = Math.max(2, Math.floor(6144 / nPerRow));
      for (let k = 0; k < 6; k++, seed++) {
        const x = randomRows(seed * 7919, nRows, nPerRow);
        for (const kind of imatrixKinds) {
          const im = kind < 0 ? null : randomImatrix(seed * 13 + kind, nPerRow, kind);
          const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
          const what = `${name} seed ${seed} n=${nPerRow} ${im ? `imatrix kind ${kind}` : 'no imatrix'}`;
          assertBytes(quantize(c, x, nRows, nPerRow, im), ref, what, c.type.typeSize);
          const y = new Float32Array(x.length);
          c.dequantize(ref, y, x.length);
          assertFloats(y, o.dequantize(c.type.id, ref, x.length), `${what} dequantize`);
        }
      }
    }
  });

  test(`${name}: gaussian weights with llama-imatrix-like importances match ggml`, () => {
    const o = oracle();
    const c = codec(name);
    for (let seed = 1; seed <= 6; seed++) {
      const r = rng(seed * 101);
      const nPerRow = 1024,
        nRows = 8;
      const x = new Float32Array(nRows * nPerRow);
      for (let i = 0; i < x.length; i++) x[i] = gaussian(r) * 0.02;
      const im = new Float32Array(nPerRow);
      for (let i = 0; i < nPerRow; i++) im[i] = Math.exp(gaussian(r)) * 1e-3;
      assertBytes(
        quantize(c, x, nRows, nPerRow, im),
        o.quantize(c.type.id, x, nRows, nPerRow, im),
        `${name} gaussian seed ${seed}`,
        c.type.typeSize,
      );
    }
  });

  test(`${name}: edge rows (zeros, -0, constants, outliers, denormals, large, ties) match ggml`, () => {
    const o = oracle();
    const c = codec(name);
    const nPerRow = 256;
    const fns = edgeRowFns(nPerRow);
    const ims: (Float32Array | null)[] = [
      randomImatrix(99, nPerRow, 1),
      randomImatrix(98, nPerRow, 2),
      randomImatrix(97, nPerRow, 3),
    ];
    if (!spec.requiresImatrix) ims.push(null);
    fns.forEach((f, r) => {
      const x = new Float32Array(nPerRow);
      for (let i = 0; i < nPerRow; i++) x[i] = f(i);
      for (const im of ims) {
        const what = `${name} edge row ${r}${im ? ' imatrix' : ''}`;
        const ref = o.quantize(c.type.id, x, 1, nPerRow, im);
        assertBytes(quantize(c, x, 1, nPerRow, im), ref, what, c.type.typeSize);
        const y = new Float32Array(nPerRow);
        c.dequantize(ref, y, nPerRow);
        assertFloats(y, o.dequantize(c.type.id, ref, nPerRow), `${what} dequantize`);
      }
    });
  });

  test(`${name}: non-finite rows: lowbit matches ggml where ggml quantizes and refuses where it aborts`, () => {
    const o = oracle();
    const c = codec(name);
    const nPerRow = 256;
    let refusedChecked = 0;
    nonFiniteRowFns().forEach((f, r) => {
      const x = new Float32Array(nPerRow);
      for (let i = 0; i < nPerRow; i++) x[i] = f(i);
      const ims: (Float32Array | null)[] = [randomImatrix(91, nPerRow, 0)];
      if (!spec.requiresImatrix) ims.push(null);
      for (const im of ims) {
        const what = `${name} non-finite row ${r}${im ? ' imatrix' : ''}`;
        let mine: Uint8Array | null = null;
        try {
          mine = quantize(c, x, 1, nPerRow, im);
        } catch (e) {
          assert.ok(e instanceof LowbitError, `${what}: ${String(e)}`);
        }
        if (mine) assertBytes(mine, o.quantize(c.type.id, x, 1, nPerRow, im), what, c.type.typeSize);
        else if (refusedChecked++ < 1)
          assert.ok(ggmlAborts(c.type.id, x, 1, nPerRow, im), `${what}: lowbit refused but ggml quantized it`);
      }
    });
  });

  if (WASM_QUANT.has(name)) {
    test(`${name}: wasm kernel over several 64 KiB windows and at odd offsets equals TypeScript and ggml`, () => {
      const o = oracle();
      const c = codec(name);
      const nPerRow = 4352,
        nRows = 9; // 17 blocks a row, ~150 KB of input: windows split mid-row
      const x = randomRows(777, nRows, nPerRow);
      const ims: (Float32Array | null)[] = [randomImatrix(5, nPerRow, 0), randomImatrix(6, nPerRow, 4)];
      if (!spec.requiresImatrix) ims.push(null);
      for (const im of ims) {
        const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
        assertBytes(quantize(c, x, nRows, nPerRow, im), ref, `${name} windows${im ? ' imatrix' : ''}`, c.type.typeSize);
        // source at an odd float offset, destination at an odd byte offset
        const xs = new Float32Array(x.length + 3);
        xs.set(x, 3);
        const big = new Uint8Array(ref.length + 5);
        c.quantize(xs.subarray(3), big.subarray(5), nRows, nPerRow, im);
        assertBytes(big.subarray(5), ref, `${name} odd offsets${im ? ' imatrix' : ''}`, c.type.typeSize);
      }
    });
  }

  test(`${name}: uses the importance matrix${spec.requiresImatrix ? ' and requires one' : ''} (shapes, refusals: conformance.test.ts)`, () => {
    const c = codec(name);
    assert.equal(c.usesImatrix, true);
    assert.equal((c as { requiresImatrix?: boolean }).requiresImatrix, spec.requiresImatrix);
    assert.equal(oracle().requiresImatrix(c.type.id), spec.requiresImatrix);
  });
}
