// Q2_K..Q6_K must be byte-identical to ggml 0.23.0: the committed golden vectors, then the live
// ggml library (quantize with and without imatrix, dequantize) over random and edge-case inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecByName } from '../../../src/formats/registry.js';
import { rowBytes, type BlockCodec } from '../../../src/formats/codec.js';
import { setWasmKernels, wasmKernelsActive } from '../../../src/formats/wasm/kernels.js';
import { loadGolden } from '../../support/golden.js';
import { gaussian, oracle, randomRows, rng } from '../../support/oracle.js';

const NAMES = ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];

function codec(name: string): BlockCodec {
  const c = codecByName(name);
  assert.ok(c, `${name} is registered`);
  return c;
}

/** Byte equality with the first mismatch located by block, so failures are readable. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, typeSize: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${label}: byte ${i} (block ${Math.floor(i / typeSize)}, offset ${i % typeSize}) is ${actual[i]}, ggml wrote ${expected[i]}`,
      );
    }
  }
}

/** Float equality bit for bit (so -0 ≠ +0), with any NaN equal to any NaN. */
function sameFloats(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      assert.fail(`${label}: value ${i} is ${actual[i]}, ggml gives ${expected[i]}`);
    }
  }
}

function quantizeWith(
  wasm: boolean,
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
): Uint8Array {
  const out = new Uint8Array(nRows * rowBytes(c, nPerRow));
  setWasmKernels(wasm);
  try {
    c.quantize(x, out, nRows, nPerRow, imatrix);
  } finally {
    setWasmKernels(true);
  }
  return out;
}

/** Both code paths (WebAssembly kernel where there is one, TypeScript reference) must equal ggml. */
function quantizeBoth(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
  expected: Uint8Array,
  label: string,
): void {
  sameBytes(quantizeWith(true, c, x, nRows, nPerRow, imatrix), expected, c.type.typeSize, `${label} (wasm)`);
  sameBytes(quantizeWith(false, c, x, nRows, nPerRow, imatrix), expected, c.type.typeSize, `${label} (typescript)`);
}

test('the WebAssembly kernels load here, so both paths are really tested', () => {
  assert.equal(wasmKernelsActive(), true);
});

/** Quantize with lowbit and ggml, compare bytes, then compare both dequantizers on the result. */
function checkAgainstOracle(
  c: BlockCodec,
  x: Float32Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
  label: string,
): void {
  const o = oracle();
  const ref = o.quantize(c.type.id, x, nRows, nPerRow, imatrix);
  quantizeBoth(c, x, nRows, nPerRow, imatrix, ref, label);
  const y = new Float32Array(nRows * nPerRow);
  c.dequantize(ref, y, y.length);
  sameFloats(y, o.dequantize(c.type.id, ref, y.length), `${label} dequantize`);
}

/** Importances of several shapes: log-uniform, with exact zeros, all zero, one hot. */
function randomImatrix(seed: number, n: number): Float32Array {
  const r = rng(seed);
  const kind = seed % 4;
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 0) w[i] = 10 ** (r() * 6 - 3);
    else if (kind === 1) w[i] = r() < 0.3 ? 0 : r() * 5;
    else if (kind === 2) w[i] = 0;
    else w[i] = i % 97 === 0 ? 1000 : r() < 0.5 ? 0 : 1e-4 * r();
  }
  return w;
}

/** One 256-row of each edge case the brief names; nPerRow values per row. */
function edgeRows(nPerRow: number): { name: string; x: Float32Array }[] {
  const r = rng(7);
  const mk = (name: string, f: (i: number) => number) => {
    const x = new Float32Array(nPerRow);
    for (let i = 0; i < nPerRow; i++) x[i] = f(i);
    return { name, x };
  };
  return [
    mk('zeros', () => 0),
    mk('negative zeros', () => -0),
    mk('constant', () => 0.75),
    mk('constant negative', () => -3.5),
    mk('huge outlier', (i) => (i === 77 ? 1e6 : gaussian(r) * 0.01)),
    mk('huge negative outlier', (i) => (i === 130 ? -5e4 : gaussian(r) * 0.02)),
    mk('tiny 1e-30', () => gaussian(r) * 1e-30),
    mk('denormal', () => gaussian(r) * 1e-41),
    mk('alternating 0 / 1e-30', (i) => (i & 1 ? 1e-30 : 0)),
    mk('huge 1e30', () => gaussian(r) * 1e30),
    mk('near float max', (i) => (i % 3 === 0 ? 3e38 : -1e38 * r())),
    mk('beyond fp16 range', () => gaussian(r) * 1e6),
    mk('all negative', () => -r()),
    mk('all positive', () => r() + 0.01),
    mk('rounding ties', (i) => ((i % 16) - 8 + 0.5) * 0.125),
    mk('integer grid', (i) => ((i * 7) % 16) - 8),
    mk('two levels', (i) => (i % 5 === 0 ? 0.3 : -0.1)),
    mk('sparse', () => (r() < 0.95 ? 0 : gaussian(r))),
    mk('one nonzero per block', (i) => (i % 256 === 3 ? 2.5 : 0)),
    mk('ramp', (i) => i / nPerRow - 0.5),
    // not finite: ggml does not reject these, so the bytes it writes are the contract
    mk('one NaN', (i) => (i === 9 ? NaN : gaussian(r))),
    mk('one +Inf', (i) => (i === 9 ? Infinity : gaussian(r))),
    mk('one -Inf', (i) => (i === 300 ? -Infinity : gaussian(r))),
  ];
}

