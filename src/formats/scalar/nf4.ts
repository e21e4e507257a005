// NF4 (QLoRA's 4-bit NormalFloat) block-wise quantization as ONNX Runtime's MatMulBnb4 quantizer does
// it: per block of consecutive values, absmax; each value scaled by float32(1/absmax) and mapped to the
// nearest of 16 levels through the float32 midpoints bitsandbytes uses; two codes per byte, the FIRST
// value in the HIGH nibble. Browser-safe.

export const NF4_LEVELS = Float32Array.of(
  -1.0,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0.0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1.0,
);

// bitsandbytes' decision thresholds (midpoints between levels), as float32 like the C++ literals
const THRESHOLDS = Float32Array.of(
  -0.8480964004993439,
  -0.6106329262256622,
  -0.4599952697753906,
  -0.33967943489551544,
  -0.23460740596055984,
  -0.13791173323988914,
  -0.045525018125772476,
  0.03979014977812767,
  0.1202552504837513,
  0.2035212516784668,
  0.2920137718319893,
  0.3893125355243683,
  0.5016634166240692,
  0.6427869200706482,
  0.8614784181118011,
);

/** the NF4 code of a value already scaled into [-1, 1] */
export function nf4Code(x: number): number {
  let c = 0;
  for (let i = 0; i < 15; i++) if (x > THRESHOLDS[i]!) c = i + 1;
  return c;
}

export interface Nf4Blocks {
  data: Uint8Array;
  absmax: Float32Array;
}

/** Quantizes `src` (any length) in blocks of `blockSize` consecutive values. */
export function quantizeNf4(src: Float32Array, blockSize: number): Nf4Blocks {
  const n = src.length;
  const blocks = Math.ceil(n / blockSize);
  const data = new Uint8Array(Math.ceil(n / 2));
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockSize,
      len = Math.min(blockSize, n - o);
    let m = 0;
    for (let i = 0; i < len; i++) m = Math.max(m, Math.abs(src[o + i]!));
    absmax[b] = m;
    const r = m ? Math.fround(1 / m) : 0;
    for (let i = 0; i < len; i += 2) {
      const v0 = nf4Code(Math.fround(src[o + i]! * r));
      const v1 = i + 1 < len ? nf4Code(Math.fround(src[o + i + 1]! * r)) : nf4Code(0);
      data[(o + i) >> 1] = (v0 << 4) | v1;
    }
  }
  return { data, absmax };
}

export function dequantizeNf4(q: Nf4Blocks, n: number, blockSize: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = q.data[i >> 1]!;
    const code = i & 1 ? byte & 15 : byte >> 4;
    out[i] = Math.fround(NF4_LEVELS[code]! * q.absmax[Math.floor(i / blockSize)]!);
  }
  return out;
}
