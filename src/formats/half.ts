// Scalar float conversions with ggml's exact rounding. ggml computes in float32; JS numbers are
// float64, so every step where C rounds to float is rounded here with Math.fround.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function f32FromBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0]!;
}

/** ggml_compute_fp32_to_fp16: round-to-nearest-even, NaN → 0x7E00 (keeps sign), overflow → ±Inf. */
export function fp32ToFp16(x: number): number {
  const f = Math.fround(x);
  // (|f| * 2^112) * 2^-110, both in float32: the first product may overflow to Inf, as in C.
  let base = Math.fround(Math.fround(Math.abs(f) * 5.192296858534828e33) * 7.703719777548943e-34);
  const w = f32Bits(f);
  const shl1w = (w << 1) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1w & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(f32FromBits((bias >>> 1) + 0x07800000) + base);
  const bits = f32Bits(base);
  const expBits = (bits >>> 13) & 0x7c00;
  const mantissaBits = bits & 0x0fff;
  const nonsign = expBits + mantissaBits;
  return ((sign >>> 16) | (shl1w > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

const FP16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1024 + m) * 2 ** (e - 25);
  }
  return t;
})();

/** Exact FP16 → float value. */
export function fp16ToFp32(h: number): number {
  return FP16_TABLE[h & 0xffff]!;
}

/** The full FP16 → float32 table (65536 entries), for hot loops. */
export const fp16Table: Float32Array = FP16_TABLE;

/** ggml_compute_fp32_to_bf16: round-to-nearest-even, NaN kept quiet. */
export function fp32ToBf16(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

export function bf16ToFp32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}
