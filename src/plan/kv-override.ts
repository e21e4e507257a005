// llama-quantize's --override-kv KEY=TYPE:VALUE (common's string_parse_kv_override) and what
// llama_model_quantize does with it. The output metadata gets the value in place of the key's,
// moved to the end (gguf_set_val_* removes and appends) and typed as llama.cpp writes it: f32 for
// float, u32 of |value| for int, bool, string. The model loader also reads the override instead of
// the file's value where the types agree, so hparams the type plan uses (block_count, head counts,
// expert_count) follow it: loaderMetadata gives the planner that view.
import { LowbitError } from '../errors.js';
import { gv, type GgufMetadata, type GgufValue } from '../io/gguf/metadata.js';

export type KvOverride =
  | { key: string; type: 'int'; value: bigint }
  | { key: string; type: 'float'; value: number }
  | { key: string; type: 'bool'; value: boolean }
  | { key: string; type: 'str'; value: string };

const utf8Length = (s: string) => new TextEncoder().encode(s).length;
const INT64_MIN = -(1n << 63n),
  INT64_MAX = (1n << 63n) - 1n;

/** C's atol (glibc strtol, base 10): leading space, a sign, digits; 0 when none; clamped to int64. */
function atol(s: string): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0n;
  const v = BigInt(m[1]!);
  return v < INT64_MIN ? INT64_MIN : v > INT64_MAX ? INT64_MAX : v;
}

/** C's atof (strtod): decimal or hexadecimal floats, inf/infinity/nan in any case; 0 when none. */
function atof(s: string): number {
  const t = s.replace(/^[ \t\n\v\f\r]+/, '');
  const sign = t.startsWith('-') ? -1 : 1;
  const u = t.replace(/^[+-]/, '');
  if (/^inf/i.test(u)) return sign * Infinity;
  if (/^nan/i.test(u)) return NaN;
  const hex = /^0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?/.exec(u);
  if (hex) {
    const int = hex[1] ?? '',
      frac = hex[2] ?? hex[3] ?? '';
    let v = 0;
    for (const c of int + frac) v = v * 16 + parseInt(c, 16);
    return sign * v * 2 ** (Number(hex[4] ?? 0) - 4 * frac.length);
  }
  const dec = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(u);
  return dec ? sign * Number(dec[0]) : 0;
}

/** Parses KEY=TYPE:VALUE as llama-quantize does (TYPE int, float, bool or str). */
export function parseKvOverride(arg: string): KvOverride {
  const eq = arg.indexOf('=');
  if (eq < 0 || utf8Length(arg.slice(0, eq)) >= 128)
    throw new LowbitError(`--override-kv: malformed '${arg}' (expected KEY=TYPE:VALUE, KEY under 128 bytes)`, 'EUSAGE');
  const key = arg.slice(0, eq);
  const rest = arg.slice(eq + 1);
  if (key === 'general.alignment')
    throw new LowbitError('--override-kv: general.alignment cannot be overridden here', 'EUSAGE');
  if (rest.startsWith('int:')) return { key, type: 'int', value: atol(rest.slice(4)) };
  if (rest.startsWith('float:')) return { key, type: 'float', value: atof(rest.slice(6)) };
  if (rest.startsWith('bool:')) {
    const v = rest.slice(5);
    if (v !== 'true' && v !== 'false')
      throw new LowbitError(`--override-kv: invalid boolean value in '${arg}' (true or false)`, 'EUSAGE');
    return { key, type: 'bool', value: v === 'true' };
  }
  if (rest.startsWith('str:')) {
    const v = rest.slice(4);
    if (utf8Length(v) > 127)
      throw new LowbitError(`--override-kv: the value of '${key}' is longer than 127 bytes`, 'EUSAGE');
    return { key, type: 'str', value: v };
  }
  throw new LowbitError(`--override-kv: invalid type in '${arg}' (int, float, bool or str)`, 'EUSAGE');
}

/** The value llama_model_quantize writes for an override. */
export function overrideValue(o: KvOverride): GgufValue {
  switch (o.type) {
    case 'float':
      return gv.f32(Math.fround(o.value));
    // (uint32_t)std::abs(val_i64)
    case 'int':
      return gv.u32(Number((o.value < 0n ? -o.value : o.value) & 0xffffffffn));
    case 'bool':
      return gv.bool(o.value);
    case 'str':
      return gv.str(o.value);
  }
}

const CLASS: Record<string, KvOverride['type']> = {
  u8: 'int',
  i8: 'int',
  u16: 'int',
  i16: 'int',
  u32: 'int',
  i32: 'int',
  u64: 'int',
  i64: 'int',
  f32: 'float',
  f64: 'float',
  bool: 'bool',
  string: 'str',
};

/**
 * The metadata as llama.cpp's model loader sees it: an override replaces a scalar key of its own
 * kind (the loader warns and keeps the file's value otherwise) or supplies a missing one.
 */
export function loaderMetadata(m: GgufMetadata, overrides: readonly KvOverride[]): GgufMetadata {
  if (!overrides.length) return m;
  const out: GgufMetadata = new Map(m);
  for (const o of overrides) {
    const cur = m.get(o.key);
    if (cur && CLASS[cur.type] !== o.type) continue;
    let v: GgufValue;
    if (o.type === 'int') {
      // converted to the key's own width, as the loader's integer target takes an int64
      const t = cur?.type ?? (o.value < 0n ? 'i32' : 'u32');
      const bits = t.endsWith('8') ? 8 : t.endsWith('16') ? 16 : t.endsWith('32') ? 32 : 64;
      const w = t.startsWith('u') ? BigInt.asUintN(bits, o.value) : BigInt.asIntN(bits, o.value);
      v = bits === 64 ? { type: t as 'u64' | 'i64', value: w } : { type: t as 'u8', value: Number(w) };
    } else if (o.type === 'float') v = gv.f64(o.value);
    else v = o.type === 'bool' ? gv.bool(o.value) : gv.str(o.value);
    out.set(o.key, v);
  }
  return out;
}