for (const name of NAMES) {
  test(`${name} matches the ggml golden vectors (with and without imatrix)`, () => {
    const g = loadGolden();
    const c = codec(name);
    const gt = g.types[name];
    assert.ok(gt && gt.imatrixQuant, `golden manifest has ${name}`);
    quantizeBoth(c, g.input, g.rows, g.rowLength, null, g.bytes(gt.quant.file), `${name} golden`);
    const x64 = g.input.subarray(0, g.imatrixRows * g.rowLength);
    quantizeBoth(
      c,
      x64,
      g.imatrixRows,
      g.rowLength,
      g.imatrix,
      g.bytes(gt.imatrixQuant.file),
      `${name} golden imatrix`,
    );
  });

  test(`${name} dequantizes the golden blocks exactly as ggml`, () => {
    const g = loadGolden();
    const c = codec(name);
    const gt = g.types[name]!;
    for (const file of [gt.quant.file, gt.imatrixQuant!.file]) {
      const q = g.bytes(file);
      const n = (q.length / c.type.typeSize) * c.type.blockSize;
      const y = new Float32Array(n);
      c.dequantize(q, y, n);
      sameFloats(y, oracle().dequantize(c.type.id, q, n), `${name} ${file}`);
    }
  });

  test(`${name} matches ggml on random rows, with and without random imatrices`, () => {
    const c = codec(name);
    for (let seed = 1; seed <= 40; seed++) {
      const nPerRow = seed % 3 === 0 ? 512 : 256;
      const x = randomRows(seed * 101 + c.type.id, 8, nPerRow);
      checkAgainstOracle(c, x, 8, nPerRow, null, `${name} seed ${seed}`);
      checkAgainstOracle(c, x, 8, nPerRow, randomImatrix(seed, nPerRow), `${name} seed ${seed} imatrix`);
    }
  });

  test(`${name} matches ggml on long rows (4096)`, () => {
    const c = codec(name);
    const x = randomRows(4242 + c.type.id, 2, 4096);
    checkAgainstOracle(c, x, 2, 4096, null, `${name} 4096`);
    checkAgainstOracle(c, x, 2, 4096, randomImatrix(1, 4096), `${name} 4096 imatrix`);
    checkAgainstOracle(c, x, 2, 4096, randomImatrix(3, 4096), `${name} 4096 imatrix with zeros`);
  });

  test(`${name} matches ggml on edge cases`, () => {
    const c = codec(name);
    for (const { name: what, x } of edgeRows(512)) {
      checkAgainstOracle(c, x, 1, 512, null, `${name} ${what}`);
      checkAgainstOracle(c, x, 1, 512, randomImatrix(4, 512), `${name} ${what} imatrix`);
      checkAgainstOracle(c, x, 1, 512, randomImatrix(5, 512), `${name} ${what} imatrix with zeros`);
      checkAgainstOracle(c, x, 1, 512, randomImatrix(6, 512), `${name} ${what} zero imatrix`);
    }
  });

  test(`${name} dequantizes arbitrary blocks exactly as ggml`, () => {
    // random bytes reach every scale, sign and level combination, including non-finite fp16 scales
    const c = codec(name);
    const r = rng(99 + c.type.id);
    const nb = 64;
    const q = new Uint8Array(nb * c.type.typeSize);
    for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 256);
    const y = new Float32Array(nb * 256);
    c.dequantize(q, y, y.length);
    sameFloats(y, oracle().dequantize(c.type.id, q, y.length), `${name} random blocks`);
  });
}
