// The accumulation at the heart of llama-imatrix, `acc[j] += x[j] * x[j]` in float32 for every row
// of the activations, as a WebAssembly SIMD kernel: f32x4.mul rounds each product to float32 and
// f32x4.add each sum, lane by lane, which is exactly C's float arithmetic (no fused multiply-add), so
// the sums are the same floats as the scalar loop's, about 8× faster than it in V8. The module is
// assembled here (a few hundred bytes, no toolchain); where WebAssembly SIMD is missing, the caller
// keeps its JavaScript loop. Browser-safe.
import { instantiateOne, oneFunctionModule } from './wasm-module.js';

// (func (param $acc i32) (param $x i32) (param $ne0 i32) (param $rows i32) (param $stride i32))
//   byte addresses; ne0 and stride in floats. For each row r: acc[0..ne0) += x[r*stride ..]²
const enum Op {
  block = 0x02,
  loop = 0x03,
  end = 0x0b,
  br = 0x0c,
  brIf = 0x0d,
  localGet = 0x20,
  localSet = 0x21,
  localTee = 0x22,
  f32Load = 0x2a,
  f32Store = 0x38,
  i32Const = 0x41,
  i32GeU = 0x4f,
  i32GtU = 0x4b,
  i32Add = 0x6a,
  i32Mul = 0x6c,
  i32Shl = 0x74,
  f32Add = 0x92,
  f32Mul = 0x94,
  simd = 0xfd,
  void_ = 0x40,
}
// locals: 0 acc, 1 x, 2 ne0, 3 rows, 4 stride (params); 5 row, 6 j, 7 xp (i32); 8 v (v128); 9 f (f32)
const ACC = 0,
  X = 1,
  NE0 = 2,
  ROWS = 3,
  STRIDE = 4,
  ROW = 5,
  J = 6,
  XP = 7,
  V = 8,
  F = 9;
const get = (i: number) => [Op.localGet, i];
const set = (i: number) => [Op.localSet, i];
const i32 = (n: number) => [Op.i32Const, n]; // small non-negative constants only (one LEB128 byte)
/** base + j * 4 */
const addr = (base: number) => [...get(base), ...get(J), ...i32(2), Op.i32Shl, Op.i32Add];
const body = [
  // locals: 3 × i32, 1 × v128, 1 × f32
  3,
  3,
  0x7f,
  1,
  0x7b,
  1,
  0x7d,
  Op.block,
  Op.void_,
  Op.loop,
  Op.void_,
  ...get(ROW),
  ...get(ROWS),
  Op.i32GeU,
  Op.brIf,
  1,
  // xp = x + row * stride * 4
  ...get(X),
  ...get(ROW),
  ...get(STRIDE),
  Op.i32Mul,
  ...i32(2),
  Op.i32Shl,
  Op.i32Add,
  ...set(XP),
  ...i32(0),
  ...set(J),
  // four lanes at a time while j + 4 <= ne0
  Op.block,
  Op.void_,
  Op.loop,
  Op.void_,
  ...get(J),
  ...i32(4),
  Op.i32Add,
  ...get(NE0),
  Op.i32GtU,
  Op.brIf,
  1,
  ...addr(ACC),
  ...addr(ACC),
  Op.simd,
  0x00, // v128.load
  2,
  0,
  ...addr(XP),
  Op.simd,
  0x00,
  2,
  0,
  Op.localTee,
  V,
  ...get(V),
  Op.simd,
  0xe6, // f32x4.mul
  0x01,
  Op.simd,
  0xe4, // f32x4.add
  0x01,
  Op.simd,
  0x0b, // v128.store
  2,
  0,
  ...get(J),
  ...i32(4),
  Op.i32Add,
  ...set(J),
  Op.br,
  0,
  Op.end,
  Op.end,
  // the rest one at a time
  Op.block,
  Op.void_,
  Op.loop,
  Op.void_,
  ...get(J),
  ...get(NE0),
  Op.i32GeU,
  Op.brIf,
  1,
  ...addr(ACC),
  ...addr(ACC),
  Op.f32Load,
  2,
  0,
  ...addr(XP),
  Op.f32Load,
  2,
  0,
  Op.localTee,
  F,
  ...get(F),
  Op.f32Mul,
  Op.f32Add,
  Op.f32Store,
  2,
  0,
  ...get(J),
  ...i32(1),
  Op.i32Add,
  ...set(J),
  Op.br,
  0,
  Op.end,
  Op.end,
  ...get(ROW),
  ...i32(1),
  Op.i32Add,
  ...set(ROW),
  Op.br,
  0,
  Op.end,
  Op.end,
  Op.end,
];

const MODULE = oneFunctionModule('sumsq', 5, body);

export interface SumSqKernel {
  /**
   * acc[accOff + j] += x[xOff + r * stride + j]² in float32, for r < rows, j < ne0; rows in order.
   * Bitwise the scalar loop's result. `x` may be a buffer from input(), then it is read in place.
   */
  add(
    acc: Float32Array,
    accOff: number,
    x: Float32Array,
    xOff: number,
    ne0: number,
    rows: number,
    stride: number,
  ): void;
  /**
   * n floats inside the kernel's own memory, for an engine to write activations into (one copy from
   * the engine's memory instead of a view on it and a copy here). Valid until the next call.
   */
  input(n: number): Float32Array;
}

let kernel: SumSqKernel | null | undefined;

/** The WebAssembly SIMD kernel, or null where this runtime has no WebAssembly SIMD. */
export function sumSqKernel(): SumSqKernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  try {
    const k = instantiateOne<(acc: number, x: number, ne0: number, rows: number, stride: number) => void>(
      MODULE,
      'sumsq',
    );
    if (!k) return null;
    const { fn, mem } = k;
    let f32 = new Float32Array(mem.buffer);
    // the buffer input() handed out last (a memory.grow detaches it; its contents move along)
    let handed: ArrayBuffer | null = null;
    // layout: the activations from float 0 (input() hands out that region), the sums after them
    const reserve = (n: number) => {
      if (n > f32.length) {
        mem.grow(Math.ceil((n * 4 - mem.buffer.byteLength) / 65536));
        f32 = new Float32Array(mem.buffer);
      }
    };
    kernel = {
      add(acc, accOff, x, xOff, ne0, rows, stride) {
        if (rows <= 0 || ne0 <= 0) return;
        const inPlace = x.byteOffset === 0 && (x.buffer === mem.buffer || x.buffer === handed);
        const span = xOff + (rows - 1) * stride + ne0;
        const accAt = (span + 3) & ~3; // 16-byte aligned
        reserve(accAt + ne0); // keeps the contents: an in-place x is still there
        if (!inPlace) f32.set(x.subarray(xOff, span), xOff);
        f32.set(acc.subarray(accOff, accOff + ne0), accAt);
        fn(accAt * 4, xOff * 4, ne0, rows, stride);
        acc.set(f32.subarray(accAt, accAt + ne0), accOff);
      },
      input(n) {
        reserve(n + 4096);
        handed = mem.buffer;
        return f32.subarray(0, n);
      },
    };
  } catch {
    kernel = null;
  }
  return kernel;
}
