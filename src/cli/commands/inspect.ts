// `lowbit inspect <file>`: what a model file holds — metadata, then one line per tensor with its
// shape, type, size and bits per weight, then totals. The file kind is chosen by its first bytes;
// other formats plug in by adding an Inspector to INSPECTORS (see ggufInspector). GGUF,
// safetensors (one file, or a sharded checkpoint by its directory or index) and ONNX.
import type { Command } from 'commander';
import { FileSource } from '../../node/file-io.js';
import type { ByteSource } from '../../io/source.js';
import { FileFormatError } from '../../errors.js';
import { oneLine, readGgufHeader } from '../../io/gguf/reader.js';
import { GGUF_MAGIC_BYTES } from '../../io/gguf/constants.js';
import type { GgufArray, GgufValue } from '../../io/gguf/metadata.js';
import { fmtBytes, fmtNum, table } from '../format.js';
import { FILE_TYPES } from '../../plan/file-types.js';
import { safetensorsInspector, shardIndexFor, inspectShardedSafetensors } from './inspect-safetensors.js';
import { onnxInspector } from './inspect-onnx.js';

export interface InspectTensor {
  readonly name: string;
  /** in the file's own order (ggml: ne[0] first) */
  readonly shape: readonly number[];
  readonly type: string;
  readonly bytes: number;
  readonly elements: number;
  /** the file holding it, when the model spans several (shards, ONNX external data) */
  readonly file?: string;
}

export interface InspectReport {
  readonly format: string;
  readonly file: string;
  readonly fileSize: number;
  /** format facts shown before the metadata (version, alignment, ...) */
  readonly facts: readonly [string, string | number][];
  /** key → value, summarised for text (long arrays as "[32000 strings]") */
  readonly metadataText: readonly [string, string][];
  /** key → JSON-safe value (long arrays summarised as {type, itemType, length}) */
  readonly metadataJson: Record<string, unknown>;
  readonly tensors: readonly InspectTensor[];
  /** format-specific structured facts for --json (ONNX: opsets, op counts) */
  readonly extraJson?: Record<string, unknown>;
}

export interface Inspector {
  readonly format: string;
  /** true when the file's first bytes (up to 16) are this format's */
  matches(head: Uint8Array, src: ByteSource): boolean;
  inspect(src: ByteSource): Promise<InspectReport>;
}

/** Arrays longer than this are shown by type and length only. */
const ARRAY_INLINE_MAX = 16;
const STRING_TEXT_MAX = 120;

export const ggufInspector: Inspector = {
  format: 'GGUF',
  matches: (head) => GGUF_MAGIC_BYTES.every((b, i) => head[i] === b),
  async inspect(src) {
    const f = await readGgufHeader(src);
    const metadataText: [string, string][] = [];
    const metadataJson: Record<string, unknown> = {};
    for (const [k, v] of f.metadata) {
      // the file type by the name users know (Q4_K_M), its number after it, as llama.cpp's loader prints it
      metadataText.push([k, k === 'general.file_type' && v.type !== 'array' && v.type !== 'string' ? fileTypeText(Number(v.value)) : valueText(v)]);
      metadataJson[k] = valueJson(v);
    }
    return {
      format: `GGUF v${f.version}`,
      file: src.name,
      fileSize: src.size,
      facts: [['alignment', f.alignment], ['data offset', f.dataOffset]],
      metadataText,
      metadataJson,
      // types and shapes as `compare` shows them (Q4_K, [256, 4])
      tensors: f.tensors.map((t) => ({ name: t.name, shape: t.dims, type: t.type.ggmlName.toUpperCase(), bytes: t.byteSize, elements: t.nElements })),
      ...(fileTypeName(f.metadata) ? { extraJson: { fileType: fileTypeName(f.metadata) } } : {}),
    };
  },
};

/** Formats `inspect` understands, tried in order (ONNX last: it matches on a weak signature). */
export const INSPECTORS: Inspector[] = [ggufInspector, safetensorsInspector, onnxInspector];

export async function inspectSource(src: ByteSource): Promise<InspectReport> {
  const head = await src.read(0, Math.min(16, src.size));
  const insp = INSPECTORS.find((i) => i.matches(head, src));
  if (!insp) throw new FileFormatError(src.name, `unknown file format (expected ${INSPECTORS.map((i) => i.format).join(', ')})`);
  return insp.inspect(src);
}

/** llama.cpp's file type names (llama_ftype), with the "guessed" flag it sets for files lacking the key. */
function fileTypeText(id: number): string {
  const guessed = id >= 1024 ? id - 1024 : undefined;
  const ft = FILE_TYPES.find((f) => f.id === (guessed ?? id));
  const legacy: Record<number, string> = { 4: 'Q4_1_SOME_F16 (legacy)' };
  const name = ft?.name ?? legacy[guessed ?? id];
  return name ? `${name} (${id}${guessed !== undefined ? ', guessed' : ''})` : `${id} (not a file type llama.cpp knows)`;
}

function fileTypeName(metadata: ReadonlyMap<string, GgufValue>): string | undefined {
  const v = metadata.get('general.file_type');
  if (!v || v.type === 'array' || v.type === 'string') return undefined;
  return FILE_TYPES.find((f) => f.id === Number(v.value))?.name;
}

