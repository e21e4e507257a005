// Where each value's code sits in a block of the ggml formats whose values are coded one by one
// (a scale or two per block or sub-block, one code per value): writing code k for value j of a
// block, with the block's scales left as they are. With the format's own dequantizer this gives
// every level a value can take once its block's scales are fixed (codeLevels), which is what a
// column-by-column encoder needs (src/formats/gptq.ts). The i-quants that code 4 or 8 values
// together (IQ1_*, IQ2_*, IQ3_*) and the ternary formats have no per-value code: they are absent.
// Browser-safe.
import type { BlockCodec } from './codec.js';

export interface CodeSlots {
  /** codes per value (16 for 4-bit codes) */
  readonly codes: number;
  /** writes code k (0 ≤ k < codes) of value j (0 ≤ j < block size) into one block's bytes */
  set(block: Uint8Array, j: number, k: number): void;
}

function nibble(block: Uint8Array, at: number, high: boolean, k: number): void {
  block[at] = high ? (block[at]! & 0x0f) | ((k & 15) << 4) : (block[at]! & 0xf0) | (k & 15);
}

function bit(block: Uint8Array, at: number, mask: number, on: boolean): void {
  block[at] = on ? block[at]! | mask : block[at]! & ~mask;
}

/** Q4_0 / Q4_1 / IQ4_NL layout: value j < 16 in the low nibble of qs[j], j ≥ 16 in the high nibble of qs[j - 16]. */
const nibbles32 = (qs: number): CodeSlots => ({
  codes: 16,
  set: (b, j, k) => nibble(b, qs + (j & 15), j >= 16, k),
});

/** Q5_0 / Q5_1: the low four bits as Q4_0, the fifth in bit j of the 32-bit qh. */
const five32 = (qh: number, qs: number): CodeSlots => ({
  codes: 32,
  set: (b, j, k) => {
    nibble(b, qs + (j & 15), j >= 16, k);
    bit(b, qh + (j >> 3), 1 << (j & 7), (k & 16) !== 0);
  },
});

/** Q4_K / Q5_K: 64-value chunks c; value 64c + l (l < 32) in the low nibble of qs[32c + l], 64c + 32 + l in its high nibble. */
function kNibble(b: Uint8Array, qs: number, j: number, k: number): void {
  const c = j >> 6,
    r = j & 63;
  nibble(b, qs + 32 * c + (r & 31), r >= 32, k);
}

const SLOTS: Record<string, CodeSlots> = {
  Q4_0: nibbles32(2),
  Q4_1: nibbles32(4),
  IQ4_NL: nibbles32(2),
  Q5_0: five32(2, 6),
  Q5_1: five32(4, 8),
  // int8 codes: k - 128
  Q8_0: { codes: 256, set: (b, j, k) => (b[2 + j] = (k - 128) & 0xff) },
  // d, dmin (4 bytes), scales[12], qs[128]
  Q4_K: { codes: 16, set: (b, j, k) => kNibble(b, 16, j, k) },
  // d, dmin, scales[12], qh[32], qs[128]: the fifth bit of value 64c + l in bit 2c of qh[l], of 64c + 32 + l in bit 2c + 1
  Q5_K: {
    codes: 32,
    set: (b, j, k) => {
      kNibble(b, 48, j, k);
      const c = j >> 6,
        r = j & 63;
      bit(b, 16 + (r & 31), 1 << (2 * c + (r >= 32 ? 1 : 0)), (k & 16) !== 0);
    },
  },
  // ql[128], qh[64], scales[16], d: halves h of 128; value 128h + 32q + l (q < 4, l < 32): low
  // nibble of ql[64h + l] (q 0), ql[64h + 32 + l] (q 1), their high nibbles (q 2, 3); the top two
  // bits in bits 2q..2q+1 of qh[32h + l]
  Q6_K: {
    codes: 64,
    set: (b, j, k) => {
      const h = j >> 7,
        q = (j >> 5) & 3,
        l = j & 31;
      nibble(b, 64 * h + (q & 1 ? 32 : 0) + l, q >= 2, k);
      const at = 128 + 32 * h + l;
      b[at] = (b[at]! & ~(3 << (2 * q))) | (((k >> 4) & 3) << (2 * q));
    },
  },
  // hmask[32], qs[64], scales[12], d: value 128h + 32q + l: bits 2q..2q+1 of qs[32h + l], the
  // third bit in bit 4h + q of hmask[l] (set: value = low bits, clear: low bits − 4; code k = value + 4)
  Q3_K: {
    codes: 8,
    set: (b, j, k) => {
      const h = j >> 7,
        q = (j >> 5) & 3,
        l = j & 31;
      const at = 32 + 32 * h + l;
      b[at] = (b[at]! & ~(3 << (2 * q))) | ((k & 3) << (2 * q));
      bit(b, l, 1 << (4 * h + q), (k & 4) !== 0);
    },
  },
  // scales[16], qs[64], d, dmin: value 128h + 32q + l in bits 2q..2q+1 of qs[32h + l]
  Q2_K: {
    codes: 4,
    set: (b, j, k) => {
      const h = j >> 7,
        q = (j >> 5) & 3,
        l = j & 31;
      const at = 16 + 32 * h + l;
      b[at] = (b[at]! & ~(3 << (2 * q))) | ((k & 3) << (2 * q));
    },
  },
  // d, scales_h (2), scales_l[4], qs[128]: sub-block s of 32: value 32s + i (i < 16) in the low nibble of qs[16s + i], 32s + 16 + i in its high nibble
  IQ4_XS: { codes: 16, set: (b, j, k) => nibble(b, 8 + 16 * (j >> 5) + (j & 15), (j & 31) >= 16, k) },
};

/** The per-value code slots of a codec's format, or null when its values are not coded one by one. */
export function codeSlots(codec: BlockCodec): CodeSlots | null {
  return SLOTS[codec.name] ?? null;
}

/**
 * Every level each value of one block can take with the block's scales as they are: out[k * bs + j]
 * = the value j decodes to with code k (the format's own dequantizer). `block` is left unchanged.
 */
export function codeLevels(
  codec: BlockCodec,
  slots: CodeSlots,
  block: Uint8Array,
  out: Float32Array,
  tmp: Uint8Array,
): void {
  const bs = codec.type.blockSize;
  tmp.set(block);
  for (let k = 0; k < slots.codes; k++) {
    for (let j = 0; j < bs; j++) slots.set(tmp, j, k);
    codec.dequantize(tmp, out.subarray(k * bs, (k + 1) * bs), bs);
  }
}
