// Every registered block codec against ggml's own quantizer and dequantizer (libggml-base.so through
// koffi), as llama.cpp's test-quantize-fns.cpp loops over all types: a new codec is tested by being
// registered in src/formats/registry.ts. Random rows and edge rows (zeros, ties, denormals, huge,
// NaN/Inf), with and without importance matrices, through the WebAssembly kernels and the
// TypeScript reference (same bytes from both), byte for byte; dequantize bit for bit. Where lowbit
// refuses a row (a LowbitError from both paths: ggml aborts on it) ggml is not asked, since it would
// abort this process; the per-format suites check those refusals against ggml's own checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecs } from '../../src/formats/registry.js';
import type { BlockCodec } from '../../src/formats/codec.js';
import { GGML_TYPE } from '../../src/formats/ggml-types.js';
import { setWasmKernels } from '../../src/formats/wasm/kernels.js';
import { LowbitError } from '../../src/errors.js';
import { rowBytes } from '../../src/formats/codec.js';
import { oracle, randomRows, rng } from '../support/oracle.js';
import { assertBytes, assertFloats, quantizeBothPaths, randomImatrix } from '../support/ggml-check.js';

/** Rows whose handling ggml defines, each a function of the position in the row. */
const EDGE_ROWS: ((i: number) => number)[] = [
  () => 0,
  () => -0,
  () => 1,
  () => -0.37,
  (i) => (i === 37 ? 1000 : 0.02 * Math.sin(i)), // one outlier
  (i) => 0.5 * ((i % 5) - 2), // ties
  (i) => (i % 16) - 8, // an integer grid
  (i) => ((i % 3) - 1) * 1e-40, // denormals
  (i) => (i % 2 ? 3e38 : -3.4e38), // huge
  (i) => (i % 2) * 131008, // overflows FP16 scales
  (i) => 2 ** ((i % 60) - 30), // many binades
  (i) => (i < 128 ? 0 : Math.sin(i)), // zero blocks next to live ones
  (i) => (i === 7 ? Infinity : i * 0.1),
  (i) => (i === 9 ? -Infinity : 1),
  (i) => (i === 3 ? NaN : i * 0.01),
  (i) => (i === 0 ? 5 : i === 1 ? NaN : 0.01 * i),
];

/** ggml's to_float; F32 has none (ggml copies its bytes), so its bytes are read as float32. */
function ggmlDequantize(c: BlockCodec, bytes: Uint8Array, n: number): Float32Array {
  if (c.type.id === GGML_TYPE.F32) return new Float32Array(bytes.slice(0, n * 4).buffer);
  return oracle().dequantize(c.type.id, bytes, n);
}

function rowLength(c: BlockCodec, k: number): number {
  return Math.max(256, c.type.blockSize) * k;
}

/** lowbit (both paths) against ggml for one set of rows; false when lowbit refused them. */
function check(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  im: Float32Array | null,
  what: string,
): boolean {
  let bytes: Uint8Array;
  try {
    bytes = quantizeBothPaths(c, x, nRows, nPerRow, im);
  } catch (e) {
    if (e instanceof LowbitError) return false;
    throw e;
  }
  const o = oracle();
  const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
  assertBytes(bytes, ref, `${what} quantize`, c.type.typeSize);
  const n = nRows * nPerRow;
  const expected = ggmlDequantize(c, ref, n);
  for (const wasm of [true, false]) {
    setWasmKernels(wasm);
    try {
      const y = new Float32Array(n);
      c.dequantize(ref, y, n);
      assertFloats(y, expected, `${what} dequantize (${wasm ? 'WebAssembly' : 'TypeScript'})`);
    } finally {
      setWasmKernels(true);
    }
  }
  return true;
}

