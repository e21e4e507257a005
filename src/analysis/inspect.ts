// What `lowbit inspect` shows, as data: a model file's format facts, metadata and tensor table
// (GGUF, safetensors, ONNX), read from any byte source, so the CLI and the web app show the same.
// The file kind is chosen by its first bytes; other formats plug in by adding an Inspector to
// INSPECTORS (see ggufInspector).
import type { ByteSource } from '../io/source.js';
import { FileFormatError } from '../errors.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { GGUF_MAGIC_BYTES } from '../io/gguf/constants.js';
import type { GgufArray, GgufValue } from '../io/gguf/metadata.js';
import { readSafetensorsHeader, type SafetensorsFile } from '../io/safetensors/reader.js';
import { readModel } from '../io/onnx/model.js';
import { dtName, elemBits, isExternal, numElements } from '../io/onnx/tensor.js';
import type { TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { looksLikeSafetensors } from '../io/detect.js';
import { FILE_TYPES } from '../plan/file-types.js';

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
      metadataText.push([
        k,
        k === 'general.file_type' && v.type !== 'array' && v.type !== 'string'
          ? fileTypeText(Number(v.value))
          : valueText(v),
      ]);
      metadataJson[k] = valueJson(v);
    }
    return {
      format: `GGUF v${f.version}`,
      file: src.name,
      fileSize: src.size,
      facts: [
        ['alignment', f.alignment],
        ['data offset', f.dataOffset],
      ],
      metadataText,
      metadataJson,
      // types and shapes as `compare` shows them (Q4_K, [256, 4])
      tensors: f.tensors.map((t) => ({
        name: t.name,
        shape: t.dims,
        type: t.type.ggmlName.toUpperCase(),
        bytes: t.byteSize,
        elements: t.nElements,
      })),
      ...(fileTypeName(f.metadata) ? { extraJson: { fileType: fileTypeName(f.metadata) } } : {}),
    };
  },
};

/** llama.cpp's file type names (llama_ftype), with the "guessed" flag it sets for files lacking the key. */
function fileTypeText(id: number): string {
  const guessed = id >= 1024 ? id - 1024 : undefined;
  const ft = FILE_TYPES.find((f) => f.id === (guessed ?? id));
  const legacy: Record<number, string> = { 4: 'Q4_1_SOME_F16 (legacy)' };
  const name = ft?.name ?? legacy[guessed ?? id];
  return name
    ? `${name} (${id}${guessed !== undefined ? ', guessed' : ''})`
    : `${id} (not a file type llama.cpp knows)`;
}

function fileTypeName(metadata: ReadonlyMap<string, GgufValue>): string | undefined {
  const v = metadata.get('general.file_type');
  if (!v || v.type === 'array' || v.type === 'string') return undefined;
  return FILE_TYPES.find((f) => f.id === Number(v.value))?.name;
}

export async function inspectSource(src: ByteSource): Promise<InspectReport> {
  const head = await src.read(0, Math.min(16, src.size));
  const insp = INSPECTORS.find((i) => i.matches(head, src));
  if (!insp)
    throw new FileFormatError(src.name, `unknown file format (expected ${INSPECTORS.map((i) => i.format).join(', ')})`);
  return insp.inspect(src);
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
    case 'array':
      return arrayText(v.value);
    default:
      return String(v.value);
  }
}

function arrayText(a: GgufArray): string {
  const n = a.items.length;
  if (n > ARRAY_INLINE_MAX) return `[${n} ${typeLabel(a.itemType, true)}]`;
  const items: string[] = [];
  for (const x of Array.from(a.items as ArrayLike<unknown>)) {
    items.push(
      typeof x === 'string'
        ? JSON.stringify(x)
        : typeof x === 'object' && x !== null
          ? arrayText(x as GgufArray)
          : String(x),
    );
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
  return Array.from(a.items as ArrayLike<unknown>, (x) =>
    typeof x === 'object' && x !== null ? arrayJson(x as GgufArray) : jsonScalar(x),
  );
}

export function bpw(bytes: number, elements: number): number | null {
  return elements > 0 ? (bytes * 8) / elements : null;
}

export function totals(r: InspectReport): {
  tensors: number;
  parameters: number;
  bytes: number;
  bitsPerWeight: number | null;
} {
  let parameters = 0;
  let bytes = 0;
  for (const t of r.tensors) {
    parameters += t.elements;
    bytes += t.bytes;
  }
  return { tensors: r.tensors.length, parameters, bytes, bitsPerWeight: bpw(bytes, parameters) };
}

// safetensors

const MAX_TEXT = 120;
const oneLine = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, ' ');

