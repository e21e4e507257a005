// IQ1_S and IQ1_M against ggml itself (the live libggml-base.so oracle), byte for byte (quantize)
// and bit for bit (dequantize), plus the glibc merge sort their block search depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latticeTests, codec, quantize, assertBytes } from './iq-lattice-harness.js';
import { msortIndices } from '../../../src/formats/ggml/iq2-grids.js';
import { oracle } from '../../support/oracle.js';
import { checkDequantizeWasm } from '../../support/ggml-check.js';

latticeTests({ name: 'IQ1_S', requiresImatrix: true });
latticeTests({ name: 'IQ1_M', requiresImatrix: false });

test('IQ1_S: dequantize with the WebAssembly kernel = TypeScript = ggml, NaN/Inf scales, windows, odd offsets', () => {
  checkDequantizeWasm('IQ1_S', (b, o, h) => {
    b[o] = h & 255;
    b[o + 1] = h >> 8;
  });
});

test('IQ1_M: dequantize with the WebAssembly kernel = TypeScript = ggml, NaN/Inf scales, windows, odd offsets', () => {
  // the fp16 scale is the top nibbles of the four uint16 scales (bytes 48..55)
  checkDequantizeWasm('IQ1_M', (b, o, h) => {
    for (let k = 0; k < 4; k++) b[o + 49 + 2 * k] = (b[o + 49 + 2 * k]! & 0x0f) | (((h >> (4 * k)) & 15) << 4);
  });
});

test('msortIndices keeps equal values in input order (glibc msort), NaN included', () => {
  const vals = Float32Array.of(3, 1, -0, 0, 1, NaN, 2, 1, -5, 0, NaN, 3);
  const idx = Int32Array.from(vals.keys());
  msortIndices(vals, 0, idx, new Int32Array(vals.length), 0, vals.length);
  // a literal top-down merge sort with iq1_sort_helper's comparison
  const ms = (a: number[]): number[] => {
    if (a.length <= 1) return a;
    const n1 = a.length >> 1,
      l = ms(a.slice(0, n1)),
      r = ms(a.slice(n1)),
      out: number[] = [];
    while (l.length && r.length) {
      const x = vals[l[0]!]!,
        y = vals[r[0]!]!;
      out.push((x < y ? -1 : x > y ? 1 : 0) <= 0 ? l.shift()! : r.shift()!);
    }
    return out.concat(l, r);
  };
  assert.deepEqual(Array.from(idx), ms(Array.from(vals.keys())));
});

for (const name of ['IQ1_S', 'IQ1_M']) {
  test(`${name}: rows full of ties (the sort order decides the split) match ggml`, () => {
    const o = oracle();
    const c = codec(name);
    const nPerRow = 512;
    const x = new Float32Array(4 * nPerRow);
    for (let i = 0; i < x.length; i++) x[i] = [0.5, -0.5, 0, 1, -0, 0.25][(i * 7 + (i >> 5)) % 6]! * (1 + (i >> 9));
    const im = new Float32Array(nPerRow);
    for (let i = 0; i < nPerRow; i++) im[i] = 1 + (i % 5);
    assertBytes(
      quantize(c, x, 4, nPerRow, im),
      o.quantize(c.type.id, x, 4, nPerRow, im),
      `${name} ties`,
      c.type.typeSize,
    );
  });
}
