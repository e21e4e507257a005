// FP8 formats of ONNX (opset 19 Cast): E4M3FN (no infinities, NaN = S.1111.111, max 448) and E5M2
// (IEEE-like, max 57344). float32 -> FP8 rounds to nearest, ties to even; with `saturate` (ONNX's
// default) values beyond the largest finite value, infinities included, become ±max. Browser-safe.

export type Fp8Format = 'e4m3fn' | 'e5m2';

interface Spec {
  ebits: number;
  mbits: number;
  bias: number;
  ieee: boolean;
}
const SPECS: Record<Fp8Format, Spec> = {
  e4m3fn: { ebits: 4, mbits: 3, bias: 7, ieee: false },
  e5m2: { ebits: 5, mbits: 2, bias: 15, ieee: true },
};

function decodeTable(s: Spec): Float64Array {
  const t = new Float64Array(256);
  for (let c = 0; c < 256; c++) {
    const sign = c & 0x80 ? -1 : 1;
    const e = (c >> s.mbits) & ((1 << s.ebits) - 1);
    const m = c & ((1 << s.mbits) - 1);
    const emax = (1 << s.ebits) - 1;
    if (s.ieee && e === emax) t[c] = m ? NaN : sign * Infinity;
    else if (!s.ieee && e === emax && m === (1 << s.mbits) - 1) t[c] = NaN;
    else if (e === 0) t[c] = sign * m * 2 ** (1 - s.bias - s.mbits);
    else t[c] = sign * (1 + m / (1 << s.mbits)) * 2 ** (e - s.bias);
  }
  return t;
}

const TABLES: Record<Fp8Format, Float64Array> = { e4m3fn: decodeTable(SPECS.e4m3fn), e5m2: decodeTable(SPECS.e5m2) };

/** code of the largest finite positive value */
function maxCode(f: Fp8Format): number {
  return f === 'e4m3fn' ? 0x7e : 0x7b;
}

export function fp8ToFloat(code: number, f: Fp8Format): number {
  return TABLES[f][code & 0xff]!;
}

export function floatToFp8(x: number, f: Fp8Format, saturate = true): number {
  const t = TABLES[f];
  const top = maxCode(f);
  if (Number.isNaN(x)) return f === 'e4m3fn' ? 0x7f : 0x7e;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(Math.fround(x));
  const max = t[top]!;
  if (a > max) {
    if (saturate) return sign | top;
    // round-to-nearest-even past the top: up to half a step above max still rounds to max
    const halfStep = (max - t[top - 1]!) / 2;
    if (a < max + halfStep || (a === max + halfStep && (top & 1) === 0)) return sign | top;
    return f === 'e4m3fn' ? sign | 0x7f : sign | 0x7c;
  }
  // positive finite codes 0..top are increasing in value: binary search, then nearest, ties to even code
  let lo = 0,
    hi = top;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (t[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - t[lo]!,
    dh = t[hi]! - a;
  const c = dl < dh ? lo : dh < dl ? hi : lo & 1 ? hi : lo;
  return sign | c;
}
