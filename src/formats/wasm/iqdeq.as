// Dequantizers of the i-quants with grids (IQ1_M, …): ggml's dequantize_row_* over nb blocks at
// src → dst floats. Grid entries and signs are small integers, so converting them to float is
// exact; the float ops left (scale products, grid + shift, scale × value) are ggml's, once each in
// the same order, so the bits are ggml's (NaN payloads aside).
import { halfToF32 } from './common';
import { KG2048, KG256 as KG2_256, KG512 as KG2_512, KG1024 as KG2_1024 } from './iq2';
import { KG256, KG512 } from './iq3';

// lane j of i16x8.mul(splat(code), IQ1_LANE) >> 14 is level j (bits 2j, 2j+1) of a packed grid code
const IQ1_LANE = memory.data<u16>([1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1]);

/** y[0..8) = dl·(grid + δ) for the IQ1 grid point idx (kgrid_1bit_2048: levels 0..2 are −1, 0, 1). */
// @ts-ignore: decorator
@inline function iq1Group(y: usize, idx: u32, lane: v128, dl: v128, delta: v128): void {
  const c = <i16>load<u16>(KG2048 + (<usize>idx << 1));
  const g = i16x8.sub(i16x8.shr_u(i16x8.mul(i16x8.splat(c), lane), 14), i16x8.splat(1));
  v128.store(y, f32x4.mul(dl, f32x4.add(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(g)), delta)));
  v128.store(y, f32x4.mul(dl, f32x4.add(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(g)), delta)), 16);
}

export function iq1_m_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ1_LANE);
  const dp = f32x4.splat(0.125), dm = f32x4.splat(-0.125);
  for (let b = 0; b < nb; b++, src += 56) {
    const sc0 = <u32>load<u16>(src + 48), sc1 = <u32>load<u16>(src + 50);
    const sc2 = <u32>load<u16>(src + 52), sc3 = <u32>load<u16>(src + 54);
    const d = halfToF32((sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const sc = <u32>load<u16>(src + 48 + ((ib >> 1) << 1));
      const sh = 6 * (ib & 1);
      const s1: u32 = 2 * ((sc >> sh) & 7) + 1, s2: u32 = 2 * ((sc >> (sh + 3)) & 7) + 1;
      const dl1 = f32x4.splat(d * <f32>s1);
      const dl2 = f32x4.splat(d * <f32>s2);
      const q = src + (ib << 2);
      const qh0 = <u32>load<u8>(src + 32 + (ib << 1)), qh1 = <u32>load<u8>(src + 33 + (ib << 1));
      iq1Group(dst, <u32>load<u8>(q) | ((qh0 << 8) & 0x700), lane, dl1, qh0 & 0x08 ? dm : dp);
      iq1Group(dst + 32, <u32>load<u8>(q + 1) | ((qh0 << 4) & 0x700), lane, dl1, qh0 & 0x80 ? dm : dp);
      iq1Group(dst + 64, <u32>load<u8>(q + 2) | ((qh1 << 8) & 0x700), lane, dl2, qh1 & 0x08 ? dm : dp);
      iq1Group(dst + 96, <u32>load<u8>(q + 3) | ((qh1 << 4) & 0x700), lane, dl2, qh1 & 0x80 ? dm : dp);
      dst += 128;
    }
  }
}

// IQ3 grids (kgrid_256 / kgrid_512 of iq3xs_init_impl, in iq3.as): coordinate j of a point is level
// (code >> 3j) & 7 and value 2·level + 1 (iq3xxs_grid / iq3s_grid bytes). Two points fill i16x8
// lanes 0..3 and 4..7; lane j·(code << (13 − 3j)) >> 13 is the level. iq3xxs_grid's bytes are
// 8·level + 4 instead, except level 7: 62, not 60 (IQ3XXS_LEVELS of ../ggml/iq3-grids.ts).
const IQ3_LANE = memory.data<u16>([1 << 13, 1 << 10, 1 << 7, 1 << 4, 1 << 13, 1 << 10, 1 << 7, 1 << 4]);
const SIGN_BITS = memory.data<u16>([1, 2, 4, 8, 16, 32, 64, 128]);

