// A small GGUF exercising every metadata value type, nested arrays, several ggml types and a
// non-default alignment; shared by the reader/writer tests and the fuzzer.
import { BufferSink } from '../../../src/io/source.js';
import { GgufWriter, gv, type GgufMetadata, type GgufTensorSpec } from '../../../src/io/gguf/index.js';
import { GGML_TYPE } from '../../../src/formats/ggml-types.js';
import { rng } from '../../support/oracle.js';

export function sampleMetadata(opts: { nested?: boolean; alignment?: number } = {}): GgufMetadata {
  const m: GgufMetadata = new Map();
  m.set('general.architecture', gv.str('llama'));
  m.set('general.name', gv.str('tiny ünïcödé 🦙'));
  if (opts.alignment !== undefined) m.set('general.alignment', gv.u32(opts.alignment));
  m.set('t.u8', gv.u8(255));
  m.set('t.i8', gv.i8(-128));
  m.set('t.u16', gv.u16(65535));
  m.set('t.i16', gv.i16(-32768));
  m.set('t.u32', gv.u32(0xffffffff));
  m.set('t.i32', gv.i32(-0x80000000));
  m.set('t.f32', gv.f32(Math.fround(3.14159)));
  m.set('t.bool', gv.bool(true));
  m.set('t.u64', gv.u64(0xffffffffffffffffn));
  m.set('t.i64', gv.i64(-0x8000000000000000n));
  m.set('t.f64', gv.f64(-1e300));
  m.set('t.empty', gv.str(''));
  m.set('t.arr.u8', gv.arr('u8', new Uint8Array([1, 2, 3])));
  m.set('t.arr.i16', gv.arr('i16', new Int16Array([-1, 2, -3])));
  m.set('t.arr.u32', gv.arr('u32', new Uint32Array([7, 8])));
  m.set('t.arr.i32', gv.arr('i32', new Int32Array([-7, 8, 9, 10])));
  m.set('t.arr.f32', gv.arr('f32', new Float32Array([0.5, -0.25, 1e-3])));
  m.set('t.arr.f64', gv.arr('f64', new Float64Array([Math.PI])));
  m.set('t.arr.u64', gv.arr('u64', new BigUint64Array([1n, 1n << 63n])));
  m.set('t.arr.i64', gv.arr('i64', new BigInt64Array([-1n])));
  m.set('t.arr.bool', gv.arr('bool', [true, false, true]));
  m.set('tokenizer.ggml.tokens', gv.strings(['<unk>', '<s>', '</s>', 'hello', 'wörld', '']));
  m.set('t.arr.empty', gv.arr('i8', new Int8Array(0)));
  if (opts.nested) {
    m.set(
      't.arr.nested',
      gv.arr('array', [
        { itemType: 'string', items: ['a', 'b'] },
        { itemType: 'array', items: [{ itemType: 'u16', items: new Uint16Array([5]) }] },
      ]),
    );
  }
  return m;
}

export const SAMPLE_TENSORS: GgufTensorSpec[] = [
  { name: 'token_embd.weight', dims: [64, 6], type: GGML_TYPE.F16 },
  { name: 'blk.0.attn_norm.weight', dims: [64], type: GGML_TYPE.F32 },
  { name: 'blk.0.ffn_up.weight', dims: [64, 3], type: GGML_TYPE.Q8_0 },
  { name: 'blk.0.ffn_down.weight', dims: [256, 2], type: GGML_TYPE.Q4_K },
  { name: 'empty', dims: [0, 4], type: GGML_TYPE.F32 },
  { name: 'scalar', dims: [1], type: GGML_TYPE.I32 },
];

/** Deterministic bytes for a tensor (content does not matter to the container). */
export function tensorBytes(seed: number, n: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

export async function writeSample(
  opts: { nested?: boolean; alignment?: number; version?: 2 | 3 } = {},
): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = await GgufWriter.begin(sink, {
    metadata: sampleMetadata(opts),
    tensors: SAMPLE_TENSORS,
    version: opts.version,
  });
  for (const [i, l] of w.layout.entries()) {
    const bytes = tensorBytes(i + 1, l.byteSize);
    // stream in two chunks to exercise partial writes
    const half = Math.floor(bytes.length / 2);
    await w.writeTensorData(l.name, bytes.subarray(0, half));
    await w.writeTensorData(l.name, bytes.subarray(half));
  }
  await w.finish();
  return sink.bytes();
}
