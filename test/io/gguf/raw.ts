// Hand-assembled GGUF bytes for hostile-input tests: the writer refuses to produce broken files,
// so broken files are spelled out field by field here.
export class Raw {
  private parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]! & 0xff);
    return this;
  }
  u8(v: number): this {
    return this.bytes([v]);
  }
  u32(v: number): this {
    const d = new DataView(new ArrayBuffer(4));
    d.setUint32(0, v >>> 0, true);
    return this.bytes(new Uint8Array(d.buffer));
  }
  i32(v: number): this {
    const d = new DataView(new ArrayBuffer(4));
    d.setInt32(0, v, true);
    return this.bytes(new Uint8Array(d.buffer));
  }
  u64(v: bigint | number): this {
    const d = new DataView(new ArrayBuffer(8));
    d.setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
    return this.bytes(new Uint8Array(d.buffer));
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    return this.u64(b.length).bytes(b);
  }
  header(nTensors: number | bigint, nKv: number | bigint, version = 3): this {
    return this.bytes([0x47, 0x47, 0x55, 0x46]).u32(version).u64(nTensors).u64(nKv);
  }
  /** a key with a u32 value */
  kvU32(key: string, v: number): this {
    return this.str(key).u32(4).u32(v);
  }
  /** a tensor info */
  tensor(name: string, dims: (number | bigint)[], type: number, offset: number | bigint): this {
    this.str(name).u32(dims.length);
    for (const d of dims) this.u64(d);
    return this.u32(type).u64(offset);
  }
  pad(alignment = 32): this {
    while (this.parts.length % alignment) this.parts.push(0);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  build(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}
