// Dequantizers of the 256-element K-quants, IQ4_NL/IQ4_XS, TQ1_0/TQ2_0 and MXFP4: ggml's
// dequantize_row_* over nb blocks at src → dst floats. Every code is a small integer, so
// converting it to float is exact; what remains are ggml's own float ops (scale products,
// code × scale, minus the min), done once each in the same order, so the bits are ggml's.
import { halfToF32 } from './common';

/** y[0..16) = dl·q - ml for 16 unsigned byte codes q. */
// @ts-ignore: decorator
@inline function emitU(y: usize, q: v128, dl: v128, ml: v128): void {
  const w0 = i16x8.extend_low_i8x16_u(q), w1 = i16x8.extend_high_i8x16_u(q);
  v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(w0))), ml));
  v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(w0))), ml), 16);
  v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(w1))), ml), 32);
  v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(w1))), ml), 48);
}

/** y[0..16) = d·q for 16 signed byte codes q (d first or second as ggml writes it: the product
 *  is commutative bit for bit, NaN payloads aside). */
// @ts-ignore: decorator
@inline function emitS(y: usize, q: v128, d: v128): void {
  const w0 = i16x8.extend_low_i8x16_s(q), w1 = i16x8.extend_high_i8x16_s(q);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0))));
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0))), 16);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1))), 32);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1))), 48);
}

// @ts-ignore: decorator
@inline function half(p: usize): f32 {
  return halfToF32(<u32>load<u16>(p));
}

export function q2_K_dequant(src: usize, dst: usize, nb: i32): void {
  const three = i8x16.splat(3);
  for (let b = 0; b < nb; b++, src += 84) {
    const d = half(src + 80), mn = half(src + 82);
    let is: usize = 0;
    for (let n: usize = 0; n < 2; n++) {
      const q0 = v128.load(src + 16 + (n << 5)), q1 = v128.load(src + 32 + (n << 5));
      for (let shift: u32 = 0; shift < 8; shift += 2) {
        let sc = <u32>load<u8>(src + is++);
        emitU(dst, v128.and(i8x16.shr_u(q0, shift), three), f32x4.splat(d * <f32>(sc & 0xf)), f32x4.splat(mn * <f32>(sc >> 4)));
        sc = <u32>load<u8>(src + is++);
        emitU(dst + 64, v128.and(i8x16.shr_u(q1, shift), three), f32x4.splat(d * <f32>(sc & 0xf)), f32x4.splat(mn * <f32>(sc >> 4)));
        dst += 128;
      }
    }
  }
}

const Q3_SCALES = memory.data(16, 16);

