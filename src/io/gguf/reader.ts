// GGUF v2/v3 reader over a ByteSource (browser and Node). The header is read in bounded chunks,
// never the whole file, and nothing a file claims (lengths, counts, sizes, offsets) is allocated
// or trusted before it is checked against the bytes the file actually has.
import { FileFormatError, LowbitError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { ggmlTypeById, type GgmlTypeInfo } from '../../formats/ggml-types.js';
import {
  DEFAULT_GGUF_LIMITS,
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_TYPE_SIZE,
  ggufTypeName,
  minEncodedSize,
  type GgufLimits,
  type GgufTypeName,
} from './constants.js';
import type { GgufArray, GgufArrayItems, GgufMetadata, GgufValue } from './metadata.js';

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order (ne[0] = row length), exactly as many as the file stores */
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo;
  /** offset relative to the data section, as stored */
  readonly relOffset: number;
  /** absolute file offset of the first byte */
  readonly offset: number;
  readonly byteSize: number;
  readonly nElements: number;
  /** elements per row (dims[0], 1 for a 0-d tensor) and rows (product of the other dims) */
  readonly rowLength: number;
  readonly nRows: number;
  readonly rowBytes: number;
  /** the tensor's name in the input file, when a plan renames it (--prune-layers renumbers layers) */
  readonly sourceName?: string;
  /** the shard (0-based) of a split model that holds the tensor */
  readonly shard?: number;
}

export interface GgufFile {
  /** the source's name (file path or label), used in error messages */
  readonly name: string;
  readonly fileSize: number;
  readonly version: number;
  readonly alignment: number;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorInfo[];
  /** bytes of magic, counts, metadata and tensor infos (before padding) */
  readonly headerSize: number;
  /** absolute offset of the data section */
  readonly dataOffset: number;
}

const CHUNK = 64 * 1024;

/** A file-controlled name for an error message: quoted, control characters escaped, long names cut. */
export function show(name: string): string {
  const cut = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return `'${oneLine(cut)}'`;
}

