// ggml_validate_row_data: the finiteness checks llama.cpp applies to tensor data it reads (the
// loader's check_tensors) and to every chunk it quantizes. Float types: no NaN/Inf values; block
// types: the fp16 scales (d, and dmin/m where the block has one) are finite; MXFP4: no 0xff exponent.
import { GGML_TYPE as T, ggmlTypeById } from '../formats/ggml-types.js';

/** Byte offsets of the fp16 scale fields each block type must keep finite. */
const SCALE_OFFSETS: Readonly<Record<number, readonly number[]>> = {
  [T.Q1_0]: [0],
  [T.Q2_0]: [0],
  [T.Q4_0]: [0],
  [T.Q5_0]: [0],
  [T.Q8_0]: [0],
  [T.Q4_1]: [0, 2],
  [T.Q5_1]: [0, 2],
  [T.Q2_K]: [80, 82],
  [T.Q3_K]: [108],
  [T.Q4_K]: [0, 2],
  [T.Q5_K]: [0, 2],
  [T.Q6_K]: [208],
  [T.TQ1_0]: [52],
  [T.TQ2_0]: [64],
  [T.IQ1_S]: [0],
  [T.IQ2_XXS]: [0],
  [T.IQ2_XS]: [0],
  [T.IQ2_S]: [0],
  [T.IQ3_XXS]: [0],
  [T.IQ3_S]: [0],
  [T.IQ4_XS]: [0],
  [T.IQ4_NL]: [0],
};

const fp16Bad = (h: number) => (h & 0x7c00) === 0x7c00;

/**
 * Index of the first invalid value (float types) or block (block types), or -1 when the data is
 * valid. Types ggml does not validate (integers, NVFP4) are always valid.
 */
export function firstInvalid(type: number, data: Uint8Array): number {
  const u16 = (o: number) => data[o]! | (data[o + 1]! << 8);
  switch (type) {
    case T.F32: {
      if (data.byteOffset % 4 === 0)
        return firstNonFinite(new Float32Array(data.buffer, data.byteOffset, data.length >> 2));
      for (let i = 0, o = 0; o + 4 <= data.length; i++, o += 4)
        if ((data[o + 3]! & 0x7f) === 0x7f && data[o + 2]! & 0x80) return i;
      return -1;
    }
    case T.F16:
      for (let i = 0, o = 0; o + 2 <= data.length; i++, o += 2) if (fp16Bad(u16(o))) return i;
      return -1;
    case T.BF16:
      for (let i = 0, o = 0; o + 2 <= data.length; i++, o += 2) if ((u16(o) & 0x7fff) >= 0x7f80) return i;
      return -1;
    case T.F64: {
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; (i + 1) * 8 <= data.length; i++) if (!Number.isFinite(v.getFloat64(i * 8, true))) return i;
      return -1;
    }
    case T.Q8_K: {
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; (i + 1) * 292 <= data.length; i++) if (!Number.isFinite(v.getFloat32(i * 292, true))) return i;
      return -1;
    }
    case T.MXFP4:
      for (let i = 0; i * 17 < data.length; i++) if (data[i * 17] === 0xff) return i;
      return -1;
    case T.IQ1_M: {
      // the fp16 super-block scale is spread over the top nibbles of the four u16 scale words at byte 48
      for (let i = 0, o = 48; o + 8 <= data.length; i++, o += 56) {
        const h = (u16(o) >> 12) | ((u16(o + 2) >> 8) & 0xf0) | ((u16(o + 4) >> 4) & 0xf00) | (u16(o + 6) & 0xf000);
        if (fp16Bad(h)) return i;
      }
      return -1;
    }
  }
  const offs = SCALE_OFFSETS[type];
  const info = ggmlTypeById(type);
  if (!offs || !info) return -1;
  // every block size and scale offset is even: with an even start, read the scales as u16 directly
  if (data.byteOffset % 2 === 0 && info.typeSize % 2 === 0) {
    const h = new Uint16Array(data.buffer, data.byteOffset, data.length >> 1);
    const step = info.typeSize >> 1;
    const nBlocks = Math.floor(data.length / info.typeSize);
    const s0 = offs[0]! >> 1;
    if (offs.length === 1) {
      for (let i = 0, o = s0; i < nBlocks; i++, o += step) if ((h[o]! & 0x7c00) === 0x7c00) return i;
      return -1;
    }
    const s1 = offs[1]! >> 1;
    for (let i = 0, o = 0; i < nBlocks; i++, o += step)
      if ((h[o + s0]! & 0x7c00) === 0x7c00 || (h[o + s1]! & 0x7c00) === 0x7c00) return i;
    return -1;
  }
  for (let i = 0, o = 0; o + info.typeSize <= data.length; i++, o += info.typeSize) {
    for (const s of offs) if (fp16Bad(u16(o + s))) return i;
  }
  return -1;
}

/**
 * Index of the first NaN/Inf in a float32 array, or -1. This runs over every weight of a model, so
 * it only adds: a float64 sum of float32 values cannot overflow, and any NaN or infinity makes the
 * sum non-finite; only a chunk whose sum is not finite is searched element by element.
 */
export function firstNonFinite(x: Float32Array): number {
  const n = x.length;
  for (let c = 0; c < n; c += 4096) {
    const e = Math.min(n, c + 4096);
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0;
    let i = c;
    // four chains of pair sums: V8's fastest shape for this loop (measured)
    for (; i + 8 <= e; i += 8) {
      a0 += x[i]! + x[i + 4]!;
      a1 += x[i + 1]! + x[i + 5]!;
      a2 += x[i + 2]! + x[i + 6]!;
      a3 += x[i + 3]! + x[i + 7]!;
    }
    for (; i < e; i++) a0 += x[i]!;
    if (!Number.isFinite(a0 + a1 + a2 + a3)) {
      for (let j = c; j < e; j++) if (!Number.isFinite(x[j]!)) return j;
    }
  }
  return -1;
}