export function q3_K_dequant(src: usize, dst: usize, nb: i32): void {
  const three = i8x16.splat(3);
  const zero = i8x16.splat(0);
  const four = i8x16.splat(4);
  for (let b = 0; b < nb; b++, src += 110) {
    const dAll = half(src + 108);
    // the 16 6-bit scales, unpacked as ggml's kmask shuffle does
    const a0 = load<u32>(src + 96), a1 = load<u32>(src + 100), tmp = load<u32>(src + 104);
    store<u32>(Q3_SCALES, (a0 & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4));
    store<u32>(Q3_SCALES, (a1 & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4), 4);
    store<u32>(Q3_SCALES, ((a0 >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4), 8);
    store<u32>(Q3_SCALES, ((a1 >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4), 12);
    const hm0 = v128.load(src), hm1 = v128.load(src + 16);
    let is: usize = 0;
    let m: u32 = 1;
    for (let n: usize = 0; n < 2; n++) {
      const q0 = v128.load(src + 32 + (n << 5)), q1 = v128.load(src + 48 + (n << 5));
      for (let shift: u32 = 0; shift < 8; shift += 2) {
        const vm = i8x16.splat(<i8>m);
        // code - (hmask bit set ? 0 : 4), as a signed byte
        const c0 = i8x16.sub(v128.and(i8x16.shr_u(q0, shift), three), v128.and(i8x16.eq(v128.and(hm0, vm), zero), four));
        const c1 = i8x16.sub(v128.and(i8x16.shr_u(q1, shift), three), v128.and(i8x16.eq(v128.and(hm1, vm), zero), four));
        emitS(dst, c0, f32x4.splat(dAll * <f32>(<i32>load<i8>(Q3_SCALES + is++) - 32)));
        emitS(dst + 64, c1, f32x4.splat(dAll * <f32>(<i32>load<i8>(Q3_SCALES + is++) - 32)));
        dst += 128;
        m <<= 1;
      }
    }
  }
}

let gSc: u32 = 0;
let gM: u32 = 0;

/** get_scale_min_k4(j, scales) into gSc, gM. */
// @ts-ignore: decorator
@inline function scaleMin(j: usize, q: usize): void {
  if (j < 4) {
    gSc = <u32>load<u8>(q + j) & 63;
    gM = <u32>load<u8>(q + j + 4) & 63;
  } else {
    gSc = (<u32>load<u8>(q + j + 4) & 0xf) | ((<u32>load<u8>(q + j - 4) >> 6) << 4);
    gM = (<u32>load<u8>(q + j + 4) >> 4) | ((<u32>load<u8>(q + j) >> 6) << 4);
  }
}

export function q4_K_dequant(src: usize, dst: usize, nb: i32): void {
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 144) {
    const d = half(src), mn = half(src + 2);
    for (let j: usize = 0; j < 4; j++) {
      scaleMin(2 * j, src + 4);
      const d1 = f32x4.splat(d * <f32>gSc), m1 = f32x4.splat(mn * <f32>gM);
      scaleMin(2 * j + 1, src + 4);
      const d2 = f32x4.splat(d * <f32>gSc), m2 = f32x4.splat(mn * <f32>gM);
      const q0 = v128.load(src + 16 + (j << 5)), q1 = v128.load(src + 32 + (j << 5));
      emitU(dst, v128.and(q0, nib), d1, m1);
      emitU(dst + 64, v128.and(q1, nib), d1, m1);
      emitU(dst + 128, i8x16.shr_u(q0, 4), d2, m2);
      emitU(dst + 192, i8x16.shr_u(q1, 4), d2, m2);
      dst += 256;
    }
  }
}

/** 16 where the byte of h has bit u set, else 0 (Q5_K's fifth bit). */
// @ts-ignore: decorator
@inline function high16(h: v128, u: v128): v128 {
  return v128.andnot(i8x16.splat(16), i8x16.eq(v128.and(h, u), i8x16.splat(0)));
}

export function q5_K_dequant(src: usize, dst: usize, nb: i32): void {
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 176) {
    const d = half(src), mn = half(src + 2);
    const h0 = v128.load(src + 16), h1 = v128.load(src + 32);
    for (let j: usize = 0; j < 4; j++) {
      scaleMin(2 * j, src + 4);
      const d1 = f32x4.splat(d * <f32>gSc), m1 = f32x4.splat(mn * <f32>gM);
      scaleMin(2 * j + 1, src + 4);
      const d2 = f32x4.splat(d * <f32>gSc), m2 = f32x4.splat(mn * <f32>gM);
      const bit1: i32 = 1 << <i32>(2 * j), bit2: i32 = 2 << <i32>(2 * j);
      const u1 = i8x16.splat(<i8>bit1), u2 = i8x16.splat(<i8>bit2);
      const q0 = v128.load(src + 48 + (j << 5)), q1 = v128.load(src + 64 + (j << 5));
      emitU(dst, v128.or(v128.and(q0, nib), high16(h0, u1)), d1, m1);
      emitU(dst + 64, v128.or(v128.and(q1, nib), high16(h1, u1)), d1, m1);
      emitU(dst + 128, v128.or(i8x16.shr_u(q0, 4), high16(h0, u2)), d2, m2);
      emitU(dst + 192, v128.or(i8x16.shr_u(q1, 4), high16(h1, u2)), d2, m2);
      dst += 256;
    }
  }
}