/** Error messages are one line, whatever bytes a file put into its names. */
export function oneLine(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Sequential little-endian reads over a ByteSource through a bounded window (also used by other binary readers). */
export class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private view: DataView = new DataView(this.buf.buffer);
  /** what is being read, for error messages */
  where = 'header';

  constructor(
    readonly src: ByteSource,
    readonly limit: number,
  ) {}

  fail(problem: string): never {
    throw new FileFormatError(this.src.name, oneLine(problem));
  }

  get remaining(): number {
    return this.limit - this.pos;
  }

  /** Makes n bytes at pos available in the window; returns their offset in buf. */
  /** Fails when n more bytes are not there: a truncated file, or a header over the cap. */
  check(n: number, what: () => string): void {
    if (n <= this.remaining) return;
    if (this.limit < this.src.size)
      this.fail(`header too large: ${what()} would pass the ${this.limit}-byte header limit`);
    this.fail(`truncated: ${what()} needs ${this.pos + n} bytes, file has ${this.src.size}`);
  }

  private async need(n: number): Promise<number> {
    this.check(n, () => `reading ${this.where}`);
    const end = this.bufStart + this.buf.length;
    if (this.pos >= this.bufStart && this.pos + n <= end) return this.pos - this.bufStart;
    const len = Math.min(Math.max(n, CHUNK), this.limit - this.pos);
    const bytes = await this.src.read(this.pos, len);
    if (bytes.length !== len) this.fail(`short read at ${this.pos}`);
    this.buf = bytes;
    this.bufStart = this.pos;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return 0;
  }

  async bytes(n: number): Promise<Uint8Array> {
    const o = await this.need(n);
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }

  async u8(): Promise<number> {
    const o = await this.need(1);
    this.pos += 1;
    return this.view.getUint8(o);
  }
  async i8(): Promise<number> {
    const o = await this.need(1);
    this.pos += 1;
    return this.view.getInt8(o);
  }
  async u16(): Promise<number> {
    const o = await this.need(2);
    this.pos += 2;
    return this.view.getUint16(o, true);
  }
  async i16(): Promise<number> {
    const o = await this.need(2);
    this.pos += 2;
    return this.view.getInt16(o, true);
  }
  async u32(): Promise<number> {
    const o = await this.need(4);
    this.pos += 4;
    return this.view.getUint32(o, true);
  }
  async i32(): Promise<number> {
    const o = await this.need(4);
    this.pos += 4;
    return this.view.getInt32(o, true);
  }
  async f32(): Promise<number> {
    const o = await this.need(4);
    this.pos += 4;
    return this.view.getFloat32(o, true);
  }
  async f64(): Promise<number> {
    const o = await this.need(8);
    this.pos += 8;
    return this.view.getFloat64(o, true);
  }
  async u64(): Promise<bigint> {
    const o = await this.need(8);
    this.pos += 8;
    return this.view.getBigUint64(o, true);
  }
  async i64(): Promise<bigint> {
    const o = await this.need(8);
    this.pos += 8;
    return this.view.getBigInt64(o, true);
  }

  /** A u64 that must be a safe integer (counts, lengths, offsets). */
  async size(what: string): Promise<number> {
    const v = await this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  async string(what: string, maxBytes: number): Promise<string> {
    const n = await this.size(`${what} length`);
    if (n > maxBytes) this.fail(`${what} is ${n} bytes long (limit ${maxBytes})`);
    this.check(n, () => `${what} of ${n} bytes`);
    return this.decode(await this.bytes(n), () => what);
  }

  /**
   * The string at pos when the window already holds it whole, read without awaiting (a vocabulary
   * is hundreds of thousands of short strings: a promise per read was most of the header's time);
   * undefined, having read nothing, when it does not.
   */
  stringNow(what: () => string, maxBytes: number): string | undefined {
    const o = this.pos - this.bufStart;
    if (o < 0 || o + 8 > this.buf.length || this.remaining < 8) return undefined;
    const lo = this.view.getUint32(o, true);
    const hi = this.view.getUint32(o + 4, true);
    const n = hi * 2 ** 32 + lo;
    if (hi >= 2 ** 21 || o + 8 + n > this.buf.length || 8 + n > this.remaining || n > maxBytes) return undefined; // the slow path reports it
    this.pos += 8 + n;
    return this.decode(this.buf.subarray(o + 8, o + 8 + n), what);
  }

  private decode(b: Uint8Array, what: () => string): string {
    // short ASCII strings (most tokens and keys) without the decoder's call overhead
    if (b.length <= 32) {
      let ascii = true;
      for (let i = 0; i < b.length; i++)
        if (b[i]! >= 0x80) {
          ascii = false;
          break;
        }
      if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
    }
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${what()} is not valid UTF-8`);
    }
  }
}

export interface ReadGgufOptions {
  limits?: Partial<GgufLimits>;
}

/** Reads and validates a GGUF header: metadata and tensor infos. Tensor data stays in the source. */
export async function readGgufHeader(src: ByteSource, options: ReadGgufOptions = {}): Promise<GgufFile> {
  const limits = { ...DEFAULT_GGUF_LIMITS, ...options.limits };
  const c: Cursor = new Cursor(src, Math.min(src.size, limits.maxHeaderBytes));

  c.where = 'magic';
  if (src.size < 4) c.fail(`not a GGUF file (${src.size} bytes)`);
  const magic = await c.u32();
  if (magic !== GGUF_MAGIC) c.fail('not a GGUF file (bad magic)');
  c.where = 'version';
  const version = await c.u32();
  if ((version & 0xffff) === 0)
    c.fail(`GGUF version ${version >>> 0} looks byte-swapped: big-endian GGUF files are not supported`);
  if (version === 1) c.fail('GGUF v1 is not supported (convert it with a current llama.cpp)');
  if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${version}`);

  c.where = 'tensor count';
  const nTensors = await c.size('tensor count');
  c.where = 'key count';
  const nKv = await c.size('key count');
  // a tensor info takes at least 24 bytes and a key/value pair at least 13
  if (nTensors > limits.maxTensors) c.fail(`tensor count ${nTensors} exceeds the limit of ${limits.maxTensors}`);
  if (nKv > limits.maxKeys) c.fail(`key count ${nKv} exceeds the limit of ${limits.maxKeys}`);
  c.check(nTensors * 24 + nKv * 13, () => `${nTensors} tensors and ${nKv} keys`);

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < nKv; i++) {
    c.where = `key ${i}`;
    const key = await c.string(`key ${i}`, limits.maxStringBytes);
    if (key.length === 0) c.fail(`key ${i} is empty`);
    if (metadata.has(key)) c.fail(`duplicate key ${show(key)}`);
    c.where = `value of ${show(key)}`;
    const typeId = await c.u32();
    const t = ggufTypeName(typeId);
    if (t === undefined) c.fail(`key ${show(key)} has unknown value type ${typeId}`);
    metadata.set(key, await readValue(c, t, limits, 0, show(key)));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get(GGUF_KEY_ALIGNMENT);
  if (al !== undefined) {
    if (al.type !== 'u32') c.fail(`${GGUF_KEY_ALIGNMENT} must be u32, is ${al.type}`);
    alignment = al.value as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0)
      c.fail(`${GGUF_KEY_ALIGNMENT} ${alignment} is not a power of 2`);
  }

  interface RawTensor {
    name: string;
    dims: number[];
    type: GgmlTypeInfo;
    relOffset: number;
    nElements: number;
    byteSize: number;
  }
  const raw: RawTensor[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    c.where = `tensor info ${i}`;
    const name = await c.string(`tensor ${i} name`, limits.maxStringBytes);
    const label = `tensor ${show(name)}`;
    if (new TextEncoder().encode(name).length >= GGML_MAX_NAME)
      c.fail(`${label}: name is longer than ${GGML_MAX_NAME - 1} bytes`);
    if (names.has(name)) c.fail(`duplicate tensor name ${show(name)}`);
    names.add(name);
    c.where = label;
    const nDims = await c.u32();
    if (nDims > GGML_MAX_DIMS) c.fail(`${label} has ${nDims} dimensions (ggml allows at most ${GGML_MAX_DIMS})`);
    const dims: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = await c.i64();
      if (ne < 0n) c.fail(`${label} dimension ${d} is negative (${ne})`);
      if (ne > BigInt(Number.MAX_SAFE_INTEGER)) c.fail(`${label} dimension ${d} is too large (${ne})`);
      dims.push(Number(ne));
    }
    for (const ne of dims) {
      nElements *= ne;
      if (nElements > Number.MAX_SAFE_INTEGER) c.fail(`${label} has too many elements (${dims.join(' x ')})`);
    }
    const typeId = await c.u32();
    const type = ggmlTypeById(typeId);
    if (type === undefined) c.fail(`${label} has unknown ggml type ${typeId}`);
    const rowLength = dims[0] ?? 1;
    if (rowLength % type.blockSize !== 0)
      c.fail(
        `${label} of type ${type.ggmlName} has rows of ${rowLength} elements, not a multiple of its block size ${type.blockSize}`,
      );
    const byteSize = (nElements / type.blockSize) * type.typeSize;
    if (!Number.isSafeInteger(byteSize)) c.fail(`${label} byte size overflows`);
    const relOffset = await c.size(`${label} offset`);
    if (relOffset % alignment !== 0)
      c.fail(`${label} offset ${relOffset} is not a multiple of the alignment ${alignment}`);
    raw.push({ name, dims, type, relOffset, nElements, byteSize });
  }
  const headerSize = c.pos;
  // ggml pads the header to the alignment only when there are tensors
  const dataOffset = nTensors > 0 ? alignUp(headerSize, alignment) : headerSize;
  if (nTensors > 0 && dataOffset > src.size)
    c.fail(`data section starts at ${dataOffset}, past the end of the file (${src.size} bytes)`);

  const tensors: GgufTensorInfo[] = raw.map((r) => {
    const offset = dataOffset + r.relOffset;
    const end = offset + r.byteSize;
    if (!Number.isSafeInteger(end) || end > src.size) {
      c.fail(
        `tensor ${show(r.name)} (${r.byteSize} bytes at offset ${offset}) extends past the end of the file (${src.size} bytes)`,
      );
    }
    const rowLength = r.dims[0] ?? 1;
    const nRows = rowLength === 0 ? 0 : r.nElements / rowLength;
    return {
      name: r.name,
      dims: r.dims,
      type: r.type,
      relOffset: r.relOffset,
      offset,
      byteSize: r.byteSize,
      nElements: r.nElements,
      rowLength,
      nRows,
      rowBytes: (rowLength / r.type.blockSize) * r.type.typeSize,
    };
  });
  // tensors may be stored in any order but must not share bytes
  const sorted = tensors.filter((t) => t.byteSize > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    const t = sorted[i]!;
    if (p.offset + p.byteSize > t.offset) c.fail(`tensors ${show(p.name)} and ${show(t.name)} overlap`);
  }

  return { name: src.name, fileSize: src.size, version, alignment, metadata, tensors, headerSize, dataOffset };
}

