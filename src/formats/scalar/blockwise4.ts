// 4-bit block-wise weight quantization as ONNX Runtime's MatMulNBits quantizer does it
// (MLAS MlasQuantizeBlockwise, used by matmul_nbits_quantizer.py): blocks of `blockSize` values
// down the K axis of each column n of a [K, N] weight.
//   symmetric:  m = the value of largest magnitude, scale = m / -8 (may be negative), zp = 8
//   asymmetric: min/max widened to include 0, scale = (max-min)/15, zp = roundf(-min/scale) clamped
//   q = clamp(roundf(v * (1/scale) + zp), 0, 15)   (roundf: ties away from zero; float32 throughout)
// Packing: B[n][block][byte], two values per byte, the even k in the low nibble; zero points two per
// byte per column (low nibble first), ceil(blocks/2) bytes per column. Browser-safe.

export interface Blockwise4 {
  /** [N, blocks, blockSize/2] packed nibbles */
  data: Uint8Array;
  /** [N * blocks] float32 scales */
  scales: Float32Array;
  /** [N * ceil(blocks/2)] packed zero points, only when asymmetric */
  zeroPoints: Uint8Array | undefined;
  blocks: number;
}

/** C's roundf on a float32 value */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Quantizes w ([K, N] row-major float32, as MatMul's B) block-wise. K need not be a multiple of the
 * block size: the last block is short and its missing nibbles stay zero.
 */
export function quantizeBlockwise4(
  w: Float32Array,
  K: number,
  N: number,
  blockSize: number,
  symmetric: boolean,
): Blockwise4 {
  const blocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const data = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zpBytes = Math.ceil(blocks / 2);
  const zeroPoints = symmetric ? undefined : new Uint8Array(N * zpBytes);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * blockSize;
      const k1 = Math.min(K, k0 + blockSize);
      let scale: number;
      let zp: number;
      if (symmetric) {
        // range2scale: max = fabsf(max) > fabsf(min) ? max : min  over the block's min and max
        let mn = Infinity,
          mx = -Infinity;
        for (let k = k0; k < k1; k++) {
          const v = w[k * N + n]!;
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        const m = Math.abs(mx) > Math.abs(mn) ? mx : mn;
        scale = Math.fround(m / -8);
        zp = 8;
      } else {
        let mn = Infinity,
          mx = -Infinity;
        for (let k = k0; k < k1; k++) {
          const v = w[k * N + n]!;
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        mn = Math.min(mn, 0);
        mx = Math.max(mx, 0);
        scale = Math.fround(Math.fround(mx - mn) / 15);
        let zf = mn;
        if (scale !== 0) zf = Math.fround(0 - Math.fround(mn / scale));
        zp = zf < 0 ? 0 : zf > 15 ? 15 : roundf(zf);
        const zi = n * zpBytes + (b >> 1);
        zeroPoints![zi] = zeroPoints![zi]! | (zp << ((b & 1) * 4));
      }
      scales[n * blocks + b] = scale;
      const rs = scale !== 0 ? Math.fround(1 / scale) : 0;
      const base = (n * blocks + b) * blob;
      for (let k = k0; k < k1; k++) {
        let q = roundf(Math.fround(Math.fround(w[k * N + n]! * rs) + zp));
        q = q < 0 ? 0 : q > 15 ? 15 : q;
        const i = k - k0;
        data[base + (i >> 1)] = data[base + (i >> 1)]! | (q << ((i & 1) * 4));
      }
    }
  }
  return { data, scales, zeroPoints, blocks };
}

/** The float32 weight ([K, N]) that MatMulNBits computes with: (q - zp) * scale. */
export function dequantizeBlockwise4(q: Blockwise4, K: number, N: number, blockSize: number): Float32Array {
  const out = new Float32Array(K * N);
  const blob = blockSize / 2;
  const zpBytes = Math.ceil(q.blocks / 2);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize);
      const i = k - b * blockSize;
      const byte = q.data[(n * q.blocks + b) * blob + (i >> 1)]!;
      const v = (byte >> ((i & 1) * 4)) & 15;
      const zp = q.zeroPoints ? (q.zeroPoints[n * zpBytes + (b >> 1)]! >> ((b & 1) * 4)) & 15 : 8;
      out[k * N + n] = Math.fround((v - zp) * q.scales[n * q.blocks + b]!);
    }
  }
  return out;
}
