// Shared checks of the block-format tests against ggml: codec lookup, one-shot quantize, byte and
// float comparisons that name the first difference, quantize through both the WebAssembly and the
// TypeScript paths, and importance matrices of several kinds.
import assert from 'node:assert/strict';
import { codecByName } from '../../src/formats/registry.js';
import { rowBytes, type BlockCodec } from '../../src/formats/codec.js';
import { oracle, rng } from './oracle.js';
import { setWasmKernels, wasmKernelsActive } from '../../src/formats/wasm/kernels.js';
import { LowbitError } from '../../src/errors.js';

export function codec(name: string): BlockCodec {
  const c = codecByName(name);
  assert.ok(c, `${name} is registered`);
  return c;
}

export function quantize(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): Uint8Array {
  const out = new Uint8Array(nRows * rowBytes(c, nPerRow));
  c.quantize(x, out, nRows, nPerRow, imatrix);
  return out;
}

/**
 * Quantizes through the WebAssembly kernels and through the TypeScript reference (kernels off):
 * the same bytes, or the same LowbitError from both, or the test fails.
 */
export function quantizeBothPaths(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): Uint8Array {
  assert.ok(wasmKernelsActive(), 'the WebAssembly kernels load here');
  let wasm: Uint8Array | null = null,
    wasmErr: unknown = null;
  try {
    wasm = quantize(c, x, nRows, nPerRow, imatrix);
  } catch (e) {
    wasmErr = e;
  }
  setWasmKernels(false);
  let ts: Uint8Array | null = null,
    tsErr: unknown = null;
  try {
    ts = quantize(c, x, nRows, nPerRow, imatrix);
  } catch (e) {
    tsErr = e;
  } finally {
    setWasmKernels(true);
  }
  if (wasmErr || tsErr) {
    assert.ok(wasmErr instanceof LowbitError, `${c.name} wasm: ${wasmErr ?? 'no error'}`);
    assert.ok(tsErr instanceof LowbitError, `${c.name} TypeScript: ${tsErr ?? 'no error'}`);
    assert.equal((wasmErr as Error).message, (tsErr as Error).message);
    throw wasmErr;
  }
  assertBytes(wasm!, ts!, `${c.name} wasm vs TypeScript`, c.type.typeSize);
  return wasm!;
}

/** First differing byte, for a readable failure instead of a 100 KB diff. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string, blockBytes: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i])
      assert.fail(
        `${what}: byte ${i} (block ${Math.floor(i / blockBytes)}, offset ${i % blockBytes}) is ${actual[i]}, ggml has ${expected[i]}`,
      );
  }
}

/** Bit-level float equality, -0 distinct from 0, any NaN equal to any NaN. */
export function assertFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: value ${i} is ${actual[i]}, ggml has ${expected[i]}`);
  }
}

/** Importances of kind 0 uniform, 1 zeros and a wide range, 2 all zero, 3 all one, 4 a few dominant columns. */
export function randomImatrix(seed: number, n: number, kind: number): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 0) w[i] = r() * 10;
    else if (kind === 1) w[i] = r() < 0.3 ? 0 : r() ** 4 * 1e4;
    else if (kind === 2) w[i] = 0;
    else if (kind === 3) w[i] = 1;
    else w[i] = r() < 0.05 ? 1e6 * r() : 1e-3 * r();
  }
  return w;
}

/**
 * Dequantize of random bytes with the WebAssembly kernels on, off (TypeScript) and ggml's to_float:
 * bit for bit (NaN equal to NaN). 1500 blocks (several 64 KiB windows), odd source and
 * destination offsets; `setScale(bytes, blockStart, half)` forces a block's fp16 scale, given to put
 * NaN, ±Inf, ±0 and the largest/smallest halves into some blocks.
 */
export function checkDequantizeWasm(
  name: string,
  setScale: ((b: Uint8Array, o: number, h: number) => void) | null,
  seed = 99,
): void {
  const o = oracle();
  const c = codec(name);
  const r = rng(seed + c.type.id);
  const nBlocks = 1500,
    ts = c.type.typeSize,
    n = nBlocks * c.type.blockSize;
  const raw = new Uint8Array(nBlocks * ts + 3);
  const bytes = raw.subarray(3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  if (setScale) {
    const halves = [0x7e00, 0x7c01, 0xfe00, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x03ff];
    for (let k = 0; k < halves.length; k++) setScale(bytes, ((k * 97 + 5) % nBlocks) * ts, halves[k]!);
  }
  const want = o.dequantize(c.type.id, bytes, n);
  const big = new Float32Array(n + 1);
  const y = big.subarray(1);
  setWasmKernels(true);
  assert.ok(wasmKernelsActive(), 'the WebAssembly kernels load here');
  c.dequantize(bytes, y, n);
  assertFloats(y, want, `${name} dequantize (WebAssembly)`);
  setWasmKernels(false);
  try {
    const t = new Float32Array(n);
    c.dequantize(bytes, t, n);
    assertFloats(t, want, `${name} dequantize (TypeScript)`);
  } finally {
    setWasmKernels(true);
  }
}