export function q6_K_dequant(src: usize, dst: usize, nb: i32): void {
  const nib = i8x16.splat(0x0f);
  const three = i8x16.splat(3);
  const bias = i8x16.splat(32);
  for (let b = 0; b < nb; b++, src += 210) {
    const d = half(src + 208);
    for (let n: usize = 0; n < 2; n++) {
      const ql = src + (n << 6), qh = src + 128 + (n << 5), sc = src + 192 + (n << 3);
      for (let h: usize = 0; h < 2; h++) { // l = 16·h .. 16·h+15, is = h
        const a = v128.load(ql + (h << 4)), c = v128.load(ql + 32 + (h << 4)), hb = v128.load(qh + (h << 4));
        const q1 = i8x16.sub(v128.or(v128.and(a, nib), i8x16.shl(v128.and(hb, three), 4)), bias);
        const q2 = i8x16.sub(v128.or(v128.and(c, nib), i8x16.shl(v128.and(i8x16.shr_u(hb, 2), three), 4)), bias);
        const q3 = i8x16.sub(v128.or(i8x16.shr_u(a, 4), i8x16.shl(v128.and(i8x16.shr_u(hb, 4), three), 4)), bias);
        const q4 = i8x16.sub(v128.or(i8x16.shr_u(c, 4), i8x16.shl(i8x16.shr_u(hb, 6), 4)), bias);
        const y = dst + (h << 6);
        emitS(y, q1, f32x4.splat(d * <f32>load<i8>(sc + h)));
        emitS(y + 128, q2, f32x4.splat(d * <f32>load<i8>(sc + h + 2)));
        emitS(y + 256, q3, f32x4.splat(d * <f32>load<i8>(sc + h + 4)));
        emitS(y + 384, q4, f32x4.splat(d * <f32>load<i8>(sc + h + 6)));
      }
      dst += 512;
    }
  }
}

// @ts-ignore: decorator
@inline function iq4Values(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

export function iq4_nl_dequant(src: usize, dst: usize, nb: i32): void {
  const kv = iq4Values();
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 18, dst += 128) {
    const d = f32x4.splat(half(src));
    const q = v128.load(src + 2);
    emitS(dst, i8x16.swizzle(kv, v128.and(q, nib)), d);
    emitS(dst + 64, i8x16.swizzle(kv, i8x16.shr_u(q, 4)), d);
  }
}

export function iq4_xs_dequant(src: usize, dst: usize, nb: i32): void {
  const kv = iq4Values();
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 136) {
    const d = half(src);
    const sh = <u32>load<u16>(src + 2);
    for (let ib: usize = 0; ib < 8; ib++) {
      const ls = <i32>(((<u32>load<u8>(src + 4 + (ib >> 1)) >> (4 * <u32>(ib & 1))) & 0xf) | (((sh >> (2 * <u32>ib)) & 3) << 4));
      const dl = f32x4.splat(d * <f32>(ls - 32));
      const q = v128.load(src + 8 + (ib << 4));
      emitS(dst, i8x16.swizzle(kv, v128.and(q, nib)), dl);
      emitS(dst + 64, i8x16.swizzle(kv, i8x16.shr_u(q, 4)), dl);
      dst += 128;
    }
  }
}

/** TQ1_0 trit n of 8 bytes (as i16 lanes): ((uint8_t)(q·3^n)·3) >> 8, minus 1, times d. */
// @ts-ignore: decorator
@inline function trits8(y: usize, w: v128, p3: i16, d: v128): void {
  const q = v128.and(i16x8.mul(w, i16x8.splat(p3)), i16x8.splat(0xff));
  const t = i16x8.sub(i16x8.shr_u(i16x8.mul(q, i16x8.splat(3)), 8), i16x8.splat(1));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(t)), d));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(t)), d), 16);
}

