// Dequantizers of the i-quants with grids (IQ1_M, …): ggml's dequantize_row_* over nb blocks at
// src → dst floats. Grid entries and signs are small integers, so converting them to float is
// exact; the float ops left (scale products, grid + shift, scale × value) are ggml's, once each in
// the same order, so the bits are ggml's (NaN payloads aside).
import { halfToF32 } from './common';
import { KG2048 } from './iq2';

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
