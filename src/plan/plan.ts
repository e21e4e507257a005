// A quantization plan: for every tensor of a model, the type llama.cpp's llama_model_quantize would
// give it, why, and the bytes before and after. Pure and browser-safe; the pipeline executes it and
// `lowbit quantize --dry-run` prints it.
import { ggmlTypeById } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import type { FileType } from './file-types.js';
import {
  fallbackType,
  isQuantizedType,
  mixtureType,
  newRuleState,
  requiresImatrix,
  tensorCategory,
  whyNotQuantized,
  type ModelInfo,
  type TensorCategory,
} from './tensor-rules.js';

export interface TensorDesc {
  name: string;
  /** ggml order: shape[0] is the row length */
  shape: readonly number[];
  /** ggml type id */
  type: number;
}

/** --tensor-type REGEX=TYPE, as llama-quantize parses it (the pattern lower-cased). */
export interface TensorTypeOverride {
  pattern: string;
  type: number;
}

export interface PlanOptions {
  fileType: FileType;
  pure?: boolean;
  tensorTypes?: readonly TensorTypeOverride[];
  outputTensorType?: number;
  tokenEmbeddingType?: number;
  /** llama-quantize --leave-output-tensor */
  leaveOutputTensor?: boolean;
  /** an importance matrix is given (changes some rules) */
  hasImatrix?: boolean;
  /** keep the tensors in the order given (llama-quantize --keep-split: by shard, then file offset) */
  givenOrder?: boolean;
}

export type ReasonKind = 'kept' | 'rule' | 'default' | 'override' | 'pure' | 'fallback' | 'target';

export interface PlannedTensor {
  name: string;
  shape: readonly number[];
  category: TensorCategory;
  srcType: number;
  dstType: number;
  /** false: bytes are copied as they are (dst == src) */
  convert: boolean;
  kind: ReasonKind;
  reason: string;
  requiresImatrix: boolean;
  /** the tensor is eligible for quantization at all (tensor_allows_quantization) */
  quantizable: boolean;
  srcBytes: number;
  dstBytes: number;
  /** kind 'fallback': the type the rules asked for, which the tensor's rows could not take */
  fallbackFrom?: number;
}

export interface QuantPlan {
  fileType: FileType;
  tensors: PlannedTensor[];
  srcBytes: number;
  dstBytes: number;
  nElements: number;
  nFallback: number;
  /** --prune-layers: the output's <arch>.block_count */
  blockCount?: number;
}

/** llama.cpp's order of tensors (llama_model_loader's weights_map): by layer (non-layer first), then name. */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const enc = new TextEncoder();
  const keyed = tensors.map((t) => ({ t, layer: sscanfLayer(t.name), bytes: enc.encode(t.name) }));
  keyed.sort((a, b) => (a.layer !== b.layer ? a.layer - b.layer : compareBytes(a.bytes, b.bytes)));
  return keyed.map((k) => k.t);
}

/** sscanf(name, "blk.%d.", &layer) leaving -1 when it does not convert; int32 wrap as C does not define, so clamp. */
function sscanfLayer(name: string): number {
  const m = /^blk\.[ \t\n\v\f\r]*([+-]?\d+)/.exec(name);
  return m ? Number(m[1]) : -1;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function tensorBytes(shape: readonly number[], type: number): number {
  const t = ggmlTypeById(type);
  if (!t) throw new LowbitError(`unknown ggml type ${type}`);
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / t.blockSize) * t.typeSize;
}

export function typeName(type: number): string {
  return ggmlTypeById(type)?.ggmlName ?? `type ${type}`;
}

/** Compiles the overrides as llama.cpp does (std::regex, ECMAScript grammar, regex_search). */
export function compileOverrides(list: readonly TensorTypeOverride[]): { re: RegExp; pattern: string; type: number }[] {
  return list.map((o) => {
    try {
      return { re: new RegExp(o.pattern), pattern: o.pattern, type: o.type };
    } catch (e) {
      throw new LowbitError(
        `--tensor-type: invalid regular expression '${o.pattern}': ${(e as Error).message}`,
        'EUSAGE',
      );
    }
  });
}

