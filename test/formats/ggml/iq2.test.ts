// IQ2_XXS, IQ2_XS and IQ2_S against ggml itself (the live libggml-base.so oracle), byte for byte
// (quantize) and bit for bit (dequantize); plus the neighbour lists of the shared lattice code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latticeTests } from './iq-lattice-harness.js';
import { iqGrid, neighbours, KMAP_SIZE } from '../../../src/formats/ggml/iq2-grids.js';

latticeTests({ name: 'IQ2_XXS', requiresImatrix: true });
latticeTests({ name: 'IQ2_XS', requiresImatrix: true });
latticeTests({ name: 'IQ2_S', requiresImatrix: false });

test('IQ2 neighbour lists equal a literal port of iq2xs_init_impl (qsort by distance, then index)', () => {
  for (const [size, nwant] of [[256, 2], [512, 2], [1024, 1], [2048, 3]] as const) {
    const g = iqGrid(size);
    const pts: number[][] = [];
    for (let j = 0; j < size; j++) pts.push(Array.from({ length: 8 }, (_, k) => 2 * ((g.codes[j]! >> (2 * k)) & 3) + 1));
    for (let u = 0; u < KMAP_SIZE; u += size === 2048 ? 97 : 41) {
      if (g.map[u]! >= 0) continue;
      const pos = Array.from({ length: 8 }, (_, k) => 2 * ((u >> (2 * k)) & 3) + 1);
      const d = pts.map((p, j) => [p.reduce((s, v, k) => s + (v - pos[k]!) ** 2, 0), j] as [number, number]);
      d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const want: number[] = [];
      let d2 = d[0]![0], nhave = 1;
      for (const [dist, j] of d) {
        if (dist > d2) { if (nhave === nwant) break; d2 = dist; nhave++; }
        want.push(j);
      }
      const off = neighbours(g, u);
      assert.deepEqual(Array.from(g.nb.subarray(off + 1, off + 1 + g.nb[off]!)), want, `grid ${size} code ${u}`);
    }
  }
});
