// MXFP4 quantizer (ggml's quantize_row_mxfp4_ref) over nb blocks of 32 floats. With a finite block
// max every |x| < 16·d and the nearest E2M1 level is the number of midpoints (0.5, 1.5, 2.5, 3.5,
// 5, 7, 10)·d strictly below |x| (ties to the lower level, as best_index_mxfp4's strict < keeps
// the first), counted on u = |x|/(d/2), which is exact: d is a power of two. Blocks with an
// infinite max, or a scale byte above 252 (where 8·d or 12·d overflow to Inf and the midpoint
// argument fails), run best_index_mxfp4 literally.
import { packBytes } from './common';

// @ts-ignore: decorator
@inline function e8m0Half(e: u32): f32 {
  return reinterpret<f32>(e < 2 ? <u32>0x00200000 << e : (e - 1) << 23);
}

function bestIndexLoop(x: f32, d: f32): i32 {
  // kvalues_mxfp4[i]·d - x, first least |·|
  let best = 0;
  let bestErr = abs<f32>(<f32>0 * d - x);
  for (let i = 1; i < 16; i++) {
    const k = <f32>load<i8>(KV + i);
    const err = abs<f32>(k * d - x);
    if (err < bestErr) { best = i; bestErr = err; }
  }
  return best;
}

const KV = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

/** Index (0..15) of four lanes, tame case. */
// @ts-ignore: decorator
@inline function idx4(p: usize, vh: v128): v128 {
  const x = v128.load(p);
  const u = f32x4.div(f32x4.abs(x), vh);
  // count of midpoints below u: each true compare is -1
  let c = f32x4.gt(u, f32x4.splat(1));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(3)));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(5)));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(7)));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(10)));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(14)));
  c = i32x4.add(c, f32x4.gt(u, f32x4.splat(20)));
  const n = i32x4.neg(c);
  // negative x picks the mirrored index (+8), except for level 0, which stays index 0
  const neg = v128.and(f32x4.lt(x, f32x4.splat(0)), i32x4.ne(n, i32x4.splat(0)));
  return i32x4.add(n, v128.and(neg, i32x4.splat(8)));
}

export function mxfp4_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 128, dst += 17) {
    // amax: `if (amax < fabsf(v)) amax = fabsf(v)`, NaN never taken: pmax on |x| with NaN lanes
    // masked to 0 gives the same value
    let m = f32x4.splat(0);
    for (let j: usize = 0; j < 128; j += 16) {
      const a = f32x4.abs(v128.load(src + j));
      m = f32x4.pmax(m, v128.and(a, f32x4.eq(a, a)));
    }
    m = f32x4.pmax(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    m = f32x4.pmax(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
    const amax = f32x4.extract_lane(m, 0);
    // (uint8_t)(floorf(log2f(amax)) - 2 + 127): x86's truncation to int, low byte; Inf → 0
    let e: u32 = 0;
    if (amax > 0 && amax < Infinity) e = <u32>(<i32>Mathf.floor(<f32>Math.log2(<f64>amax)) + 125) & 0xff;
    const d = e8m0Half(e);
    store<u8>(dst, <u8>e);
    if (amax < Infinity && e <= 252) {
      const vh = f32x4.splat(d * <f32>0.5); // d/2: exact (a power of two, ≥ 2^-129)
      const lo = packBytes(idx4(src, vh), idx4(src + 16, vh), idx4(src + 32, vh), idx4(src + 48, vh));
      const hi = packBytes(idx4(src + 64, vh), idx4(src + 80, vh), idx4(src + 96, vh), idx4(src + 112, vh));
      v128.store(dst + 1, v128.or(lo, i8x16.shl(hi, 4)));
    } else {
      for (let j = 0; j < 16; j++) {
        const x0 = bestIndexLoop(load<f32>(src + (<usize>j << 2)), d);
        const x1 = bestIndexLoop(load<f32>(src + (<usize>(j + 16) << 2)), d);
        store<u8>(dst + 1 + j, <u8>(x0 | (x1 << 4)));
      }
    }
  }
}