function typeLabel(t: string, plural: boolean): string {
  return t === 'string' ? (plural ? 'strings' : 'string') : t === 'array' ? (plural ? 'arrays' : 'array') : t;
}

function valueText(v: GgufValue): string {
  switch (v.type) {
    case 'string': {
      const s = JSON.stringify(v.value);
      return s.length > STRING_TEXT_MAX ? `${s.slice(0, STRING_TEXT_MAX)}…" (${v.value.length} chars)` : s;
    }
    case 'array': return arrayText(v.value);
    default: return String(v.value);
  }
}

function arrayText(a: GgufArray): string {
  const n = a.items.length;
  if (n > ARRAY_INLINE_MAX) return `[${n} ${typeLabel(a.itemType, true)}]`;
  const items: string[] = [];
  for (const x of Array.from(a.items as ArrayLike<unknown>)) {
    items.push(typeof x === 'string' ? JSON.stringify(x) : typeof x === 'object' && x !== null ? arrayText(x as GgufArray) : String(x));
  }
  const s = `[${items.join(', ')}]`;
  return s.length > STRING_TEXT_MAX ? `[${n} ${typeLabel(a.itemType, n !== 1)}]` : s;
}

function jsonScalar(x: unknown): unknown {
  if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : x.toString();
  if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
  return x;
}

function valueJson(v: GgufValue): unknown {
  if (v.type === 'array') return arrayJson(v.value);
  return jsonScalar(v.value);
}

function arrayJson(a: GgufArray): unknown {
  if (a.items.length > ARRAY_INLINE_MAX) return { type: 'array', itemType: a.itemType, length: a.items.length };
  return Array.from(a.items as ArrayLike<unknown>, (x) => (typeof x === 'object' && x !== null ? arrayJson(x as GgufArray) : jsonScalar(x)));
}

function bpw(bytes: number, elements: number): number | null {
  return elements > 0 ? (bytes * 8) / elements : null;
}

export function totals(r: InspectReport): { tensors: number; parameters: number; bytes: number; bitsPerWeight: number | null } {
  let parameters = 0;
  let bytes = 0;
  for (const t of r.tensors) { parameters += t.elements; bytes += t.bytes; }
  return { tensors: r.tensors.length, parameters, bytes, bitsPerWeight: bpw(bytes, parameters) };
}

export function renderText(r: InspectReport): string {
  const out: string[] = [];
  out.push(`${r.file}: ${r.format}, ${fmtBytes(r.fileSize)}`);
  for (const [k, v] of r.facts) out.push(`  ${k}: ${v}`);
  out.push('');
  out.push(`metadata (${r.metadataText.length} keys)`);
  const w = Math.max(0, ...r.metadataText.map(([k]) => k.length));
  // names come from the file: keep control characters out of the terminal
  for (const [k, v] of r.metadataText) out.push(`  ${oneLine(k).padEnd(w)}  ${oneLine(v)}`);
  out.push('');
  out.push(`tensors (${r.tensors.length})`);
  const files = r.tensors.some((t) => t.file !== undefined);
  out.push(table(['name', 'shape', 'type', 'bytes', 'bpw', ...(files ? ['file'] : [])], r.tensors.map((t) => {
    const b = bpw(t.bytes, t.elements);
    return [oneLine(t.name), `[${t.shape.join(', ')}]`, t.type, fmtBytes(t.bytes), b === null ? '-' : b.toFixed(2), ...(files ? [oneLine(t.file ?? '')] : [])];
  })));
  const tot = totals(r);
  out.push('');
  out.push(`total: ${tot.tensors} tensors, ${fmtNum(tot.parameters)} parameters, ${fmtBytes(tot.bytes)}` +
    (tot.bitsPerWeight === null ? '' : `, ${tot.bitsPerWeight.toFixed(2)} bits per weight`));
  return out.join('\n') + '\n';
}

export function renderJson(r: InspectReport): string {
  const tot = totals(r);
  return JSON.stringify({
    file: r.file,
    format: r.format,
    fileSize: r.fileSize,
    ...Object.fromEntries(r.facts.map(([k, v]) => [k.replace(/ (\w)/g, (_, c: string) => c.toUpperCase()), v])),
    metadata: r.metadataJson,
    ...r.extraJson,
    tensors: r.tensors.map((t) => ({ ...t, bitsPerWeight: bpw(t.bytes, t.elements) })),
    totals: tot,
  }, null, 2) + '\n';
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('show the metadata and tensors of a model file (GGUF, safetensors, ONNX), with sizes and bits per weight')
    .argument('<file>', 'model file; for a sharded safetensors checkpoint its directory or model.safetensors.index.json')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const index = await shardIndexFor(file);
      if (index) {
        const r = await inspectShardedSafetensors(index);
        process.stdout.write(opts.json ? renderJson(r) : renderText(r));
        return;
      }
      const src = await FileSource.open(file);
      try {
        const r = await inspectSource(src);
        process.stdout.write(opts.json ? renderJson(r) : renderText(r));
      } finally {
        await src.close();
      }
    });
}