/** Plans every tensor, in llama.cpp's output order. */
export function planQuantization(model: ModelInfo, tensors: readonly TensorDesc[], opts: PlanOptions): QuantPlan {
  const ftype = opts.fileType.id;
  const defaultType = opts.fileType.defaultType;
  // the order matters beyond the output: the rules count attn_v/ffn_* tensors as they come
  const ordered = opts.givenOrder ? [...tensors] : llamaTensorOrder(tensors);
  const seen = new Set<string>();
  for (const t of ordered) {
    if (seen.has(t.name)) throw new LowbitError(`duplicate tensor name '${t.name}'`);
    seen.add(t.name);
  }
  const qs = newRuleState(
    model,
    ordered.map((t) => t.name),
    !!opts.hasImatrix,
  );
  const overrides = compileOverrides(opts.tensorTypes ?? []);
  const out: PlannedTensor[] = [];
  let srcTotal = 0,
    dstTotal = 0,
    nElements = 0;

  for (const t of ordered) {
    const category = tensorCategory(t.name);
    const why = whyNotQuantized(t.name, t.shape, !opts.leaveOutputTensor);
    let dst = t.type;
    let kind: ReasonKind = 'kept';
    let reason = why ?? '';
    let fallbackFrom: number | undefined;
    if (why === null) {
      ({ dst, kind, reason, fallbackFrom } = chooseType(t, category));
    }
    const srcBytes = tensorBytes(t.shape, t.type);
    const dstBytes = tensorBytes(t.shape, dst);
    const convert = dst !== t.type;
    if (!convert && why === null) reason = `${reason}; already ${typeName(dst)}, copied`;
    out.push({
      name: t.name,
      shape: t.shape,
      category,
      srcType: t.type,
      dstType: dst,
      convert,
      kind,
      reason,
      requiresImatrix: requiresImatrix(t.name, dst, ftype),
      quantizable: why === null,
      srcBytes,
      dstBytes,
      ...(fallbackFrom !== undefined ? { fallbackFrom } : {}),
    });
    srcTotal += srcBytes;
    dstTotal += dstBytes;
    nElements += t.shape.reduce((a, b) => a * b, 1);
  }
  return {
    fileType: opts.fileType,
    tensors: out,
    srcBytes: srcTotal,
    dstBytes: dstTotal,
    nElements,
    nFallback: qs.nFallback,
  };

  // llama_tensor_get_type for a tensor that may be quantized
  function chooseType(
    t: TensorDesc,
    category: TensorCategory,
  ): { dst: number; kind: ReasonKind; reason: string; fallbackFrom?: number } {
    if (opts.tokenEmbeddingType !== undefined && category === 'token_embd') {
      // per_layer_token_embd follows --token-embedding-type unless a --tensor-type names it
      const named = t.name === 'per_layer_token_embd.weight' && overrides.some((o) => o.re.test(t.name));
      if (!named) return { dst: opts.tokenEmbeddingType, kind: 'override', reason: '--token-embedding-type' };
    }
    if (opts.outputTensorType !== undefined && category === 'output') {
      return { dst: opts.outputTensorType, kind: 'override', reason: '--output-tensor-type' };
    }
    let type = defaultType;
    let kind: ReasonKind = 'default';
    let reason = `${opts.fileType.name} default ${typeName(defaultType)}`;
    if (!isQuantizedType(defaultType)) return { dst: type, kind, reason };
    let manual = false;
    for (const o of overrides) {
      if (o.re.test(t.name)) {
        type = o.type;
        kind = 'override';
        reason = `--tensor-type ${o.pattern}=${typeName(o.type)}`;
        manual = true;
        break;
      }
    }
    if (!manual && opts.pure) {
      kind = 'pure';
      reason = `--pure: ${typeName(type)}`;
    }
    if (!manual && !opts.pure) {
      const r = mixtureType(qs, type, t.name, t.shape, ftype, category, opts.outputTensorType, opts.tokenEmbeddingType);
      type = r.type;
      if (r.rule !== undefined) {
        kind = 'rule';
        reason = r.rule;
      }
    }
    const fb = fallbackType(qs, t.name, t.shape[0] ?? 1, type);
    if (fb.rule !== undefined) {
      kind = 'fallback';
      reason = `${reason}; ${fb.rule} -> ${typeName(fb.type)}`;
      return { dst: fb.type, kind, reason, fallbackFrom: type };
    }
    return { dst: fb.type, kind, reason };
  }
}

/**
 * llama.cpp's "WARNING: N of M tensor(s) required fallback quantization", with what replaced what:
 * e.g. `7 of 27 tensor(s) required fallback quantization (rows not a multiple of the type's block):
 * 5 q4_K -> q5_0, 2 q6_K -> q8_0`. Undefined when every tensor got the type it was planned for.
 */
export function fallbackWarning(plan: QuantPlan): string | undefined {
  const moves = new Map<string, number>();
  let n = 0;
  for (const t of plan.tensors) {
    if (t.kind !== 'fallback' || t.fallbackFrom === undefined) continue;
    n++;
    const k = `${typeName(t.fallbackFrom)} -> ${typeName(t.dstType)}`;
    moves.set(k, (moves.get(k) ?? 0) + 1);
  }
  if (n === 0) return undefined;
  const list = [...moves]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, c]) => `${c} ${k}`)
    .join(', ');
  return `${n} of ${plan.tensors.length} tensor(s) required fallback quantization (rows not a multiple of the type's block size): ${list}`;
}

/**
 * The plan with some tensors' types chosen elsewhere (--target-size: src/pipeline/target.ts), and
 * the file type recorded in general.file_type. Only quantizable tensors may be given a type.
 */
export function withAssignedTypes(
  plan: QuantPlan,
  assigned: ReadonlyMap<string, { type: number; reason: string }>,
  fileType: FileType,
): QuantPlan {
  let dstTotal = 0;
  const tensors = plan.tensors.map((t) => {
    const a = assigned.get(t.name);
    let out = t;
    if (a) {
      if (!t.quantizable) throw new LowbitError(`tensor ${t.name} cannot be given a type: ${t.reason}`);
      out = {
        ...t,
        dstType: a.type,
        convert: a.type !== t.srcType,
        kind: 'target',
        reason: a.reason,
        requiresImatrix: requiresImatrix(t.name, a.type, fileType.id),
        dstBytes: tensorBytes(t.shape, a.type),
      };
    }
    dstTotal += out.dstBytes;
    return out;
  });
  return { ...plan, fileType, tensors, dstBytes: dstTotal };
}
