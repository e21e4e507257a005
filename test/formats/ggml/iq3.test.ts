// IQ3_XXS and IQ3_S against ggml itself (libggml-base.so through the oracle): grid tables and the
// neighbour lists, quantize byte for byte (with and without imatrix, many seeds, distributions and
// edge cases, including the inputs on which ggml aborts), dequantize bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LowbitError } from '../../../src/errors.js';
import {
  IQ3XXS_LEVELS,
  KGRID_256,
  KGRID_512,
  KSIGNS,
  iq3Grid256,
  iq3Grid512,
  type Iq3Grid,
} from '../../../src/formats/ggml/iq3-grids.js';
import { setIq3FastPathCheck } from '../../../src/formats/ggml/iq3-search.js';
import { setWasmKernels } from '../../../src/formats/wasm/kernels.js';
import { loadGolden } from '../../support/golden.js';
import { gaussian, oracle, randomRows, rng } from '../../support/oracle.js';
import {
  assertBytes,
  assertFloats,
  checkDequantizeWasm,
  codec,
  quantize as quantizeOnce,
  quantizeBothPaths,
  randomImatrix,
} from '../../support/ggml-check.js';

const NAMES = ['IQ3_XXS', 'IQ3_S'] as const;

/** Through the WebAssembly kernel (iq3.as) and the TypeScript reference: the same bytes or the same LowbitError. */
const quantize = quantizeBothPaths;

/** Hard rows: zeros (whole and partial), constants, outliers, tiny/denormal/huge values, ties, Inf/NaN. */
function edgeRows(nPerRow: number): { x: Float32Array; nRows: number } {
  const fs: ((i: number) => number)[] = [
    () => 0,
    () => -0,
    (i) => (i % 2 ? -0 : 0),
    () => 1,
    () => -0.37,
    (i) => (i % 8 === 3 ? -1 : 1), // one negative per 8: odd sign count everywhere
    (i) => (i === 37 % nPerRow ? 1000 : 0.02 * Math.sin(i)),
    (i) => (i === 5 ? -30000 : 0.01 * Math.cos(i * 3)),
    (i) => (i === 5 ? 7.5 : 0),
    (i) => (i === 5 ? -7.5 : 0),
    () => 1e-30,
    () => 5e-9, // below IQ3_XXS's 1e-8 group threshold
    (i) => ((i % 3) - 1) * 1e-40, // denormals
    (i) => (i === 3 ? 1e-45 : 0), // the smallest denormal alone
    (i) => i * 1e-45,
    (i) => (i % 2 ? 1e19 : -1e19), // squares near the float32 limit
    (i) => (i % 2 ? 3e38 : -3.4e38),
    (i) => (i % 2) * 131008,
    (i) => 0.5 * ((i % 5) - 2), // ties
    (i) => (i % 16) - 8, // integer grid
    (i) => (i % 15) + 1, // odd levels: on the grid or not
    (i) => 2 ** ((i % 60) - 30), // many binades
    (i) => (i === 100 % nPerRow ? 1e6 : 1e-3 * (i % 7)),
    (i) => (i < nPerRow / 2 ? 0 : Math.sin(i)), // zero super-blocks next to live ones
    (i) => (Math.floor(i / 32) % 3 === 0 ? 0 : Math.cos(i)), // zero 32-blocks inside a super-block
    (i) => (Math.floor(i / 32) % 2 === 1 ? 0 : Math.sin(i * 7)),
    (i) => (i % 32 < 4 ? 0 : Math.sin(i)), // zero groups of four
    (i) => (i === 7 ? Infinity : i * 0.1),
    (i) => (i === 9 ? -Infinity : 1),
    (i) => (i === 3 ? NaN : i * 0.01),
    (i) => (i === 31 ? NaN : 0.01 * i), // NaN as a block's last value: ggml's MAX keeps it
    (i) => (i === 0 ? 5 : i === 1 ? NaN : 0.01 * i),
  ];
  const x = new Float32Array(fs.length * nPerRow);
  fs.forEach((f, r) => {
    for (let i = 0; i < nPerRow; i++) x[r * nPerRow + i] = f(i);
  });
  return { x, nRows: fs.length };
}