async function readValue(
  c: Cursor,
  t: GgufTypeName,
  limits: GgufLimits,
  depth: number,
  what: string,
): Promise<GgufValue> {
  switch (t) {
    case 'u8':
      return { type: t, value: await c.u8() };
    case 'i8':
      return { type: t, value: await c.i8() };
    case 'u16':
      return { type: t, value: await c.u16() };
    case 'i16':
      return { type: t, value: await c.i16() };
    case 'u32':
      return { type: t, value: await c.u32() };
    case 'i32':
      return { type: t, value: await c.i32() };
    case 'f32':
      return { type: t, value: await c.f32() };
    case 'f64':
      return { type: t, value: await c.f64() };
    case 'u64':
      return { type: t, value: await c.u64() };
    case 'i64':
      return { type: t, value: await c.i64() };
    case 'bool':
      return { type: t, value: (await c.i8()) !== 0 };
    case 'string':
      return { type: t, value: await c.string(`string value of ${what}`, limits.maxStringBytes) };
    case 'array':
      return { type: t, value: await readArray(c, limits, depth + 1, what) };
  }
}

async function readArray(c: Cursor, limits: GgufLimits, depth: number, what: string): Promise<GgufArray> {
  if (depth > limits.maxArrayDepth) c.fail(`${what}: arrays nested more than ${limits.maxArrayDepth} deep`);
  const typeId = await c.u32();
  const itemType = ggufTypeName(typeId);
  if (itemType === undefined) c.fail(`${what}: array of unknown value type ${typeId}`);
  const n = await c.size(`${what} array length`);
  c.check(n * minEncodedSize(itemType), () => `${what}: array of ${n} ${itemType}`);
  const size = GGUF_TYPE_SIZE[itemType];
  if (size > 0 && itemType !== 'bool') return { itemType, items: await readNumbers(c, itemType, n) };
  if (itemType === 'bool') {
    const b = await c.bytes(n);
    return { itemType, items: Array.from(b, (x) => x !== 0) };
  }
  if (itemType === 'string') {
    const items: string[] = [];
    for (let i = 0; i < n; i++)
      items.push(
        c.stringNow(() => `${what}[${i}]`, limits.maxStringBytes) ??
          (await c.string(`${what}[${i}]`, limits.maxStringBytes)),
      );
    return { itemType, items };
  }
  const items: GgufArray[] = [];
  for (let i = 0; i < n; i++) items.push(await readArray(c, limits, depth + 1, `${what}[${i}]`));
  return { itemType, items };
}

