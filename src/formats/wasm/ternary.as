// TQ1_0 and TQ2_0 quantizers (ggml's quantize_row_tq1_0_ref / _tq2_0_ref) over nb super-blocks of
// 256 floats. A block with a finite max, a finite 1/max and no NaN has |x·id| ≤ 1 + 2^-24, where
// lroundf(x·id) is decided by x·id ≥ 0.5 / ≤ -0.5 alone: four lanes at a time. Other blocks follow
// ggml's scalar code with x86's lroundf/int conversions (as the TypeScript reference does).
import { f32ToHalf, packBytes } from './common';

const T = memory.data(256, 16); // trit codes of the current block (slow path)

/** MAX(amax, fabsf(v)) in order: a NaN resets it, as ggml's macro does. */
function amaxLoop(p: usize): f32 {
  let amax: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const a = abs<f32>(load<f32>(p + (<usize>j << 2)));
    amax = amax > a ? amax : a;
  }
  return amax;
}

let gNaN = false;

/** max |x| over the block with pmax, and whether any x is NaN (gNaN). */
function amaxScan(p: usize): f32 {
  let m = f32x4.splat(0);
  let nan = i32x4.splat(0);
  for (let j: usize = 0; j < 1024; j += 64) {
    const a = v128.load(p + j), b = v128.load(p + j, 16), c = v128.load(p + j, 32), d = v128.load(p + j, 48);
    m = f32x4.pmax(m, f32x4.pmax(f32x4.pmax(f32x4.abs(a), f32x4.abs(b)), f32x4.pmax(f32x4.abs(c), f32x4.abs(d))));
    nan = v128.or(nan, v128.or(v128.or(f32x4.ne(a, a), f32x4.ne(b, b)), v128.or(f32x4.ne(c, c), f32x4.ne(d, d))));
  }
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
  gNaN = v128.any_true(nan);
  return f32x4.extract_lane(m, 0);
}

/** lroundf(x·id) + 1 as ggml's int (only its low byte is ever kept). */
function ternaryCode(x: f32, id: f32): i32 {
  const v: f32 = x * id;
  if (v < 0.5) {
    if (v > -0.5) return 1;
    if (v > -1.5) return 0;
  } else if (v < 1.5) return 2;
  // NaN, ±Inf and |v| ≥ 2^63: lroundf gives LONG_MIN, whose +1 truncated to int is 1
  if (!(abs<f32>(v) < <f32>9.223372036854776e18)) return 1;
  const w = <f64>v;
  const r = w < 0 ? -Math.floor(-w + 0.5) : Math.floor(w + 0.5);
  return <i32>(<i64>r + 1);
}

/** Codes 0/1/2 of four lanes in the tame case. */
// @ts-ignore: decorator
@inline function trits(p: usize, vid: v128): v128 {
  const v = f32x4.mul(v128.load(p), vid);
  return i32x4.add(i32x4.sub(i32x4.splat(1), f32x4.ge(v, f32x4.splat(0.5))), f32x4.le(v, f32x4.splat(-0.5)));
}

/** ((q·256 + 242) / 243) for q ≤ 242 in four lanes: the quotient is at least 1/243 away from an
 *  integer, far more than float division's rounding, so floor of the float quotient is exact. */
// @ts-ignore: decorator
@inline function pack243(q: v128): v128 {
  const n = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q), f32x4.splat(256)), f32x4.splat(242));
  return f32x4.add(f32x4.floor(f32x4.div(n, f32x4.splat(243))), f32x4.splat(12582912.0)); // low byte = the value
}

// @ts-ignore: decorator
@inline function five(p: usize, stride: usize, vid: v128): v128 {
  const t = i32x4.splat(3);
  let q = trits(p, vid);
  q = i32x4.add(i32x4.mul(q, t), trits(p + stride, vid));
  q = i32x4.add(i32x4.mul(q, t), trits(p + 2 * stride, vid));
  q = i32x4.add(i32x4.mul(q, t), trits(p + 3 * stride, vid));
  q = i32x4.add(i32x4.mul(q, t), trits(p + 4 * stride, vid));
  return pack243(q);
}

/** Stores the block's d and returns id; gFast tells whether the lane path applies. */
let gFast = false;

