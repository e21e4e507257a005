// Quantize options as llama-quantize spells them (type names, --tensor-type rules, a tensor-type
// file's text, an importance matrix filtered by --include/--exclude-weights), parsed into the plan's
// and the pipeline's options: the CLI and the web app take the same strings the same way.
import { LowbitError } from '../errors.js';
import { ggmlTypeByName } from '../formats/ggml-types.js';
import type { TensorTypeOverride } from './plan.js';
import type { ByteSource } from '../io/source.js';
import { readImatrix } from '../io/imatrix.js';
import type { ImatrixInput } from '../pipeline/quantize-gguf.js';
import type { TargetOptions } from '../pipeline/target.js';
import { parseByteSize } from './allocate.js';
import { codecByTypeId } from '../formats/registry.js';

/** A ggml type name as llama-quantize's parse_ggml_type takes it (case-insensitive). */
export function parseGgmlType(s: string, what: string): number {
  const t = ggmlTypeByName(s.trim());
  if (!t) throw new LowbitError(`${what}: invalid ggml type '${s}'`);
  return t.id;
}

/** --tensor-type NAME=TYPE as llama-quantize parses it: split at the first '=', name lower-cased. */
export function parseTensorType(arg: string): TensorTypeOverride {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new LowbitError(`--tensor-type: malformed '${arg}' (expected REGEX=TYPE)`, 'EUSAGE');
  if (eq === 0) throw new LowbitError(`--tensor-type: missing tensor name in '${arg}'`, 'EUSAGE');
  if (eq === arg.length - 1) throw new LowbitError(`--tensor-type: missing quantization type in '${arg}'`, 'EUSAGE');
  return { pattern: arg.slice(0, eq).toLowerCase(), type: parseGgmlType(arg.slice(eq + 1), '--tensor-type') };
}

/**
 * A tensor-type file's text as llama-quantize reads it: REGEX=TYPE entries separated by spaces or
 * newlines, each checked as one --tensor-type (`file` names it in errors).
 */
export function parseTensorTypeText(text: string, file: string): string[] {
  const entries = text.split(/\s+/).filter((x) => x.length > 0);
  for (const x of entries) {
    try {
      parseTensorType(x);
    } catch (e) {
      throw new LowbitError(
        `--tensor-type-file ${file}: ${(e as Error).message.replace(/^--tensor-type: /, '')}`,
        'EUSAGE',
      );
    }
  }
  return entries;
}

/** llama-quantize's prepare_imatrix: --exclude-weights drops, --include-weights keeps, by substring. */
export function filterImatrix(
  data: Map<string, Float32Array>,
  include: readonly string[],
  exclude: readonly string[],
): Map<string, Float32Array> {
  let out = new Map(data);
  for (const x of exclude) for (const k of [...out.keys()]) if (k.includes(x)) out.delete(k);
  if (include.length) out = new Map([...out].filter(([k]) => include.some((x) => k.includes(x))));
  return out;
}

/** An importance matrix from any source (llama-imatrix's GGUF or the legacy .dat), filtered; undefined when nothing is left. */
export async function imatrixInput(
  src: ByteSource,
  include: readonly string[],
  exclude: readonly string[],
): Promise<ImatrixInput | undefined> {
  const im = await readImatrix(src);
  const data = filterImatrix(im.data, include, exclude);
  if (data.size === 0) return undefined; // llama-quantize then runs as if no imatrix was given
  const p = im.provenance;
  return { data, provenance: { file: src.name, dataset: p.datasets[0], entries: data.size, chunks: p.chunkCount } };
}

/** --target-size / --target-bpw / --target-types as options (undefined without a target). */
export function parseTargetOptions(o: {
  targetSize?: string;
  targetBpw?: string;
  targetTypes?: string;
}): TargetOptions | undefined {
  if (o.targetSize !== undefined && o.targetBpw !== undefined)
    throw new LowbitError('--target-size and --target-bpw cannot be used together', 'EUSAGE');
  if (o.targetSize === undefined && o.targetBpw === undefined) {
    if (o.targetTypes !== undefined)
      throw new LowbitError('--target-types needs --target-size or --target-bpw', 'EUSAGE');
    return undefined;
  }
  const t: TargetOptions = {};
  if (o.targetSize !== undefined) t.bytes = parseByteSize(o.targetSize);
  if (o.targetBpw !== undefined) {
    const b = Number(o.targetBpw);
    if (!Number.isFinite(b) || b <= 0 || b > 32)
      throw new LowbitError(`--target-bpw must be a number of bits per weight above 0, not '${o.targetBpw}'`, 'EUSAGE');
    t.bpw = b;
  }
  if (o.targetTypes !== undefined) {
    t.types = o.targetTypes
      .split(',')
      .filter((x) => x.trim())
      .map((x) => {
        const id = parseGgmlType(x, '--target-types');
        if (!codecByTypeId(id)) throw new LowbitError(`--target-types: lowbit cannot write ${x.trim()}`, 'EUSAGE');
        return id;
      });
    if (!t.types.length) throw new LowbitError('--target-types: no type given', 'EUSAGE');
  }
  return t;
}
