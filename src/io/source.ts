// Random-access input and sequential output, abstracted so parsers and writers run in the browser
// (Blob, ArrayBuffer) as well as in Node (files; see src/node/file-io.ts).
import { FileFormatError } from '../errors.js';

export interface ByteSource {
  /** shown in error messages: a file path or a label */
  readonly name: string;
  /** total bytes */
  readonly size: number;
  /**
   * Exactly `length` bytes at `offset`. A read past the end throws FileFormatError (truncated):
   * callers check offsets against `size` before allocating, so a file cannot make them allocate
   * more than it holds.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ByteSink {
  /** bytes written so far */
  readonly position: number;
  write(bytes: Uint8Array): Promise<void>;
  /** Optional: writes several buffers one after another in one go (files: one writev). */
  writev?(parts: readonly Uint8Array[]): Promise<void>;
}

/** An in-memory source (tests, browser ArrayBuffers). */
export class BufferSource implements ByteSource {
  constructor(
    readonly bytes: Uint8Array,
    readonly name = '<buffer>',
  ) {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}

/** A source over a browser Blob/File. */
export class BlobSource implements ByteSource {
  constructor(
    readonly blob: Blob,
    readonly name = '<blob>',
  ) {}
  get size(): number {
    return this.blob.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
  async close(): Promise<void> {}
}

/** An in-memory sink that collects everything written (tests, browser downloads). */
export class BufferSink implements ByteSink {
  private chunks: Uint8Array[] = [];
  position = 0;
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes.slice());
    this.position += bytes.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.position);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FileFormatError(src.name, `invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > src.size) {
    throw new FileFormatError(src.name, `truncated: needs ${offset + length} bytes, file has ${src.size}`);
  }
}