const CHILD = fileURLToPath(new URL('../../support/ggml-abort-child.mjs', import.meta.url));

/**
 * ggml_quantize_chunk of each row in a child process: the row's bytes, or null where ggml aborted
 * (a failed GGML_ASSERT). The child is restarted after each abort.
 */
function ggmlRowsInChild(
  type: number,
  x: Float32Array,
  nPerRow: number,
  im: Float32Array | null,
): (Uint8Array | null)[] {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-iq3-'));
  try {
    const xf = join(dir, 'x.f32');
    writeFileSync(xf, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    let imf = '-';
    if (im) {
      imf = join(dir, 'im.f32');
      writeFileSync(imf, new Uint8Array(im.buffer, im.byteOffset, im.byteLength));
    }
    const nRows = x.length / nPerRow;
    const out: (Uint8Array | null)[] = [];
    while (out.length < nRows) {
      const r = spawnSync(process.execPath, [CHILD, String(type), String(nPerRow), xf, imf, String(out.length)], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
        env: { ...process.env, GGML_NO_BACKTRACE: '1' },
      });
      const lines = r.stdout.split('\n');
      for (const line of lines) {
        const [row, hex] = line.split(' ');
        if (!hex) continue;
        assert.equal(Number(row), out.length);
        out.push(new Uint8Array(Buffer.from(hex, 'hex')));
      }
      if (out.length < nRows) {
        // the child died in this row: it must have been a ggml assertion, not anything else
        assert.notEqual(r.status, 0, `child stopped early at row ${out.length} without an error`);
        assert.match(r.stderr, /GGML_ASSERT|ggml|Oops/, `child died at row ${out.length}: ${r.stderr.slice(0, 500)}`);
        out.push(null);
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("IQ3 grids: the dequantization tables are ggml's (crafted blocks over every grid index)", () => {
  const o = oracle();
  // IQ3_XXS: d = 4 and sub-scale 0 make db = 1, so ggml returns iq3xxs_grid's bytes themselves
  {
    const c = codec('IQ3_XXS');
    const nb = 4; // 64 indices per block
    const bytes = new Uint8Array(nb * 98);
    for (let b = 0; b < nb; b++) {
      bytes[b * 98] = 0x00;
      bytes[b * 98 + 1] = 0x44; // fp16 4.0
      for (let j = 0; j < 64; j++) bytes[b * 98 + 2 + j] = b * 64 + j;
    }
    const y = o.dequantize(c.type.id, bytes, nb * 256);
    for (let k = 0; k < 256; k++) {
      for (let i = 0; i < 4; i++)
        assert.equal(y[4 * k + i], IQ3XXS_LEVELS[(KGRID_256[k]! >> (3 * i)) & 7], `iq3xxs_grid[${k}] byte ${i}`);
    }
    const mine = new Float32Array(nb * 256);
    c.dequantize(bytes, mine, nb * 256);
    assertFloats(mine, y, 'IQ3_XXS crafted grid blocks');
  }
  // IQ3_S: d = 1, scale nibble 0 (db = 1); qh selects the upper 256 grid points in odd blocks
  {
    const c = codec('IQ3_S');
    const nb = 8; // 64 indices per block, 512 in all
    const bytes = new Uint8Array(nb * 110);
    for (let b = 0; b < nb; b++) {
      const o0 = b * 110;
      bytes[o0] = 0x00;
      bytes[o0 + 1] = 0x3c; // fp16 1.0
      for (let j = 0; j < 64; j++) bytes[o0 + 2 + j] = ((b >> 1) * 64 + j) & 255;
      if (b & 1) for (let j = 0; j < 8; j++) bytes[o0 + 66 + j] = 0xff;
    }
    const y = o.dequantize(c.type.id, bytes, nb * 256);
    for (let b = 0; b < nb; b++) {
      for (let j = 0; j < 64; j++) {
        const k = (b & 1) * 256 + (b >> 1) * 64 + j;
        for (let i = 0; i < 4; i++)
          assert.equal(y[b * 256 + 4 * j + i], 2 * ((KGRID_512[k]! >> (3 * i)) & 7) + 1, `iq3s_grid[${k}] byte ${i}`);
      }
    }
    const mine = new Float32Array(nb * 256);
    c.dequantize(bytes, mine, nb * 256);
    assertFloats(mine, y, 'IQ3_S crafted grid blocks');
  }
  // ksigns_iq2xs: a few entries as printed in ggml-common.h
  assert.deepEqual([...KSIGNS.subarray(0, 8)], [0, 129, 130, 3, 132, 5, 6, 135]);
  assert.equal(KSIGNS[127], 255);
});

/** The neighbour lists as iq3xs_init_impl builds them: qsort by (distance, index), nwant distances. */
function referenceNeighbours(kgrid: Uint16Array, nwant: number, u: number): number[] {
  const pairs: [number, number][] = [];
  for (let j = 0; j < kgrid.length; j++) {
    let d2 = 0;
    for (let k = 0; k < 4; k++) {
      const d = 2 * ((kgrid[j]! >> (3 * k)) & 7) + 1 - (2 * ((u >> (3 * k)) & 7) + 1);
      d2 += d * d;
    }
    pairs.push([d2, j]);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: number[] = [];
  let d2 = pairs[0]![0],
    nhave = 1;
  for (const [d, j] of pairs) {
    if (d > d2) {
      if (nhave === nwant) break;
      d2 = d;
      nhave++;
    }
    out.push(j);
  }
  return out;
}

test("IQ3 grids: map and neighbour lists equal iq3xs_init_impl's, in its order", () => {
  const cases: [Iq3Grid, Uint16Array, number][] = [
    [iq3Grid256(), KGRID_256, 2],
    [iq3Grid512(), KGRID_512, 3],
  ];
  for (const [g, kgrid, nwant] of cases) {
    let off = 0;
    for (let u = 0; u < 4096; u++) {
      const on = kgrid.indexOf(u);
      if (on >= 0) {
        assert.equal(g.map[u], on);
        continue;
      }
      assert.equal(g.map[u], -(off + 1), `map[${u}]`);
      const n = g.neighbours[off]!;
      assert.deepEqual(
        [...g.neighbours.subarray(off + 1, off + 1 + n)],
        referenceNeighbours(kgrid, nwant, u),
        `neighbours of ${u} (grid ${kgrid.length})`,
      );
      off += n + 1;
    }
    assert.equal(off, g.neighbours.length);
  }
});

for (const name of NAMES) {
  test(`${name}: registered, with layout and imatrix use`, () => {
    const c = codec(name);
    assert.equal(c.usesImatrix, true);
    assert.equal(c.type.blockSize, 256);
    assert.equal(c.type.typeSize, name === 'IQ3_XXS' ? 98 : 110);
    assert.ok(c.layout.length > 20 && !c.layout.includes('\n'));
  });

  test(`${name}: quantize and dequantize match the live ggml oracle over seeds, row lengths, imatrices`, () => {
    const o = oracle();
    const c = codec(name);
    let seed = 1;
    for (const nPerRow of [256, 512, 1536]) {
      const nRows = Math.max(2, Math.floor(6144 / nPerRow));
      for (let k = 0; k < 6; k++, seed++) {
        const x = randomRows(seed * 7919 + 3, nRows, nPerRow);
        for (const im of [null, randomImatrix(seed, nPerRow, k % 4)]) {
          const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
          const what = `${name} seed ${seed} n=${nPerRow} ${im ? `imatrix kind ${k % 4}` : 'no imatrix'}`;
          assertBytes(quantize(c, x, nRows, nPerRow, im), ref, what, c.type.typeSize);
          const y = new Float32Array(x.length);
          c.dequantize(ref, y, x.length);
          assertFloats(y, o.dequantize(c.type.id, ref, x.length), `${what} dequantize`);
        }
      }
    }
  });

  test(`${name}: the golden input set (all its distributions) matches ggml, with and without imatrix`, () => {
    const o = oracle();
    const c = codec(name);
    const g = loadGolden();
    const plain = quantize(c, g.input, g.rows, g.rowLength, null);
    assertBytes(
      plain,
      o.quantize(c.type.id, g.input, g.rows, g.rowLength, null),
      `${name} golden input`,
      c.type.typeSize,
    );
    const x = g.input.subarray(0, g.imatrixRows * g.rowLength);
    const withIm = quantize(c, x, g.imatrixRows, g.rowLength, g.imatrix);
    assertBytes(
      withIm,
      o.quantize(c.type.id, x, g.imatrixRows, g.rowLength, g.imatrix),
      `${name} golden input imatrix`,
      c.type.typeSize,
    );
    assert.notDeepEqual(withIm, plain.subarray(0, withIm.length));
  });

  test(`${name}: edge cases match ggml, and where ggml aborts lowbit throws a LowbitError`, () => {
    const c = codec(name);
    for (const nPerRow of [256, 512]) {
      const { x, nRows } = edgeRows(nPerRow);
      for (const im of [null, randomImatrix(99, nPerRow, 1), randomImatrix(98, nPerRow, 2)]) {
        // rows of 256 run in a child that survives ggml's aborts; rows of 512 in process, except
        // those where lowbit refuses (the same rows as at 256, whose aborts were checked there)
        const ref = nPerRow === 256 ? ggmlRowsInChild(c.type.id, x, nPerRow, im) : null;
        for (let r = 0; r < nRows; r++) {
          const xr = x.subarray(r * nPerRow, (r + 1) * nPerRow);
          const what = `${name} edge row ${r} n=${nPerRow}${im ? ' imatrix' : ''}`;
          let expected: Uint8Array | null;
          if (ref) expected = ref[r] ?? null;
          else {
            try {
              quantize(c, xr, 1, nPerRow, im);
            } catch (e) {
              assert.ok(e instanceof LowbitError, `${what}: ${e}`);
              continue;
            }
            expected = oracle().quantize(c.type.id, xr, 1, nPerRow, im);
          }
          if (!expected) {
            assert.throws(() => quantize(c, xr, 1, nPerRow, im), LowbitError, `${what}: ggml aborts`);
            continue;
          }
          assertBytes(quantize(c, xr, 1, nPerRow, im), expected, what, c.type.typeSize);
          const y = new Float32Array(nPerRow);
          c.dequantize(expected, y, nPerRow);
          assertFloats(y, oracle().dequantize(c.type.id, expected, nPerRow), `${what} dequantize`);
        }
      }
    }
  });
}

for (const name of NAMES) {
  test(`${name}: the WebAssembly kernel over several 64 KiB windows and at odd offsets matches ggml and the TypeScript path`, () => {
    const o = oracle();
    const c = codec(name);
    const tb = c.type.typeSize;
    // block kernel: 64 blocks per window; row kernel: rows of 4096 (4 per window) and rows longer
    // than a window
    for (const [nRows, nPerRow, seed] of [
      [200, 256, 5],
      [3, 4352, 6],
      [10, 4096, 7],
      [2, 32768, 8],
    ] as const) {
      const x = randomRows(seed * 131 + 1, nRows, nPerRow);
      for (const im of [null, randomImatrix(seed, nPerRow, 0)]) {
        const ref = o.quantize(c.type.id, x, nRows, nPerRow, im);
        assertBytes(
          quantize(c, x, nRows, nPerRow, im),
          ref,
          `${name} ${nRows}x${nPerRow} ${im ? 'imatrix' : 'no imatrix'}`,
          tb,
        );
        // input at an odd float offset, output at an odd byte offset, imatrix at an odd offset
        const xs = new Float32Array(x.length + 3);
        xs.set(x, 3);
        const dstAll = new Uint8Array(ref.length + 5);
        let ims: Float32Array | null = null;
        if (im) {
          const b = new Float32Array(nPerRow + 1);
          b.set(im, 1);
          ims = b.subarray(1);
        }
        c.quantize(xs.subarray(3), dstAll.subarray(5), nRows, nPerRow, ims);
        assertBytes(dstAll.subarray(5), ref, `${name} ${nRows}x${nPerRow} odd offsets`, tb);
        assert.equal(dstAll[0], 0);
      }
    }
  });

  test(`${name}: a row ggml aborts on among good rows throws a LowbitError on both paths`, () => {
    const c = codec(name);
    const nPerRow = 512,
      nRows = 150;
    const x = randomRows(77, nRows, nPerRow);
    x[130 * nPerRow + 300] = NaN; // in the third window
    for (const im of [null, randomImatrix(3, nPerRow, 0)]) {
      const bad = x.subarray(130 * nPerRow, 131 * nPerRow);
      assert.deepEqual(ggmlRowsInChild(c.type.id, bad, nPerRow, im), [null], `${name}: ggml aborts on that row`);
      assert.throws(() => quantize(c, x, nRows, nPerRow, im), LowbitError);
      // and the kernel's flag does not leak into the next call
      const good = x.subarray(0, 4 * nPerRow);
      assertBytes(
        quantize(c, good, 4, nPerRow, im),
        oracle().quantize(c.type.id, good, 4, nPerRow, im),
        `${name} after an abort`,
        c.type.typeSize,
      );
    }
  });
}

test('IQ3 kernels: the other kernels still work once the IQ3 tables moved the windows', () => {
  const x = randomRows(11, 64, 1024);
  quantize(codec('IQ3_S'), x.subarray(0, 4096), 4, 1024, null); // builds the tables
  for (const name of ['Q8_0', 'Q4_K']) {
    const c = codec(name);
    const wasm = quantizeOnce(c, x, 64, 1024, null);
    setWasmKernels(false);
    try {
      assertBytes(wasm, quantizeOnce(c, x, 64, 1024, null), `${name} after IQ3`, c.type.typeSize);
    } finally {
      setWasmKernels(true);
    }
  }
});

test("IQ3 neighbour search: the float64 shortcut picks what ggml's float32 evaluation picks (many inputs)", () => {
  // with the check on, every shortcut answer is recomputed in float32 and a difference throws
  setIq3FastPathCheck(true);
  try {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed * 31);
      const nPerRow = 256,
        nRows = 8;
      const x = randomRows(seed * 104729, nRows, nPerRow);
      // near-grid data (ties between neighbours are likeliest there) and small integers
      if (seed % 3 === 0)
        for (let i = 0; i < x.length; i++) x[i] = (Math.round(r() * 14) - 7 + (r() - 0.5) * 1e-4) * 0.37;
      if (seed % 7 === 0) for (let i = 0; i < x.length; i++) x[i] = Math.round(gaussian(r) * 3);
      const im = new Float32Array(nPerRow);
      const kind = seed % 5;
      for (let i = 0; i < nPerRow; i++) {
        im[i] =
          kind === 0
            ? r() * 10
            : kind === 1
              ? r() < 0.3
                ? 0
                : r() ** 4 * 1e4
              : kind === 2
                ? 1e-20 * r()
                : kind === 3
                  ? 1 + gaussian(r) ** 2
                  : 1e6 * r() ** 8;
      }
      for (const name of NAMES) {
        const c = codec(name);
        quantize(c, x, nRows, nPerRow, null);
        quantize(c, x, nRows, nPerRow, im);
      }
    }
  } finally {
    setIq3FastPathCheck(false);
  }
});

for (const name of NAMES) {
  test(`${name}: dequantize with the WebAssembly kernel = TypeScript = ggml, NaN/Inf scales, windows, odd offsets`, () => {
    // the fp16 scale d is the block's first two bytes
    checkDequantizeWasm(name, (b, o, h) => {
      b[o] = h & 255;
      b[o + 1] = h >> 8;
    });
  });
}
