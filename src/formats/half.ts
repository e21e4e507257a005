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

/**
 * float32 bits → FP16 bits exactly as ggml_compute_fp32_to_fp16 rounds: to nearest, ties to even,
 * subnormal halves kept, overflow → ±Inf, NaN → sign | 0x7E00. Integer-only, so hot loops inline it.
 */
export function fp32BitsToFp16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x38800000) {
    // normal half range (or overflow): re-bias the exponent, round the 13 dropped mantissa bits
    if (a >= 0x477ff000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
    return sign | (((a + 0x0fff + ((a >>> 13) & 1)) >>> 13) - 0x1c000);
  }
  // subnormal half: value / 2^-24, rounded to nearest even
  const s = 126 - (a >>> 23);
  if (s > 24) return sign;
  const m = (a & 0x7fffff) | 0x800000;
  let h = m >>> s;
  const rem = m & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** ggml_compute_fp32_to_fp16 of a number (rounded to float32 first, as C's float argument is). */
export function fp32ToFp16(x: number): number {
  return fp32BitsToFp16(f32Bits(x));
}

/** FP16 bits → float32 bits for all 65536 codes: exact, NaN payloads kept as ggml keeps them. */
export const fp16BitsTable: Uint32Array = (() => {
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    let m = h & 0x3ff;
    if (e === 31) t[h] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    else if (e !== 0) t[h] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
    else if (m === 0) t[h] = sign >>> 0;
    else {
      // subnormal half: normalise the mantissa into a float32 exponent
      let ex = 113;
      while ((m & 0x400) === 0) {
        m <<= 1;
        ex--;
      }
      t[h] = (sign | (ex << 23) | ((m & 0x3ff) << 13)) >>> 0;
    }
  }
  return t;
})();

/** The same table as float values, for arithmetic (NaN payloads are not significant there). */
export const fp16Table: Float32Array = new Float32Array(fp16BitsTable.buffer);

/** Exact FP16 → float value. */
export function fp16ToFp32(h: number): number {
  return fp16Table[h & 0xffff]!;
}

/** float32 bits → BF16 bits as ggml_compute_fp32_to_bf16: round-to-nearest-even, NaN kept quiet. */
export function fp32BitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

export function fp32ToBf16(x: number): number {
  return fp32BitsToBf16(f32Bits(x));
}

export function bf16ToFp32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}
