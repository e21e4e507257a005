// `lowbit inspect` for ONNX: IR version, producer, opsets, metadata_props, node counts by op type,
// and every graph initializer with its type, shape and size (external ones by their declared size).
import type { ByteSource } from '../../io/source.js';
import { readModel } from '../../io/onnx/model.js';
import { dtName, elemBits, isExternal, numElements } from '../../io/onnx/tensor.js';
import type { TensorProto } from '../../io/onnx/proto/onnx_pb.js';
import type { InspectReport, Inspector } from './inspect.js';

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
      extraJson: { opsets: Object.fromEntries(opsets), opCounts: Object.fromEntries(opCounts), inputs: g.input.map((i) => i.name), outputs: g.output.map((o) => o.name) },
      tensors: g.initializer.map((t) => ({ name: t.name, shape: t.dims.map(Number), type: dtName(t.dataType), bytes: bytesOf(t), elements: numElements(t.dims), ...(isExternal(t) ? { file: externalLocation(t) } : {}) })),
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
