// ggml's UE4M3 scale byte (NVFP4's per-16 scale: unsigned, 4 exponent bits with bias 7, 3 mantissa
// bits), bit for bit as ggml-impl.h's ggml_ue4m3_to_fp32 / ggml_fp32_to_ue4m3 (ggml 0.23.0). Not the
// OCP/ONNX E4M3FN of scalar/fp8.ts: ggml rounds half up on the first dropped bit (not to even),
// sends every value of the top binade (2^8 and up, 448 and beyond) to 0x7E (448), so codes
// 0x78..0x7D are never written, flushes what rounds below 2^-9 to 0, decodes 0x7F as 0, ignores
// bit 7 when decoding (0xFF is 240 · 2 = 480 raw) and returns the value halved (NVFP4 stores its
// E2M1 levels doubled, as MXFP4 does).

/** ggml_ue4m3_to_fp32(x): the raw UE4M3 value times 0.5 (every result is exact in float32). */
export function ue4m3ToFp32(x: number): number {
  x &= 0xff;
  if (x === 0 || x === 0x7f) return 0;
  const exp = (x >> 3) & 0xf,
    man = x & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return raw * 0.5;
}

/** All 256 decoded scales, for hot loops. */
export const ue4m3Table: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = ue4m3ToFp32(i);
  return t;
})();

const F1 = new Float32Array(1);
const U1 = new Uint32Array(F1.buffer);

/** ggml_fp32_to_ue4m3(x) for a float32 value x (NaN, ±0 and negatives give 0). */
export function fp32ToUe4m3(x: number): number {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  F1[0] = x;
  const bits = U1[0]!;
  const e = ((bits >>> 23) & 0xff) - 127 + 7;
  if (e <= 0) {
    // subnormal: man = (int)(x·512 + 0.5f), both steps in float32 (x·512 is exact here)
    let man = Math.trunc(Math.fround(Math.fround(F1[0]! * 512) + 0.5));
    if (man > 7) man = 7;
    return man < 1 ? 0 : man;
  }
  if (e >= 15) return 0x7e;
  const m = ((bits >>> 20) & 7) + ((bits >>> 19) & 1);
  if (m > 7) return e + 1 >= 15 ? 0x7e : (e + 1) << 3;
  return (e << 3) | m;
}
