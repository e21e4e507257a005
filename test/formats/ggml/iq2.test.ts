// IQ2_XXS, IQ2_XS and IQ2_S against ggml itself (the live libggml-base.so oracle), byte for byte
// (quantize) and bit for bit (dequantize); plus the neighbour lists of the shared lattice code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latticeTests, codec, ggmlAborts, assertBytes } from './iq-lattice-harness.js';
import { oracle, randomRows, rng } from '../../support/oracle.js';
import { iqGrid, levels8, neighbours, KMAP_SIZE } from '../../../src/formats/ggml/iq2-grids.js';
import { checkDequantizeWasm } from '../../support/ggml-check.js';

latticeTests({ name: 'IQ2_XXS', requiresImatrix: true });
latticeTests({ name: 'IQ2_XS', requiresImatrix: true });
latticeTests({ name: 'IQ2_S', requiresImatrix: false });

test('IQ2 neighbour lists equal a literal port of iq2xs_init_impl (qsort by distance, then index)', () => {
  for (const [size, nwant] of [
    [256, 2],
    [512, 2],
    [1024, 1],
    [2048, 3],
  ] as const) {
    const g = iqGrid(size);
    const pts: number[][] = [];
    for (let j = 0; j < size; j++)
      pts.push(Array.from({ length: 8 }, (_, k) => 2 * ((g.codes[j]! >> (2 * k)) & 3) + 1));
    for (let u = 0; u < KMAP_SIZE; u += size === 2048 ? 97 : 41) {
      if (g.map[u]! >= 0) continue;
      const pos = Array.from({ length: 8 }, (_, k) => 2 * ((u >> (2 * k)) & 3) + 1);
      const d = pts.map((p, j) => [p.reduce((s, v, k) => s + (v - pos[k]!) ** 2, 0), j] as [number, number]);
      d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const want: number[] = [];
      let d2 = d[0]![0],
        nhave = 1;
      for (const [dist, j] of d) {
        if (dist > d2) {
          if (nhave === nwant) break;
          d2 = dist;
          nhave++;
        }
        want.push(j);
      }
      const off = neighbours(g, u);
      assert.deepEqual(Array.from(g.nb.subarray(off + 1, off + 1 + g.nb[off]!)), want, `grid ${size} code ${u}`);
    }
  }
});

test('levels8 equals the literal MAX(0, MIN(2, nearest_int(0.5f*(id*x - 1)))) at and around every threshold', () => {
  const f = Math.fround;
  const F = new Float32Array(1),
    U = new Uint32Array(F.buffer);
  const literal = (id: number, x: number): number => {
    const v = f(f(0.5) * f(f(id * x) - 1));
    F[0] = f(v + 12582912);
    const l = (U[0]! & 0x7fffff) - 0x400000;
    return l < 0 ? 0 : l > 2 ? 2 : l;
  };
  const xs = new Float32Array(8),
    L = new Int8Array(8);
  const ids = [1, 0.7, f(1 / 3), 5.1, 1e-7, 3e7, 0, NaN, Infinity];
  const centres = [0, 2, 4, -2, 8388000, -8388000, 4194303, 8388608, 1e10, -1e10, 1e-30, Infinity, -Infinity, NaN];
  for (const id of ids) {
    const vals: number[] = [];
    for (const c of centres) {
      const base = id && Number.isFinite(id) ? f(c / id) : c;
      F[0] = base;
      const b = U[0]!;
      for (let k = -40; k <= 40; k++) {
        U[0] = (b + k) >>> 0;
        vals.push(F[0]!);
      }
    }
    for (let s = 0; s + 8 <= vals.length; s += 8) {
      xs.set(vals.slice(s, s + 8));
      levels8(f(id), xs, 0, L, 0);
      for (let i = 0; i < 8; i++) {
        if (L[i] !== literal(f(id), xs[i]!))
          assert.fail(`id ${id} x ${xs[i]}: ${L[i]}, literal ${literal(f(id), xs[i]!)}`);
      }
    }
  }
});

test('IQ2: negative importances (NaN weights in the neighbour search) are refused where ggml asserts', () => {
  const x = randomRows(31, 4, 512);
  const r = rng(1);
  const im = new Float32Array(512).map(() => (r() < 0.2 ? -r() * 5 : r() * 5));
  for (const name of ['IQ2_XXS', 'IQ2_XS', 'IQ2_S']) {
    const c = codec(name);
    assert.throws(() => c.quantize(x, new Uint8Array(4 * 2 * c.type.typeSize), 4, 512, im), /no grid point/);
  }
  assert.ok(ggmlAborts(22, x, 4, 512, im), 'ggml asserts on IQ2_S too');
});

test('IQ2_S: quantize_row_iq2_s_ref (the only _ref of these types) equals the chunk path without an imatrix', () => {
  const o = oracle();
  const c = codec('IQ2_S');
  o.quantize(22, new Float32Array(256), 1, 256, null); // ggml_quantize_init(IQ2_S): the _ref asserts without it
  for (let seed = 1; seed <= 4; seed++) {
    const x = randomRows(seed * 17, 4, 512);
    const out = new Uint8Array(4 * 2 * 82);
    c.quantize(x, out, 4, 512, null);
    assertBytes(out, o.quantizeRef(22, x), `iq2_s ref seed ${seed}`, 82);
  }
});

for (const name of ['IQ2_XXS', 'IQ2_XS', 'IQ2_S']) {
  test(`${name}: dequantize with the WebAssembly kernel = TypeScript = ggml, NaN/Inf scales, windows, odd offsets`, () => {
    // the fp16 scale d is the block's first two bytes
    checkDequantizeWasm(name, (b, o, h) => {
      b[o] = h & 255;
      b[o + 1] = h >> 8;
    });
  });
}
