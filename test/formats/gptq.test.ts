// --encoder gptq (src/formats/gptq.ts, src/formats/code-slots.ts): the code slots write one value's
// code and nothing else (checked with ggml's own dequantizer); U is the factor GPTQ needs
// (UᵀU(H + λI) = I); and on correlated activations the compensated encoding, decoded by ggml, gives
// a layer output closer to the float one than ggml's own encoding with the same importance matrix,
// on the calibration rows and on held-out rows of the same distribution, for every format. Rows are
// independent (the thread count cannot change the bytes). (Whole files, run in llama.cpp:
// test/imatrix/gptq-engine.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oracle, gaussian, rng } from '../support/oracle.js';
import { codecByName } from '../../src/formats/registry.js';
import { codeLevels, codeSlots } from '../../src/formats/code-slots.js';
import {
  blockLocal,
  gptqFactor,
  gptqFactorDamped,
  momentsQuadratic,
  nearestCode,
  quantizeRowsGptq,
} from '../../src/formats/gptq.js';
import { encoderQuantize, parseEncoder } from '../../src/formats/encoder.js';
import { firstInvalid } from '../../src/pipeline/validate.js';

const g = oracle();
const SLOT_TYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'IQ4_NL', 'IQ4_XS', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];

test('code slots: writing value j’s code changes value j alone, to the level codeLevels gives (ggml decodes)', () => {
  for (const name of SLOT_TYPES) {
    const c = codecByName(name)!;
    const s = codeSlots(c)!;
    assert.ok(s, name);
    const bs = c.type.blockSize;
    const r = rng(c.type.id);
    const x = Float32Array.from({ length: bs }, () => gaussian(r) * (1 + 3 * r()));
    const block = g.quantize(c.type.id, x, 1, bs, null);
    const y0 = g.dequantize(c.type.id, block, bs);
    const lv = new Float32Array(s.codes * bs);
    codeLevels(c, s, block, lv, new Uint8Array(block.length));
    assert.deepEqual(block, g.quantize(c.type.id, x, 1, bs, null), `${name}: codeLevels left the block as it was`);
    for (let j = 0; j < bs; j++) {
      assert.ok(
        Array.from({ length: s.codes }, (_, k) => lv[k * bs + j]).includes(y0[j]!),
        `${name} value ${j}: ggml's own code is one of the levels`,
      );
      for (const k of [0, s.codes - 1, Math.floor(r() * s.codes)]) {
        const t = block.slice();
        s.set(t, j, k);
        const y = g.dequantize(c.type.id, t, bs);
        for (let i = 0; i < bs; i++)
          assert.equal(y[i], i === j ? lv[k * bs + j] : y0[i], `${name}: code ${k} at ${j}, value ${i}`);
      }
    }
  }
  for (const name of ['IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'TQ1_0', 'F16'])
    assert.equal(codeSlots(codecByName(name)!), null, `${name} has no per-value codes`);
});

/** Σ x xᵀ (upper triangle) of rows of d values */
function moments(x: Float32Array, d: number): { d: number; sum: Float64Array; rows: number } {
  const rows = x.length / d;
  const sum = new Float64Array(d * d);
  for (let t = 0; t < rows; t++)
    for (let i = 0; i < d; i++)
      for (let j = i; j < d; j++) sum[i * d + j] = sum[i * d + j]! + x[t * d + i]! * x[t * d + j]!;
  return { d, sum, rows };
}

test('nearestCode: the lowest code of the nearest level, as a scan of every code (levels monotone in the code, every format)', () => {
  for (const name of SLOT_TYPES) {
    const c = codecByName(name)!;
    const s = codeSlots(c)!;
    const bs = c.type.blockSize;
    const r = rng(100 + c.type.id);
    // a block of ggml's, with and without importances, and an all-zero one (zero scales: equal levels)
    const im = Float32Array.from({ length: bs }, () => r() * 2);
    const inputs = [
      Float32Array.from({ length: bs }, () => gaussian(r) * (1 + 3 * r())),
      Float32Array.from({ length: bs }, () => gaussian(r) * (1 + 3 * r()) - 1),
      new Float32Array(bs),
    ];
    for (const [i, x] of inputs.entries()) {
      const block = g.quantize(c.type.id, x, 1, bs, i === 1 ? im : null);
      const lv = new Float32Array(s.codes * bs);
      codeLevels(c, s, block, lv, new Uint8Array(block.length));
      for (let j = 0; j < bs; j++) {
        const levels = Array.from({ length: s.codes }, (_, k) => lv[k * bs + j]!);
        const up = levels[s.codes - 1]! >= levels[0]!;
        for (let k = 1; k < s.codes; k++)
          assert.ok(
            up ? levels[k]! >= levels[k - 1]! : levels[k]! <= levels[k - 1]!,
            `${name}: levels of ${j} monotone`,
          );
        // at, between and beyond the levels, and random points
        const lo = Math.min(...levels),
          hi = Math.max(...levels);
        const xs = [...levels, lo - 1, hi + 1, ...levels.slice(1).map((v, k) => (v + levels[k]!) / 2)];
        for (let t = 0; t < 20; t++) xs.push(lo + (hi - lo + 2) * r() - 1);
        for (const v of xs) {
          let best = 0,
            bestErr = Infinity;
          for (let k = 0; k < s.codes; k++) {
            const e = Math.abs(v - levels[k]!);
            if (e < bestErr) {
              bestErr = e;
              best = k;
            }
          }
          assert.equal(nearestCode(lv, bs, j, s.codes, v), best, `${name} block ${i} value ${j} at ${v}`);
        }
      }
    }
  }
});

test('blockLocal: where it holds, ggml’s search on one block writes that block’s bytes of the whole row (in ggml), and GPTQ’s block-local search gives the same bytes as the whole-row one', () => {
  const d = 768,
    nRows = 2;
  const x = activations(31, 300, d);
  const m = moments(x, d);
  const u = gptqFactor(m)!;
  const im = Float32Array.from({ length: d }, (_, j) => m.sum[j * d + j]! / m.rows);
  const r = rng(32);
  const w = Float32Array.from({ length: nRows * d }, () => gaussian(r) * (0.02 + 0.05 * r()));
  for (const name of [...SLOT_TYPES, 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ1_S', 'IQ1_M']) {
    const c = codecByName(name)!;
    const bs = c.type.blockSize,
      bb = c.type.typeSize;
    for (const imx of [im, null]) {
      if (!imx && c.requiresImatrix) continue;
      const local = blockLocal(c, imx);
      // ggml itself: the whole row's blocks against each block quantized alone
      const whole = g.quantize(c.type.id, w.subarray(0, d), 1, d, imx);
      let same = true;
      for (let b = 0; b < d / bs; b++) {
        const one = g.quantize(
          c.type.id,
          w.subarray(b * bs, (b + 1) * bs),
          1,
          bs,
          imx ? imx.subarray(b * bs, (b + 1) * bs) : null,
        );
        if (!Buffer.from(one).equals(Buffer.from(whole.subarray(b * bb, (b + 1) * bb)))) same = false;
      }
      if (local) assert.ok(same, `${name}${imx ? ' with imatrix' : ''}: ggml's blocks are independent of their row`);
      else
        assert.ok(
          !same,
          `${name} with imatrix: ggml weighs a block by its row (the premise of not searching it alone)`,
        );
      if (!local) continue;
      const rb = (d / bs) * bb;
      const [a, b2] = [new Uint8Array(nRows * rb), new Uint8Array(nRows * rb)];
      quantizeRowsGptq(c, null, w, a, nRows, d, imx, u);
      quantizeRowsGptq(c, c.quantize.bind(c), w, b2, nRows, d, imx, u);
      assert.ok(Buffer.from(a).equals(Buffer.from(b2)), `${name}: block-local search == whole-row search`);
    }
  }
});

test('gptqFactor: U upper triangular with UᵀU(H + λI) = I; unreached columns and zero matrices handled', () => {
  const d = 24;
  const r = rng(5);
  const x = new Float32Array(100 * d);
  for (let t = 0; t < 100; t++) {
    const common = gaussian(r);
    for (let i = 0; i < d; i++) x[t * d + i] = gaussian(r) + common * (i % 4);
  }
  const m = moments(x, d);
  const u = gptqFactor(m, 0)!;
  const h = (i: number, j: number) => (i <= j ? m.sum[i * d + j]! : m.sum[j * d + i]!) / m.rows;
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      if (i > j) assert.equal(u[i * d + j], 0);
      let s = 0;
      for (let k = 0; k < d; k++) {
        let utu = 0;
        for (let l = 0; l < d; l++) utu += u[l * d + i]! * u[l * d + k]!;
        s += utu * h(k, j);
      }
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-9, `(UᵀUH)[${i},${j}] = ${s}`);
    }
  // a column no activation reached, and no activations at all: still a factor (H[i,i] = 1, dampened)
  for (let t = 0; t < 100; t++) x[t * d + 3] = 0;
  assert.ok(gptqFactor(moments(x, d)));
  const zero = gptqFactor({ d, sum: new Float64Array(d * d), rows: 0 })!;
  assert.ok(zero.every((v) => Number.isFinite(v)));
});

/** activations with correlated columns (a few shared factors), per-column scales, some heavy columns */
function activations(seed: number, rows: number, d: number): Float32Array {
  const r = rng(seed);
  const k = 8;
  const mix = Float32Array.from({ length: k * d }, () => gaussian(r));
  const scale = Float32Array.from({ length: d }, (_, i) => (i % 17 === 0 ? 6 : 0.5 + r()));
  const x = new Float32Array(rows * d);
  const rr = rng(seed + 1000);
  for (let t = 0; t < rows; t++) {
    const f = Array.from({ length: k }, () => gaussian(rr));
    for (let i = 0; i < d; i++) {
      let v = 0.3 * gaussian(rr);
      for (let q = 0; q < k; q++) v += f[q]! * mix[q * d + i]!;
      x[t * d + i] = v * scale[i]!;
    }
  }
  return x;
}

/** Σ_t Σ_r ((w_r − ŵ_r) · x_t)²: the layer output's squared error */
function outputError(w: Float32Array, y: Float32Array, nRows: number, d: number, x: Float32Array): number {
  let e = 0;
  for (let t = 0; t < x.length / d; t++)
    for (let r = 0; r < nRows; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (w[r * d + i]! - y[r * d + i]!) * x[t * d + i]!;
      e += s * s;
    }
  return e;
}

const GPTQ_TYPES = [...SLOT_TYPES, 'IQ3_S', 'IQ2_XS'];
for (const name of GPTQ_TYPES) {
  test(`--encoder gptq ${name}: decoded by ggml, a layer output closer to float than ggml's encoding, also on held-out rows`, () => {
    const c = codecByName(name)!;
    const d = 512,
      nRows = 6;
    const calib = activations(c.type.id, 1024, d);
    // the same distribution (same mixing and scales), other draws
    const heldOut = activations(c.type.id, 2048, d).subarray(1024 * d);
    const m = moments(calib, d);
    const im = new Float32Array(d);
    for (let i = 0; i < d; i++) im[i] = m.sum[i * d + i]! / m.rows;
    const r = rng(c.type.id * 3);
    const w = Float32Array.from({ length: nRows * d }, () => gaussian(r) * 0.05);
    const u = gptqFactor(m)!;
    const plain = g.quantize(c.type.id, w, nRows, d, im);
    const mine = new Uint8Array(plain.length);
    quantizeRowsGptq(c, encoderQuantize(c, 'gptq'), w, mine, nRows, d, im, u);
    assert.equal(firstInvalid(c.type.id, mine), -1, 'valid blocks');
    const yp = g.dequantize(c.type.id, plain, nRows * d),
      yg = g.dequantize(c.type.id, mine, nRows * d);
    for (const [what, x] of [
      ['calibration', calib],
      ['held-out', heldOut],
    ] as const) {
      const ep = outputError(w, yp, nRows, d, x),
        eg = outputError(w, yg, nRows, d, x);
      assert.ok(eg < ep, `${name} ${what}: output error ${eg} with gptq, ${ep} with ggml's encoding`);
      if (name !== 'IQ2_XS' && name !== 'IQ3_S')
        assert.ok(eg < 0.9 * ep, `${name} ${what}: gptq saves ${((1 - eg / ep) * 100).toFixed(1)} % only`);
    }
    // rows are independent: two halves give the same bytes as one call (any thread split)
    const half = new Uint8Array(plain.length);
    const rb = plain.length / nRows;
    quantizeRowsGptq(c, encoderQuantize(c, 'gptq'), w.subarray(0, 2 * d), half.subarray(0, 2 * rb), 2, d, im, u);
    quantizeRowsGptq(c, encoderQuantize(c, 'gptq'), w.subarray(2 * d), half.subarray(2 * rb), nRows - 2, d, im, u);
    assert.deepEqual(half, mine);
  });
}

test('quantizeRowsGptq reports its loss: Σ e² = (w − ŵ)ᵀ(H + λI)(w − ŵ), what the target search judges by', () => {
  // ŵ as ggml decodes the bytes; H with an unreached column (its H[j,j] taken as 1 by the factor)
  const d = 256,
    nRows = 3;
  const x = activations(21, 400, d);
  for (let t = 0; t < 400; t++) x[t * d + 40] = 0;
  const m = moments(x, d);
  const f = gptqFactorDamped(m)!;
  assert.ok(f.lambda > 0);
  const r = rng(22);
  const w = Float32Array.from({ length: nRows * d }, () => gaussian(r) * 0.05);
  const im = Float32Array.from({ length: d }, (_, j) => m.sum[j * d + j]! / m.rows);
  for (const name of ['Q4_0', 'Q5_1', 'Q8_0', 'IQ4_XS', 'Q2_K', 'Q3_K', 'Q4_K', 'Q6_K', 'IQ2_XS', 'IQ3_S', 'IQ1_S']) {
    const codec = codecByName(name)!;
    const rb = (d / codec.type.blockSize) * codec.type.typeSize;
    const q = new Uint8Array(nRows * rb);
    const loss = new Float64Array(nRows);
    quantizeRowsGptq(codec, codec.quantize.bind(codec), w, q, nRows, d, im, f.u, loss);
    const y = g.dequantize(codec.type.id, q, nRows * d);
    for (let row = 0; row < nRows; row++) {
      const delta = Float64Array.from({ length: d }, (_, j) => w[row * d + j]! - y[row * d + j]!);
      let damped = momentsQuadratic(m, delta);
      for (let j = 0; j < d; j++) damped += (j === 40 ? f.lambda + 1 : f.lambda) * delta[j]! ** 2;
      assert.ok(loss[row]! > 0);
      assert.ok(Math.abs(loss[row]! - damped) <= 1e-9 * damped, `${name} row ${row}: loss ${loss[row]} vs ${damped}`);
    }
  }
  // momentsQuadratic is xᵀ (Σ x xᵀ / rows) x
  const v = Float64Array.from({ length: d }, () => gaussian(r));
  let direct = 0;
  for (let t = 0; t < 400; t++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[j]! * x[t * d + j]!;
    direct += s * s;
  }
  direct /= 400;
  assert.ok(Math.abs(momentsQuadratic(m, v) - direct) <= 1e-9 * direct);
});

test('--encoder gptq is a known encoder name', () => {
  assert.equal(parseEncoder('GPTQ'), 'gptq');
});