/** y[0..8) = db·grid·(±1) for grid codes c1, c2 and the 8 sign bits: ±(db·grid) as ggml rounds it. */
// @ts-ignore: decorator
@inline function iq3Pair(y: usize, c1: u64, c2: u64, signs: u32, db: v128, lane: v128, bits: v128, xxs: bool): void {
  const v = i64x2.replace_lane(i64x2.splat(c1 * 0x0001000100010001), 1, c2 * 0x0001000100010001);
  const lv = i16x8.shr_u(i16x8.mul(v, lane), 13);
  const g = xxs
    ? i16x8.add(i16x8.add(i16x8.shl(lv, 3), i16x8.splat(4)), v128.and(i16x8.eq(lv, i16x8.splat(7)), i16x8.splat(2)))
    : i16x8.add(i16x8.shl(lv, 1), i16x8.splat(1));
  const neg = i16x8.ne(v128.and(i16x8.splat(<i16>signs), bits), i16x8.splat(0));
  // negating the integer first: db·(−g) = −(db·g) exactly (round to nearest is symmetric)
  const s = i16x8.sub(v128.xor(g, neg), neg);
  v128.store(y, f32x4.mul(db, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(s))));
  v128.store(y, f32x4.mul(db, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(s))), 16);
}

// @ts-ignore: decorator
@inline function kg(table: usize, i: u32): u64 {
  return <u64>load<u16>(table + (<usize>i << 1));
}

/** IQ3_S: 110-byte blocks: d, qs[64], qh[8], signs[32], scales[4]. */
export function iq3_s_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ3_LANE), bits = v128.load(SIGN_BITS);
  for (let b = 0; b < nb; b++, src += 110) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const sc = <u32>load<u8>(src + 106 + (ib >> 1));
      const k: u32 = 1 + 2 * ((ib & 1) ? sc >> 4 : sc & 15);
      const db = f32x4.splat(d * <f32>k);
      const qh = <u32>load<u8>(src + 66 + ib);
      const qs = src + 2 + (ib << 3), sg = src + 74 + (ib << 2);
      for (let l: u32 = 0; l < 4; l++) {
        const i1 = <u32>load<u8>(qs + (l << 1)) | (((qh >> (2 * l)) & 1) << 8);
        const i2 = <u32>load<u8>(qs + (l << 1) + 1) | (((qh >> (2 * l + 1)) & 1) << 8);
        iq3Pair(dst, kg(KG512, i1), kg(KG512, i2), <u32>load<u8>(sg + l), db, lane, bits, false);
        dst += 32;
      }
    }
  }
}

/** IQ3_XXS: 98-byte blocks: d, qs[64] (256-grid indices), 8 × u32 of 4 × 7 sign bits and a 4-bit scale. */
export function iq3_xxs_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ3_LANE), bits = v128.load(SIGN_BITS);
  for (let b = 0; b < nb; b++, src += 98) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const aux = load<u32>(src + 66 + (ib << 2));
      const k: f32 = 0.5 + <f32>(aux >> 28);
      const db = f32x4.splat(d * k * <f32>0.5);
      const qs = src + 2 + (ib << 3);
      for (let l: u32 = 0; l < 4; l++) {
        // ksigns_iq2xs: 7 sign bits, the 8th makes the count even
        const s7 = (aux >> (7 * l)) & 127;
        const signs = s7 | ((popcnt(s7) & 1) << 7);
        iq3Pair(dst, kg(KG256, <u32>load<u8>(qs + (l << 1))), kg(KG256, <u32>load<u8>(qs + (l << 1) + 1)), signs, db, lane, bits, true);
        dst += 32;
      }
    }
  }
}

/** IQ1_S: 50-byte blocks: d, qs[32] (low index bytes), 8 × u16 qh (3 × 3 high index bits, 3-bit scale, shift sign). */
export function iq1_s_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ1_LANE);
  const dp = f32x4.splat(0.125), dm = f32x4.splat(-0.125);
  for (let b = 0; b < nb; b++, src += 50) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const qh = <u32>load<u16>(src + 34 + (ib << 1));
      const k: u32 = 2 * ((qh >> 12) & 7) + 1;
      const dl = f32x4.splat(d * <f32>k);
      const delta = qh & 0x8000 ? dm : dp;
      const q = src + 2 + (ib << 2);
      iq1Group(dst, <u32>load<u8>(q) | ((qh & 7) << 8), lane, dl, delta);
      iq1Group(dst + 32, <u32>load<u8>(q + 1) | (((qh >> 3) & 7) << 8), lane, dl, delta);
      iq1Group(dst + 64, <u32>load<u8>(q + 2) | (((qh >> 6) & 7) << 8), lane, dl, delta);
      iq1Group(dst + 96, <u32>load<u8>(q + 3) | (((qh >> 9) & 7) << 8), lane, dl, delta);
      dst += 128;
    }
  }
}

