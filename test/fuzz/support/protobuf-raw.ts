// Hand-assembled protobuf bytes for hostile ONNX inputs: the encoder refuses to write lengths that
// lie, so lying messages are spelled out field by field here.
export class Pb {
  private parts: number[] = [];
  varint(v: bigint | number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.parts.push(x ? b | 0x80 : b);
    } while (x);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  /** field with a varint value */
  int(field: number, v: bigint | number): this {
    return this.tag(field, 0).varint(v);
  }
  /** length-delimited field (declared length may lie) */
  len(field: number, payload: Uint8Array | Pb | string, declared?: bigint | number): this {
    const b =
      payload instanceof Pb
        ? payload.build()
        : typeof payload === 'string'
          ? new TextEncoder().encode(payload)
          : payload;
    this.tag(field, 2).varint(declared ?? b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]! & 0xff);
    return this;
  }
  build(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

// onnx.proto field numbers used by the hostile builders
export const F = {
  model: { irVersion: 1, graph: 7, opsetImport: 8, functions: 25 },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, sparseInitializer: 15 },
  node: { input: 1, output: 2, opType: 4, attribute: 5 },
  attr: { name: 1, t: 5, g: 6, tensors: 10, graphs: 11, type: 20 },
  tensor: {
    dims: 1,
    dataType: 2,
    floatData: 4,
    int32Data: 5,
    stringData: 6,
    int64Data: 7,
    name: 8,
    rawData: 9,
    externalData: 13,
    dataLocation: 14,
  },
  entry: { key: 1, value: 2 },
} as const;

/** A minimal model around a graph payload (ir_version 8, opset 17). */
export function modelWith(graph: Pb | Uint8Array, extra?: (m: Pb) => void): Uint8Array {
  const m = new Pb()
    .int(F.model.irVersion, 8)
    .len(F.model.opsetImport, new Pb().len(F.opset.domain, '').int(F.opset.version, 17))
    .len(F.model.graph, graph);
  extra?.(m);
  return m.build();
}

/**
 * A graph that holds `depth` If nodes nested through attribute subgraphs. Built from the inside out
 * as prefixes (each level only needs the inner length), so deep nesting costs linear time.
 */
export function nestedGraphs(depth: number, leaf: Pb = new Pb()): Pb {
  const inner = new Pb().len(F.graph.name, 'leaf').raw(leaf.build()).build();
  const prefixes: Uint8Array[] = [];
  let len = inner.length;
  for (let i = 0; i < depth; i++) {
    const attrHead = new Pb().len(F.attr.name, 'then_branch').int(F.attr.type, 5).tag(F.attr.g, 2).varint(len).build();
    const attrLen = attrHead.length + len;
    const nodeHead = new Pb().len(F.node.opType, 'If').tag(F.node.attribute, 2).varint(attrLen).build();
    const nodeLen = nodeHead.length + attrLen;
    const graphHead = new Pb().tag(F.graph.node, 2).varint(nodeLen).build();
    prefixes.push(nodeHead, attrHead);
    prefixes.push(graphHead);
    len = graphHead.length + nodeLen;
  }
  const out = new Pb();
  // outermost first: prefixes were pushed innermost level first, each as [node, attr, graph]
  for (let i = depth - 1; i >= 0; i--)
    out
      .raw(prefixes[3 * i + 2]!)
      .raw(prefixes[3 * i]!)
      .raw(prefixes[3 * i + 1]!);
  return out.raw(inner);
}

/** An external-data tensor entry (key/value pairs as given). */
export function externalTensor(name: string, dims: (number | bigint)[], dataType: number, kv: [string, string][]): Pb {
  const t = new Pb();
  for (const d of dims) t.int(F.tensor.dims, d);
  t.int(F.tensor.dataType, dataType).len(F.tensor.name, name);
  for (const [k, v] of kv) t.len(F.tensor.externalData, new Pb().len(F.entry.key, k).len(F.entry.value, v));
  return t.int(F.tensor.dataLocation, 1);
}