// @ts-ignore: decorator
@inline function blockScale(src: usize, dOut: usize): f32 {
  let d = amaxScan(src);
  if (gNaN) d = amaxLoop(src);
  const id: f32 = d != 0 ? <f32>1 / d : 0; // C truthiness: a NaN d gives a NaN id
  store<u16>(dOut, <u16>f32ToHalf(d));
  gFast = !gNaN && d < Infinity && id > 0 && id < Infinity;
  return id;
}

export function tq1_0_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 54) {
    const id = blockScale(src, dst + 52);
    if (gFast) {
      const vid = f32x4.splat(id);
      for (let m: usize = 0; m < 32; m += 16) { // qs[m] from x[m + 32n], n = 0..4
        const p = src + (m << 2);
        v128.store(dst + m, packBytes(five(p, 128, vid), five(p + 16, 128, vid), five(p + 32, 128, vid), five(p + 48, 128, vid)));
      }
      // qs[32 + m] from x[160 + m + 16n]
      const p = src + 640;
      v128.store(dst + 32, packBytes(five(p, 64, vid), five(p + 16, 64, vid), five(p + 32, 64, vid), five(p + 48, 64, vid)));
      // qh[j] from x[240 + j + 4m], m = 0..3, then one more ×3
      const t = i32x4.splat(3);
      const h = src + 960;
      let q = trits(h, vid);
      q = i32x4.add(i32x4.mul(q, t), trits(h + 16, vid));
      q = i32x4.add(i32x4.mul(q, t), trits(h + 32, vid));
      q = i32x4.add(i32x4.mul(q, t), trits(h + 48, vid));
      q = pack243(i32x4.mul(q, t));
      const z = i32x4.splat(0);
      v128.store32_lane(dst + 48, packBytes(q, z, z, z), 0);
      continue;
    }
    for (let j = 0; j < 256; j++) store<u8>(T + j, <u8>ternaryCode(load<f32>(src + (<usize>j << 2)), id));
    // uint8 arithmetic throughout, as ggml's `uint8_t q`
    for (let m = 0; m < 32; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = (q * 3 + <u32>load<u8>(T + m + 32 * n)) & 0xff;
      store<u8>(dst + m, <u8>((q * 256 + 242) / 243));
    }
    for (let m = 0; m < 16; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = (q * 3 + <u32>load<u8>(T + 160 + m + 16 * n)) & 0xff;
      store<u8>(dst + 32 + m, <u8>((q * 256 + 242) / 243));
    }
    for (let j = 0; j < 4; j++) {
      let q: u32 = 0;
      for (let m = 0; m < 4; m++) q = (q * 3 + <u32>load<u8>(T + 240 + j + 4 * m)) & 0xff;
      q = (q * 3) & 0xff;
      store<u8>(dst + 48 + j, <u8>((q * 256 + 242) / 243));
    }
  }
}

/** Four TQ2_0 bytes: the codes of x[m + 32n], n = 0..3, two bits each. */
// @ts-ignore: decorator
@inline function tq2Byte(p: usize, vid: v128): v128 {
  return v128.or(
    v128.or(trits(p, vid), i32x4.shl(trits(p + 128, vid), 2)),
    v128.or(i32x4.shl(trits(p + 256, vid), 4), i32x4.shl(trits(p + 384, vid), 6)));
}

export function tq2_0_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 1024, dst += 66) {
    const id = blockScale(src, dst + 64);
    if (gFast) {
      const vid = f32x4.splat(id);
      for (let j: usize = 0; j < 64; j += 32) { // qs[j + m] = Σ code(x[128·(j/32) + m + 32n]) << 2n
        const p = src + (j << 4);
        for (let m: usize = 0; m < 32; m += 16) {
          const q = p + (m << 2);
          v128.store(dst + j + m, packBytes(tq2Byte(q, vid), tq2Byte(q + 16, vid), tq2Byte(q + 32, vid), tq2Byte(q + 48, vid)));
        }
      }
      continue;
    }
    for (let j = 0; j < 64; j += 32) {
      const p = src + (<usize>j << 4);
      for (let m = 0; m < 32; m++) {
        let q: u32 = 0;
        for (let n = 0; n < 4; n++) q += (<u32>ternaryCode(load<f32>(p + (<usize>(m + 32 * n) << 2)), id) & 3) << (2 * n);
        store<u8>(dst + j + m, <u8>q);
      }
    }
  }
}
