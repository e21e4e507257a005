// The basics of quantization, plainly: n bits give 2^n codes, evenly spaced from min to max
// inclusive; the step between neighbours is (max - min) / (2^n - 1); a value is stored as the
// code of its nearest level, and the difference is what rounding costs it.
import { LowbitError } from '../errors.js';

export interface Range {
  min: number;
  max: number;
}

export interface Level {
  code: number;
  value: number;
}

export function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16)
    throw new LowbitError(`bits must be a whole number from 1 to 16, got ${bits}`);
}

export function checkRange(r: Range): void {
  if (!Number.isFinite(r.min) || !Number.isFinite(r.max) || !(r.max > r.min)) {
    throw new LowbitError(`range must be two finite numbers MIN,MAX with MIN < MAX, got ${r.min},${r.max}`);
  }
}

export function levelCount(bits: number): number {
  checkBits(bits);
  return 2 ** bits;
}

export function step(bits: number, r: Range): number {
  checkRange(r);
  return (r.max - r.min) / (levelCount(bits) - 1);
}

export function levelValue(code: number, bits: number, r: Range): number {
  // the top code lands exactly on max, whatever floating point does to min + code * step
  return code === levelCount(bits) - 1 ? r.max : r.min + code * step(bits, r);
}

export function levels(bits: number, r: Range): Level[] {
  const n = levelCount(bits);
  const out: Level[] = [];
  for (let code = 0; code < n; code++) out.push({ code, value: levelValue(code, bits, r) });
  return out;
}

export interface Rounding {
  bits: number;
  levels: number;
  step: number;
  code: number;
  value: number;
  absError: number;
  /** |error| / |input|; null when the input is 0 */
  relError: number | null;
  /** the input lay outside [min, max] and was clamped to the nearest end */
  clamped: boolean;
  /** bytes saved against 32-bit floats, as a share (8 bits → 0.75) */
  savedVs32: number;
  /** how many times smaller than 32-bit floats (8 bits → 4) */
  ratioVs32: number;
}

/** Quantize one value to the nearest of the 2^bits levels (ties go up, to the larger code). */
export function roundToLevel(x: number, bits: number, r: Range): Rounding {
  if (!Number.isFinite(x)) throw new LowbitError(`value must be a finite number, got ${x}`);
  const n = levelCount(bits);
  const s = step(bits, r);
  const clamped = x < r.min || x > r.max;
  const code = Math.min(n - 1, Math.max(0, Math.floor((x - r.min) / s + 0.5)));
  const value = levelValue(code, bits, r);
  const absError = Math.abs(value - x);
  return {
    bits,
    levels: n,
    step: s,
    code,
    value,
    absError,
    relError: x === 0 ? null : absError / Math.abs(x),
    clamped,
    savedVs32: 1 - bits / 32,
    ratioVs32: 32 / bits,
  };
}

export function parseRange(text: string): Range {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2 || parts.some((p) => p === ''))
    throw new LowbitError(`range must be MIN,MAX (e.g. 0,1 or -1,1), got "${text}"`);
  const r = { min: Number(parts[0]), max: Number(parts[1]) };
  checkRange(r);
  return r;
}

/** One bit width as typed ("4"): the text itself is quoted when it is not a whole number. */
export function parseBits(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new LowbitError(`bits must be a whole number from 1 to 16, got "${text}"`);
  const bits = Number(t);
  checkBits(bits);
  return bits;
}

export function parseBitsList(text: string): number[] {
  return text.split(',').map(parseBits);
}
