// Node file implementations of ByteSource / ByteSink.
import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSink, ByteSource } from '../io/source.js';
import { checkRange } from '../io/source.js';
import { FileFormatError, LowbitError } from '../errors.js';
import { describeMissing } from './output-guard.js';

export class FileSource implements ByteSource {
  private constructor(
    readonly name: string,
    private fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new LowbitError(describeMissing(path, e), 'EIO', (e as NodeJS.ErrnoException).code);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new FileFormatError(path, 'not a regular file');
    }
    return new FileSource(path, fh, st.size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      // the file shrank under us (another process truncated it): a clear error, not garbage
      if (bytesRead === 0)
        throw new FileFormatError(this.name, `file shrank while reading (at byte ${offset + done} of ${this.size})`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Sequential writer to an open file handle (the atomic-output module owns the temp file life cycle). */
export class FileSink implements ByteSink {
  position = 0;
  constructor(private fh: FileHandle) {}
  write(bytes: Uint8Array): Promise<void> {
    return this.put(bytes);
  }
  // (write may be wrapped on the instance, e.g. by an atomic output: writev's fallback calls this)
  private async put(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.length;
  }
  async writev(parts: readonly Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const b of parts) bytes += b.length;
    const { bytesWritten } = await this.fh.writev(parts as Uint8Array[], this.position);
    if (bytesWritten === bytes) {
      this.position += bytes;
      return;
    }
    // a short write (rare: signals, limits): the rest one buffer at a time
    let skip = bytesWritten;
    this.position += bytesWritten;
    for (const b of parts) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      await this.put(b.subarray(skip));
      skip = 0;
    }
  }
}