export function tensorsOf(f: SafetensorsFile, file?: string): InspectTensor[] {
  return f.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.dtype,
    bytes: t.end - t.begin,
    elements: t.shape.reduce((a, b) => a * b, 1),
    ...(file !== undefined ? { file } : {}),
  }));
}

export function textOf(v: string): string {
  const s = JSON.stringify(v);
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…" (${v.length} chars)` : s;
}

export const safetensorsInspector: Inspector = {
  format: 'safetensors',
  matches: (head, src) => looksLikeSafetensors(head, src.size),
  async inspect(src: ByteSource): Promise<InspectReport> {
    const f = await readSafetensorsHeader(src);
    const meta = [...(f.metadata ?? [])];
    return {
      format: 'safetensors',
      file: src.name,
      fileSize: src.size,
      facts: [
        ['header bytes', f.headerSize],
        ['data offset', 8 + f.headerSize],
      ],
      metadataText: meta.map(([k, v]) => [k, textOf(v)]),
      metadataJson: Object.fromEntries(meta),
      // header order is JSON order; the data order (offsets) is what a reader streams
      tensors: tensorsOf(f).sort((a, b) => f.byName.get(a.name)!.begin - f.byName.get(b.name)!.begin),
    };
  },
};

// ONNX

/** ModelProto starts with ir_version (field 1, varint: tag 0x08); the extension settles the rest. */
export const onnxInspector: Inspector = {
  format: 'ONNX',
  matches: (head, src) => /\.onnx$/i.test(src.name) || head[0] === 0x08,
  async inspect(src: ByteSource): Promise<InspectReport> {
    const m = await readModel(src);
    const g = m.graph!;
    const ops = new Map<string, number>();
    for (const n of g.node) {
      const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
      ops.set(op, (ops.get(op) ?? 0) + 1);
    }
    const opCounts = [...ops].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const opsets = m.opsetImport.map((o) => [o.domain || 'ai.onnx', Number(o.version)] as const);
    const producer = [m.producerName, m.producerVersion].filter(Boolean).join(' ');
    const meta = m.metadataProps.map((p) => [p.key, p.value] as const);
    return {
      format: 'ONNX',
      file: src.name,
      fileSize: src.size,
      facts: [
        ['IR version', Number(m.irVersion)],
        ['producer', producer || '(none)'],
        ['opsets', opsets.map(([d, v]) => `${d} ${v}`).join(', ') || '(none)'],
        ['graph', g.name || '(unnamed)'],
        ['nodes', `${g.node.length}: ${opCounts.map(([o, c]) => `${o} ${c}`).join(', ')}`],
      ],
      metadataText: meta.map(([k, v]) => [k, JSON.stringify(v)]),
      metadataJson: Object.fromEntries(meta),
      extraJson: {
        opsets: Object.fromEntries(opsets),
        opCounts: Object.fromEntries(opCounts),
        inputs: g.input.map((i) => i.name),
        outputs: g.output.map((o) => o.name),
      },
      tensors: g.initializer.map((t) => ({
        name: t.name,
        shape: t.dims.map(Number),
        type: dtName(t.dataType),
        bytes: bytesOf(t),
        elements: numElements(t.dims),
        ...(isExternal(t) ? { file: externalLocation(t) } : {}),
      })),
    };
  },
};

function externalLocation(t: TensorProto): string {
  return t.externalData.find((e) => e.key === 'location')?.value ?? '(external)';
}

/** Payload bytes: packed size for fixed-size types; what the file holds for strings. */
function bytesOf(t: TensorProto): number {
  const bits = elemBits(t.dataType);
  if (bits) return Math.ceil((numElements(t.dims) * bits) / 8);
  return t.rawData.length || t.stringData.reduce((s, x) => s + x.length, 0);
}

/** Formats `inspect` understands, tried in order (ONNX last: it matches on a weak signature). */
export const INSPECTORS: Inspector[] = [ggufInspector, safetensorsInspector, onnxInspector];