for (const c of codecs()) {
  const imatrices = (nPerRow: number, seed: number): (Float32Array | null)[] => [
    ...(c.requiresImatrix ? [] : [null]),
    randomImatrix(seed, nPerRow, seed % 5),
    randomImatrix(seed + 1, nPerRow, 1),
  ];

  test(`${c.name}: random rows match ggml, with and without an importance matrix, WebAssembly on and off`, () => {
    assert.equal(oracle().typeSize(c.type.id), c.type.typeSize, `${c.name}: ggml's type size`);
    assert.equal(oracle().blockSize(c.type.id), c.type.blockSize, `${c.name}: ggml's block size`);
    assert.equal(
      oracle().requiresImatrix(c.type.id),
      c.requiresImatrix ?? false,
      `${c.name}: requires an imatrix as ggml says`,
    );
    let seed = 1;
    for (const k of [1, 3]) {
      const nPerRow = rowLength(c, k);
      for (let s = 0; s < 3; s++, seed++) {
        const x = randomRows(seed * 104729 + c.type.id, 3, nPerRow);
        for (const im of imatrices(nPerRow, seed)) {
          const what = `${c.name} seed ${seed} n=${nPerRow} ${im ? 'imatrix' : 'no imatrix'}`;
          assert.ok(check(c, x, 3, nPerRow, im, what), `${what}: lowbit refused finite random rows`);
        }
      }
    }
  });

  test(`${c.name}: edge rows (zeros, ties, denormals, huge, NaN/Inf) match ggml where it defines them`, () => {
    const nPerRow = rowLength(c, 1);
    let compared = 0;
    EDGE_ROWS.forEach((f, r) => {
      const x = Float32Array.from({ length: nPerRow }, (_, i) => f(i));
      for (const im of imatrices(nPerRow, 50 + r)) {
        if (check(c, x, 1, nPerRow, im, `${c.name} edge row ${r}${im ? ' imatrix' : ''}`)) compared++;
      }
    });
    // the finite rows are always compared (zeros, ties, grids): a codec refusing everything fails
    assert.ok(compared >= 6, `${c.name}: only ${compared} edge rows compared`);
  });

  test(`${c.name}: arbitrary bytes dequantize as ggml's to_float does, WebAssembly on and off`, () => {
    const r = rng(4242 + c.type.id);
    const nBlocks = 1024; // enough random indices to reach every grid point of the lattice formats
    const bytes = Uint8Array.from({ length: nBlocks * c.type.typeSize }, () => Math.floor(r() * 256));
    const n = nBlocks * c.type.blockSize;
    const ref = ggmlDequantize(c, bytes, n);
    for (const wasm of [true, false]) {
      setWasmKernels(wasm);
      try {
        const y = new Float32Array(n);
        c.dequantize(bytes, y, n);
        for (let i = 0; i < n; i++) {
          if (Number.isNaN(ref[i])) assert.ok(Number.isNaN(y[i]), `${c.name} value ${i} should be NaN`);
          else
            assert.ok(
              Object.is(y[i], ref[i]),
              `${c.name} value ${i} is ${y[i]}, ggml has ${ref[i]} (${wasm ? 'WebAssembly' : 'TypeScript'})`,
            );
        }
      } finally {
        setWasmKernels(true);
      }
    }
  });

  test(`${c.name}: bad shapes and short buffers are a LowbitError (a missing required imatrix too), exact ones are not; a one-line layout`, () => {
    const bs = c.type.blockSize;
    const im = c.requiresImatrix ? new Float32Array(4096).fill(1) : null;
    // row lengths that are not a multiple of the block size, or not positive
    for (const bad of [bs + 16, bs + bs / 2, 48, 320].filter((v) => v % bs !== 0)) {
      assert.throws(() => c.quantize(new Float32Array(2 * bad), new Uint8Array(4096), 2, bad, im), LowbitError);
      assert.throws(() => c.dequantize(new Uint8Array(4096), new Float32Array(bad), bad), LowbitError);
    }
    assert.throws(() => c.quantize(new Float32Array(bs), new Uint8Array(4096), 1, 0, im), LowbitError);
    // sizes that do not add up are refused before anything is written
    const n = 2 * Math.max(256, bs);
    const rb = rowBytes(c, n);
    const dst = new Uint8Array(2 * rb);
    const full = new Float32Array(2 * n);
    assert.throws(() => c.quantize(new Float32Array(n), dst, 2, n, im), LowbitError); // src holds 1 row
    assert.throws(() => c.quantize(full, dst.subarray(1), 2, n, im), LowbitError);
    assert.throws(() => c.quantize(full, new Uint8Array(10), 2, n, im), LowbitError);
    assert.throws(() => c.quantize(full, dst, 2, n, new Float32Array(n - 1)), LowbitError);
    assert.throws(() => c.quantize(full, dst, 2, n, new Float32Array(n / 2)), LowbitError);
    assert.throws(() => c.dequantize(dst.subarray(1), new Float32Array(2 * n), 2 * n), LowbitError);
    assert.throws(() => c.dequantize(new Uint8Array(c.type.typeSize), new Float32Array(2 * n), 2 * n), LowbitError);
    assert.throws(() => c.dequantize(dst, new Float32Array(2 * n - 1), 2 * n), LowbitError);
    if (c.requiresImatrix) assert.throws(() => c.quantize(full, dst, 2, n, null), /importance matrix/);
    else c.quantize(full, dst, 2, n, null);
    c.quantize(full, dst, 2, n, new Float32Array(n)); // the exact sizes are fine
    c.quantize(full, dst, 2, n, new Float32Array(n).fill(1));
    c.dequantize(dst, new Float32Array(2 * n), 2 * n);
    assert.ok(c.layout.length > 20 && !c.layout.includes('\n'), `${c.name}: layout`);
  });
}