// IQ2 grids (kgrid_2bit_256/512/1024 of iq2xs_init_impl, in iq2.as): coordinate j of a point is
// level (code >> 2j) & 3, whose iq2*_grid byte is 8, 25, 43 or 62 = 8 + 17l + l(l − 1)/2.

/** y[0..8) = db·grid·(±1) for the IQ2 grid code c (u16) and 8 sign bits. */
// @ts-ignore: decorator
@inline function iq2Group(y: usize, table: usize, idx: u32, signs: u32, db: v128, lane: v128, bits: v128): void {
  const c = <i16>load<u16>(table + (<usize>idx << 1));
  const l = i16x8.shr_u(i16x8.mul(i16x8.splat(c), lane), 14);
  const g = i16x8.add(i16x8.add(i16x8.mul(l, i16x8.splat(17)), i16x8.splat(8)), i16x8.shr_u(i16x8.mul(l, i16x8.sub(l, i16x8.splat(1))), 1));
  const neg = i16x8.ne(v128.and(i16x8.splat(<i16>signs), bits), i16x8.splat(0));
  const s = i16x8.sub(v128.xor(g, neg), neg);
  v128.store(y, f32x4.mul(db, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(s))));
  v128.store(y, f32x4.mul(db, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(s))), 16);
}

/** ksigns_iq2xs: 7 sign bits, the 8th makes the count even. */
// @ts-ignore: decorator
@inline function ksigns(s7: u32): u32 {
  return s7 | ((popcnt(s7) & 1) << 7);
}

/** d·(0.5 + k)·0.25 in float32, as ggml writes it. */
// @ts-ignore: decorator
@inline function db2(d: f32, k: u32): v128 {
  const h: f32 = 0.5 + <f32>k;
  return f32x4.splat(d * h * <f32>0.25);
}

/** IQ2_XXS: 66-byte blocks: d, then per 32 values 4 grid index bytes and a u32 of 4 × 7 sign bits and a 4-bit scale. */
export function iq2_xxs_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ1_LANE), bits = v128.load(SIGN_BITS);
  for (let b = 0; b < nb; b++, src += 66) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const q = src + 2 + (ib << 3);
      const aux = load<u32>(q + 4);
      const db = db2(d, aux >> 28);
      for (let l: u32 = 0; l < 4; l++) {
        iq2Group(dst, KG2_256, <u32>load<u8>(q + l), ksigns((aux >> (7 * l)) & 127), db, lane, bits);
        dst += 32;
      }
    }
  }
}

/** IQ2_XS: 74-byte blocks: d, 32 × u16 (9-bit grid index, 7 sign bits), 8 scale bytes (two 4-bit scales). */
export function iq2_xs_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ1_LANE), bits = v128.load(SIGN_BITS);
  for (let b = 0; b < nb; b++, src += 74) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const sc = <u32>load<u8>(src + 66 + ib);
      const db0 = db2(d, sc & 15), db1 = db2(d, sc >> 4);
      const q = src + 2 + (ib << 3);
      for (let l: u32 = 0; l < 4; l++) {
        const v = <u32>load<u16>(q + (l << 1));
        iq2Group(dst, KG2_512, v & 511, ksigns(v >> 9), l < 2 ? db0 : db1, lane, bits);
        dst += 32;
      }
    }
  }
}

/** IQ2_S: 82-byte blocks: d, qs[32] (low index bytes), signs[32], qh[8] (2 high bits per index), scales[8]. */
export function iq2_s_dequant(src: usize, dst: usize, nb: i32): void {
  const lane = v128.load(IQ1_LANE), bits = v128.load(SIGN_BITS);
  for (let b = 0; b < nb; b++, src += 82) {
    const d = halfToF32(<u32>load<u16>(src));
    for (let ib: u32 = 0; ib < 8; ib++) {
      const sc = <u32>load<u8>(src + 74 + ib);
      const db0 = db2(d, sc & 15), db1 = db2(d, sc >> 4);
      const qh = <u32>load<u8>(src + 66 + ib);
      const q = src + 2 + (ib << 2), sg = src + 34 + (ib << 2);
      for (let l: u32 = 0; l < 4; l++) {
        const idx = <u32>load<u8>(q + l) | ((qh << (8 - 2 * l)) & 0x300);
        iq2Group(dst, KG2_1024, idx, <u32>load<u8>(sg + l), l < 2 ? db0 : db1, lane, bits);
        dst += 32;
      }
    }
  }
}
