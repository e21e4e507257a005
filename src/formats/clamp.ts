// Clamping to the float storage types' range. ggml's fp32→fp16 (and bf16) conversion turns finite
// values beyond the range into ±Inf, which llama.cpp's row validation then refuses. lowbit
// deliberately differs: such values become the largest finite value and are counted, so callers can
// report them (tensor name + count) instead of writing Inf or failing the run. Browser-safe.
import { GGML_TYPE } from './ggml-types.js';

/** Largest finite value of the float types a conversion can overflow (F16 65504, BF16 0x7f7f). */
export const FLOAT_TYPE_MAX: Readonly<Record<number, number>> = {
  [GGML_TYPE.F16]: 65504,
  [GGML_TYPE.BF16]: 3.3895313892515355e38,
};

/** Clamps finite values beyond ±limit in place; returns how many. Inf and NaN are left to the finiteness checks. */
export function clampFinite(x: Float32Array, limit: number): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > limit || v < -limit) {
      if (v === Infinity || v === -Infinity) continue;
      x[i] = v > 0 ? limit : -limit;
      n++;
    }
  }
  return n;
}
