// Σ x xᵀ for --encoder gptq (src/imatrix/hessian.ts) as a WebAssembly SIMD kernel: four activation
// rows at a time, sum[i][j] += a0·r0[j] + a1·r1[j] + a2·r2[j] + a3·r3[j] for j ≥ i, two columns per
// f64x2 instruction, each lane doing exactly the float64 operations of the JavaScript loop in the
// same order ((((s + a0·r0) + a1·r1) + a2·r2) + a3·r3, a row i skipped when its four a are zero), so
// the sums are the same doubles, a few times faster. Assembled here (no toolchain); where
// WebAssembly SIMD is missing the caller keeps its loop. Browser-safe.
import { instantiateOne, oneFunctionModule, sleb, uleb } from './wasm-module.js';

// (func $syrk4 (param $sum i32) (param $r i32) (param $d i32)): byte addresses; r holds 4 rows of d
const SUM = 0,
  R = 1,
  D = 2,
  I = 3,
  J = 4,
  SP = 5,
  RB = 6,
  RB2 = 7,
  RB3 = 8,
  P = 9,
  A0 = 10, // f64 ×4: 10..13
  S0 = 14; // v128 ×4: 14..17

const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const i32c = (n: number) => [0x41, ...sleb(n)];
const add = 0x6a,
  shl = 0x74,
  mul = 0x6c;
const f64Load = [0x2b, 3, 0],
  f64Store = [0x39, 3, 0],
  f64Add = 0xa0,
  f64Mul = 0xa2,
  f64Ne = 0x62,
  i32Or = 0x72;
const vLoad = [0xfd, 0x00, 3, 0],
  vStore = [0xfd, 0x0b, 3, 0],
  splat = [0xfd, 0x14],
  vAdd = [0xfd, ...uleb(0xf0)],
  vMul = [0xfd, ...uleb(0xf2)];
/** base + (idx << 3) */
const at8 = (base: number, idx: number) => [...get(base), ...get(idx), ...i32c(3), shl, add];
/** r-row k's address of column `idx`: r + k·rb + (idx << 3) */
const rowAt = (k: number, idx: number) => [...at8(R, idx), ...(k ? [...get([0, RB, RB2, RB3][k]!), add] : [])];
/** p + k·rb (p = r + (j << 3)) */
const pAt = (k: number) => [...get(P), ...(k ? [...get([0, RB, RB2, RB3][k]!), add] : [])];

const body = [
  // locals: 7 × i32 (i, j, sp, rb, rb2, rb3, p), 4 × f64 (a0..a3), 4 × v128 (their splats)
  3,
  7,
  0x7f,
  4,
  0x7c,
  4,
  0x7b,
  // rb = d << 3, rb2 = rb + rb, rb3 = rb2 + rb
  ...get(D),
  ...i32c(3),
  shl,
  ...set(RB),
  ...get(RB),
  ...get(RB),
  add,
  ...set(RB2),
  ...get(RB2),
  ...get(RB),
  add,
  ...set(RB3),
  ...i32c(0),
  ...set(I),
  0x02,
  0x40, // block
  0x03,
  0x40, // loop over i
  ...get(I),
  ...get(D),
  0x4f, // i32.ge_u
  0x0d,
  1, // br_if out
  // a_k = r_k[i]
  ...[0, 1, 2, 3].flatMap((k) => [...rowAt(k, I), ...f64Load, ...set(A0 + k)]),
  // if any a_k ≠ 0 (NaN counts as ≠ 0, −0 as 0: JavaScript's `=== 0`)
  ...[0, 1, 2, 3].flatMap((k) => [...get(A0 + k), 0x44, 0, 0, 0, 0, 0, 0, 0, 0, f64Ne, ...(k ? [i32Or] : [])]),
  0x04,
  0x40, // if
  ...[0, 1, 2, 3].flatMap((k) => [...get(A0 + k), ...splat, ...set(S0 + k)]),
  // sp = sum + ((i · d) << 3); j = i
  ...get(SUM),
  ...get(I),
  ...get(D),
  mul,
  ...i32c(3),
  shl,
  add,
  ...set(SP),
  ...get(I),
  ...set(J),
  // two columns at a time while j + 2 ≤ d
  0x02,
  0x40,
  0x03,
  0x40,
  ...get(J),
  ...i32c(2),
  add,
  ...get(D),
  0x4b, // i32.gt_u
  0x0d,
  1,
  ...at8(R, J),
  ...set(P),
  ...at8(SP, J), // store address
  ...at8(SP, J),
  ...vLoad,
  ...[0, 1, 2, 3].flatMap((k) => [...pAt(k), ...vLoad, ...get(S0 + k), ...vMul, ...vAdd]),
  ...vStore,
  ...get(J),
  ...i32c(2),
  add,
  ...set(J),
  0x0c,
  0, // br loop
  0x0b,
  0x0b,
  // the last column alone when d − i is odd
  ...get(J),
  ...get(D),
  0x49, // i32.lt_u
  0x04,
  0x40,
  ...at8(R, J),
  ...set(P),
  ...at8(SP, J),
  ...at8(SP, J),
  ...f64Load,
  ...[0, 1, 2, 3].flatMap((k) => [...pAt(k), ...f64Load, ...get(A0 + k), f64Mul, f64Add]),
  ...f64Store,
  0x0b, // end if
  0x0b, // end if (any a ≠ 0)
  ...get(I),
  ...i32c(1),
  add,
  ...set(I),
  0x0c,
  0, // br loop over i
  0x0b,
  0x0b,
  0x0b, // end func
];

const MODULE = oneFunctionModule('syrk4', 3, body);

export interface SyrkKernel {
  /**
   * sum (d × d, upper triangle) += Σ over the rows of `rows` (n rows of d, float64, n a multiple of
   * 4: padding rows are zeros) of x xᵀ, four rows at a time as the JavaScript loop adds them.
   */
  add(sum: Float64Array, d: number, rows: Float64Array, n: number): void;
}

let kernel: SyrkKernel | null | undefined;

/** The kernel, or null where this runtime has no WebAssembly SIMD (or the matrix would not fit its memory). */
export function syrkKernel(): SyrkKernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  try {
    const k = instantiateOne<(sum: number, r: number, d: number) => void>(MODULE, 'syrk4');
    if (!k) return null;
    const { fn, mem } = k;
    kernel = {
      add(sum, d, rows, n) {
        const need = (d * d + n * d) * 8;
        if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
        const f64 = new Float64Array(mem.buffer);
        f64.set(sum.subarray(0, d * d), 0);
        f64.set(rows.subarray(0, n * d), d * d);
        for (let s = 0; s < n; s += 4) fn(0, (d * d + s * d) * 8, d);
        sum.set(f64.subarray(0, d * d));
      },
    };
  } catch {
    kernel = null;
  }
  return kernel;
}
