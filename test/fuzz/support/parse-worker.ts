// Worker thread of the fuzz harness: parses one input per message with a real parser over a
// counting ByteSource and reports the outcome. Running in a worker lets the main thread kill a parse
// that never returns (a synchronous infinite loop cannot be interrupted any other way) and bounds
// the heap a hostile count can make the parser grow (resourceLimits).
import { parentPort } from 'node:worker_threads';
import { BufferSource, type ByteSource } from '../../../src/io/source.js';
import { LowbitError, FileFormatError } from '../../../src/errors.js';
import {
  readSafetensorsHeader,
  readSafetensorsBytes,
  readSafetensorsF32,
  FLOAT_DECODABLE,
  dtypeBytes,
} from '../../../src/io/safetensors/index.js';
import { readModel, allTensors, loadExternalData } from '../../../src/io/onnx/model.js';
import { tensorRawBytes, tensorToFloat32, elemBits, isExternal, DT } from '../../../src/io/onnx/tensor.js';
import { readLlama2cCheckpoint, readLlama2cTensor, readLlama2cTokenizer } from '../../../src/io/llama2c.js';
import { readImatrix } from '../../../src/io/imatrix.js';
import type { ParseRequest, ParseResult } from './protocol.js';

/** Counts what the parser asks for; a read outside the file is recorded (and then refused as the real sources do). */
class CountingSource implements ByteSource {
  bytesRead = 0;
  largestRead = 0;
  overreach: string | null = null;
  private inner: BufferSource;
  constructor(
    bytes: Uint8Array,
    readonly name: string,
  ) {
    this.inner = new BufferSource(bytes, name);
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      this.overreach ??= `read(${offset}, ${length}) on a ${this.size}-byte ${this.name}`;
    }
    this.bytesRead += Math.max(0, length);
    this.largestRead = Math.max(this.largestRead, length);
    return this.inner.read(offset, length);
  }
  async close(): Promise<void> {}
}

/** What a parse produced, summarised so the main thread can check it against the input. */
type Summary = Record<string, unknown>;

async function parse(req: ParseRequest, sources: CountingSource[], opened: string[]): Promise<Summary> {
  const main = new CountingSource(req.bytes, req.name);
  sources.push(main);
  switch (req.parser) {
    case 'safetensors': {
      const f = await readSafetensorsHeader(main);
      const tensors = [];
      for (const t of f.tensors) {
        const b = await readSafetensorsBytes(f, t);
        let count = 1;
        for (const d of t.shape) count *= d;
        if (b.length !== dtypeBytes(t.dtype, count))
          throw new Error(`tensor ${t.name}: ${b.length} bytes for ${count} × ${t.dtype}`);
        if (FLOAT_DECODABLE.has(t.dtype)) {
          const v = await readSafetensorsF32(f, t);
          if (v.length !== count) throw new Error(`tensor ${t.name}: ${v.length} values for ${count}`);
        }
        tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, begin: t.begin, end: t.end });
      }
      return { headerSize: f.headerSize, tensors, metadata: f.metadata ? [...f.metadata] : null };
    }
    case 'onnx': {
      const m = await readModel(main);
      const side = new Map(Object.entries(req.sidecars ?? {}));
      await loadExternalData(
        m,
        async (location) => {
          opened.push(location);
          const b = side.get(location);
          if (!b) throw new FileFormatError(location, 'external data file not found');
          const s = new CountingSource(b, location);
          sources.push(s);
          return s;
        },
        req.name,
      );
      const tensors = [];
      for (const t of allTensors(m)) {
        if (isExternal(t)) throw new Error(`tensor ${t.name} still external after loading`);
        // only tensors with a fixed element size have raw bytes; strings are left alone
        if (!elemBits(t.dataType)) continue;
        const raw = tensorRawBytes(t);
        if ([DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.DOUBLE].includes(t.dataType)) tensorToFloat32(t);
        tensors.push({ name: t.name, type: t.dataType, bytes: raw.length });
      }
      return { nodes: m.graph!.node.length, tensors };
    }
    case 'llama2c': {
      const ck = await readLlama2cCheckpoint(main);
      let sum = 0;
      for (const t of ck.tensors) {
        const v = await readLlama2cTensor(main, t);
        if (v.length !== t.rows * t.cols) throw new Error(`tensor ${t.name}: ${v.length} values`);
        sum += v.length;
      }
      return { version: ck.version, config: ck.config, tensors: ck.tensors.length, values: sum };
    }
    case 'llama2c-tokenizer': {
      const tok = await readLlama2cTokenizer(main, req.vocabSize ?? 0);
      return { tokens: tok.tokens.length, maxTokenLength: tok.maxTokenLength };
    }
    case 'imatrix': {
      const im = await readImatrix(main);
      const entries: [string, number][] = [];
      for (const [k, v] of im.data) entries.push([k, v.length]);
      return {
        format: im.provenance.format,
        entries,
        chunkCount: im.provenance.chunkCount,
        datasets: [...im.provenance.datasets],
      };
    }
  }
}

parentPort!.on('message', async (req: ParseRequest) => {
  const sources: CountingSource[] = [];
  const opened: string[] = [];
  let result: ParseResult;
  try {
    const summary = await parse(req, sources, opened);
    result = { kind: 'ok', summary };
  } catch (e) {
    if (e instanceof LowbitError)
      result = { kind: e instanceof FileFormatError ? 'format' : 'lowbit', message: e.message };
    else result = { kind: 'other', message: (e as Error)?.stack ?? String(e) };
  }
  result.opened = opened;
  result.overreach = sources.map((s) => s.overreach).find((x) => x !== null) ?? null;
  result.bytesRead = sources.reduce((a, s) => a + s.bytesRead, 0);
  result.largestRead = Math.max(0, ...sources.map((s) => s.largestRead));
  parentPort!.postMessage(result);
});