export function tq1_0_dequant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++, src += 54) {
    const d = f32x4.splat(half(src + 52));
    const a = v128.load(src), c = v128.load(src + 16), e = v128.load(src + 32);
    const a0 = i16x8.extend_low_i8x16_u(a), a1 = i16x8.extend_high_i8x16_u(a);
    const c0 = i16x8.extend_low_i8x16_u(c), c1 = i16x8.extend_high_i8x16_u(c);
    const e0 = i16x8.extend_low_i8x16_u(e), e1 = i16x8.extend_high_i8x16_u(e);
    let p3: i16 = 1;
    for (let n = 0; n < 5; n++) { // qs[0..32): 32 values per power of 3
      trits8(dst, a0, p3, d); trits8(dst + 32, a1, p3, d); trits8(dst + 64, c0, p3, d); trits8(dst + 96, c1, p3, d);
      dst += 128;
      p3 *= 3;
    }
    p3 = 1;
    for (let n = 0; n < 5; n++) { // qs[32..48): 16 values per power of 3
      trits8(dst, e0, p3, d); trits8(dst + 32, e1, p3, d);
      dst += 64;
      p3 *= 3;
    }
    const h = i16x8.extend_low_i8x16_u(v128.load32_zero(src + 48));
    p3 = 1;
    for (let n = 0; n < 4; n++) { // qh[0..4): 4 values per power of 3
      const q = v128.and(i16x8.mul(h, i16x8.splat(p3)), i16x8.splat(0xff));
      const t = i16x8.sub(i16x8.shr_u(i16x8.mul(q, i16x8.splat(3)), 8), i16x8.splat(1));
      v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(t)), d));
      dst += 16;
      p3 *= 3;
    }
  }
}

export function tq2_0_dequant(src: usize, dst: usize, nb: i32): void {
  const three = i8x16.splat(3);
  const one = i8x16.splat(1);
  for (let b = 0; b < nb; b++, src += 66) {
    const d = f32x4.splat(half(src + 64));
    for (let j: usize = 0; j < 64; j += 32) {
      const q0 = v128.load(src + j), q1 = v128.load(src + j + 16);
      for (let l: u32 = 0; l < 8; l += 2) {
        emitS(dst, i8x16.sub(v128.and(i8x16.shr_u(q0, l), three), one), d);
        emitS(dst + 64, i8x16.sub(v128.and(i8x16.shr_u(q1, l), three), one), d);
        dst += 128;
      }
    }
  }
}

export function mxfp4_dequant(src: usize, dst: usize, nb: i32): void {
  const kv = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
  const nib = i8x16.splat(0x0f);
  for (let b = 0; b < nb; b++, src += 17, dst += 128) {
    const e = <u32>load<u8>(src);
    // GGML_E8M0_TO_FP32_HALF: 2^(e-128), subnormal patterns for e < 2
    const d = f32x4.splat(reinterpret<f32>(e < 2 ? <u32>0x00200000 << e : (e - 1) << 23));
    const q = v128.load(src + 1);
    // y = x0·d with x0 the int8 table value: the int converts to float, then one multiply
    const w0 = i16x8.extend_low_i8x16_s(i8x16.swizzle(kv, v128.and(q, nib)));
    const w1 = i16x8.extend_high_i8x16_s(i8x16.swizzle(kv, v128.and(q, nib)));
    const w2 = i16x8.extend_low_i8x16_s(i8x16.swizzle(kv, i8x16.shr_u(q, 4)));
    const w3 = i16x8.extend_high_i8x16_s(i8x16.swizzle(kv, i8x16.shr_u(q, 4)));
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), d));
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), d), 16);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), d), 32);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), d), 48);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w2)), d), 64);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w2)), d), 80);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w3)), d), 96);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w3)), d), 112);
  }
}
