// Shared pieces of the per-architecture Hugging Face converters (arch/<gguf-arch>.ts): a tensor read
// straight from the checkpoint (optionally transformed element-wise or sliced to some rows), and
// config helpers with convert_hf_to_gguf.py's find_hparam semantics.
import { LowbitError } from '../../../errors.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import type { SafetensorsTensor } from '../../../io/safetensors/reader.js';
import { FLOAT_DECODABLE, SAFETENSORS_DTYPE_BITS, toFloat32 } from '../../../io/safetensors/dtypes.js';
import type { TensorSpec } from '../../model.js';

export interface PlainTensorOptions {
  /** element-wise change applied in float32 (e.g. gemma's norm + 1) */
  map?: (x: number) => number;
  /** keep only the first `rows` HF rows (gemma3 drops out-of-vocabulary embedding rows) */
  rows?: number;
  /** F32 in every output type (default: 1-D tensors and *_norm.weight, as the converter does) */
  keepF32?: boolean;
}

export function checkFloat(t: SafetensorsTensor): void {
  if (!FLOAT_DECODABLE.has(t.dtype)) throw new LowbitError(`tensor '${t.name}' is ${t.dtype}; lowbit converts float checkpoints (F32, F16, BF16)`);
}

/** A tensor whose GGUF rows are the HF rows (ggml shape = HF shape reversed). */
export function plainTensor(set: SafetensorsSet, t: SafetensorsTensor, name: string, o: PlainTensorOptions = {}): TensorSpec {
  checkFloat(t);
  const hfShape = [...t.shape];
  if (o.rows !== undefined) {
    if (o.rows > hfShape[0]!) throw new LowbitError(`tensor '${t.name}' has ${hfShape[0]} rows, expected at least ${o.rows}`);
    hfShape[0] = o.rows;
  }
  const shape = hfShape.reverse();
  const rowLen = shape[0]!;
  const total = shape.reduce((a, b) => a * b, 1);
  const elBytes = SAFETENSORS_DTYPE_BITS[t.dtype] / 8;
  const src = t.name, dtype = t.dtype, map = o.map;
  const readElems = async (first: number, n: number) => {
    const v = toFloat32(await set.readBytes(src, first * elBytes, n * elBytes), dtype);
    if (map) for (let i = 0; i < v.length; i++) v[i] = map(v[i]!);
    return v;
  };
  return {
    name,
    shape,
    keepF32: o.keepF32 ?? (shape.length === 1 || name.endsWith('_norm.weight')),
    read: () => readElems(0, total),
    readRows: (first, count) => readElems(first * rowLen, count * rowLen),
  };
}

type Obj = Record<string, unknown>;

/** find_hparam: the first of `names` present in the config (null counts as absent). */
export function findParam(c: Obj, names: string[]): unknown {
  for (const n of names) if (c[n] !== undefined && c[n] !== null) return c[n];
  return undefined;
}

export function numParam(c: Obj, names: string[], file = 'config.json'): number | undefined {
  const v = findParam(c, names);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new LowbitError(`${file}: ${names[0]} is not a number`);
  return v;
}

export function requireParam(c: Obj, names: string[], file = 'config.json'): number {
  const v = numParam(c, names, file);
  if (v === undefined) throw new LowbitError(`${file}: missing ${names[0]}`);
  return v;
}

/** TextModel.__init__'s rope_parameters: rope_parameters or rope_scaling, mirrored keys. */
export function ropeParameters(c: Obj): Obj {
  const rp = { ...((c.rope_parameters ?? c.rope_scaling ?? {}) as Obj) };
  if (!('full_attention' in rp) && !('sliding_attention' in rp)) {
    const local = findParam(c, ['local_rope_theta', 'rope_local_theta', 'rope_theta_local', 'swa_rope_theta', 'rope_local_base_freq']);
    const theta = findParam(c, ['global_rope_theta', 'rope_global_theta', 'rope_theta_global', 'rope_theta', 'rotary_emb_base']);
    const partial = findParam(c, ['partial_rotary_factor', 'rope_pct', 'rope_percent']);
    const orig = findParam(c, ['original_max_position_embeddings']);
    if (local !== undefined) rp.sliding_attention = { rope_theta: local };
    if (!('rope_theta' in rp) && theta !== undefined) rp.rope_theta = theta;
    if (!('rope_type' in rp) && rp.type !== undefined) rp.rope_type = rp.type;
    if (!('partial_rotary_factor' in rp) && partial !== undefined) rp.partial_rotary_factor = partial;
    if (!('original_max_position_embeddings' in rp) && orig !== undefined) rp.original_max_position_embeddings = orig;
  }
  return rp;
}

export const checkMissing = (have: Set<string>, need: string[], arch: string): void => {
  const missing = need.filter((n) => !have.has(n));
  if (missing.length) throw new LowbitError(`checkpoint is missing ${missing.length} tensor(s) a ${arch} model needs, e.g. ${missing.slice(0, 3).join(', ')}`);
};