async function readNumbers(c: Cursor, t: GgufTypeName, n: number): Promise<GgufArrayItems> {
  const size = GGUF_TYPE_SIZE[t];
  // copy into an aligned buffer: the file offset need not be a multiple of the element size
  const bytes = (await c.bytes(n * size)).slice();
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  const b = bytes.buffer;
  switch (t) {
    case 'u8':
      return new Uint8Array(b);
    case 'i8':
      return new Int8Array(b);
    case 'u16':
      return new Uint16Array(b);
    case 'i16':
      return new Int16Array(b);
    case 'u32':
      return new Uint32Array(b);
    case 'i32':
      return new Int32Array(b);
    case 'f32':
      return new Float32Array(b);
    case 'f64':
      return new Float64Array(b);
    case 'u64':
      return new BigUint64Array(b);
    case 'i64':
      return new BigInt64Array(b);
    default:
      throw new LowbitError(`not a numeric type: ${t}`, 'EFORMAT');
  }
}

export function alignUp(n: number, alignment: number): number {
  const r = n % alignment;
  return r === 0 ? n : n + alignment - r;
}

export function findTensor(file: GgufFile, name: string): GgufTensorInfo {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new FileFormatError(file.name, `no tensor named ${show(name)}`);
  return t;
}

/** All bytes of one tensor. */
export async function readTensorBytes(
  src: ByteSource,
  file: GgufFile,
  tensor: GgufTensorInfo | string,
): Promise<Uint8Array> {
  const t = typeof tensor === 'string' ? findTensor(file, tensor) : tensor;
  return src.read(t.offset, t.byteSize);
}

/** Bytes of rows [firstRow, firstRow + nRows) of a tensor (a row is dims[0] elements). */
export async function readTensorRows(
  src: ByteSource,
  file: GgufFile,
  tensor: GgufTensorInfo | string,
  firstRow: number,
  nRows: number,
): Promise<Uint8Array> {
  const t = typeof tensor === 'string' ? findTensor(file, tensor) : tensor;
  if (
    !Number.isSafeInteger(firstRow) ||
    !Number.isSafeInteger(nRows) ||
    firstRow < 0 ||
    nRows < 0 ||
    firstRow + nRows > t.nRows
  ) {
    throw new FileFormatError(
      file.name,
      `tensor ${show(t.name)} has ${t.nRows} rows, cannot read rows ${firstRow}..${firstRow + nRows}`,
    );
  }
  return src.read(t.offset + firstRow * t.rowBytes, nRows * t.rowBytes);
}
