// A minimal reader of SentencePiece's tokenizer.model (protobuf ModelProto): the pieces (text,
// score, type) and the flags a GGUF vocab needs. Only the fields used are decoded; everything is
// bounds-checked, since the file is untrusted.
import { FileFormatError } from '../../errors.js';

export interface SpPiece {
  piece: string;
  score: number;
  type: number;
}
export interface SpModel {
  pieces: SpPiece[];
  /** TrainerSpec.model_type: 1 unigram, 2 bpe, 3 word, 4 char */
  modelType: number;
  byteFallback: boolean;
  /** NormalizerSpec.add_dummy_prefix (default true) */
  addDummyPrefix: boolean;
}

/** SentencePiece piece types (sentencepiece_model.proto) */
export const SP_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6, UNUSED: 5 } as const;

class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    readonly file: string,
    start = 0,
    readonly end = b.length,
  ) {
    this.pos = start;
  }
  fail(why: string): never {
    throw new FileFormatError(this.file, `not a SentencePiece model: ${why}`);
  }
  varint(): number {
    let x = 0,
      mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const byte = this.b[this.pos++]!;
      x += (byte & 0x7f) * mul;
      if (!(byte & 0x80)) return x;
      mul *= 128;
    }
    return this.fail('varint too long');
  }
  /** skips a field's value; returns [start, end) for length-delimited ones */
  value(wire: number): [number, number] | number {
    switch (wire) {
      case 0:
        return this.varint();
      case 1:
        this.need(8);
        this.pos += 8;
        return 0;
      case 5: {
        this.need(4);
        const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 4).getFloat32(0, true);
        this.pos += 4;
        return v;
      }
      case 2: {
        const n = this.varint();
        this.need(n);
        const s = this.pos;
        this.pos += n;
        return [s, s + n];
      }
      default:
        return this.fail(`wire type ${wire}`);
    }
  }
  need(n: number): void {
    if (this.pos + n > this.end) this.fail('truncated field');
  }
}

export function readSentencePieceModel(bytes: Uint8Array, file = 'tokenizer.model'): SpModel {
  const r = new Reader(bytes, file);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const model: SpModel = { pieces: [], modelType: 1, byteFallback: false, addDummyPrefix: true };
  while (r.pos < r.end) {
    const key = r.varint();
    const field = Math.floor(key / 8),
      wire = key & 7;
    const v = r.value(wire);
    if (wire !== 2) continue;
    const [s, e] = v as [number, number];
    const sub = new Reader(bytes, file, s, e);
    if (field === 1) {
      const p: SpPiece = { piece: '', score: 0, type: SP_TYPE.NORMAL };
      while (sub.pos < sub.end) {
        const k = sub.varint();
        const f = Math.floor(k / 8),
          w = k & 7;
        const x = sub.value(w);
        if (f === 1 && w === 2) {
          const [a, b] = x as [number, number];
          try {
            p.piece = dec.decode(bytes.subarray(a, b));
          } catch {
            sub.fail(`piece ${model.pieces.length} is not UTF-8`);
          }
        } else if (f === 2 && w === 5) p.score = x as number;
        else if (f === 3 && w === 0) p.type = x as number;
      }
      model.pieces.push(p);
    } else if (field === 2) {
      // TrainerSpec
      while (sub.pos < sub.end) {
        const k = sub.varint();
        const f = Math.floor(k / 8),
          w = k & 7;
        const x = sub.value(w);
        if (f === 3 && w === 0) model.modelType = x as number;
        else if (f === 35 && w === 0) model.byteFallback = x !== 0;
      }
    } else if (field === 3) {
      // NormalizerSpec
      while (sub.pos < sub.end) {
        const k = sub.varint();
        const f = Math.floor(k / 8),
          w = k & 7;
        const x = sub.value(w);
        if (f === 3 && w === 0) model.addDummyPrefix = x !== 0;
      }
    }
  }
  if (model.pieces.length === 0) r.fail('no pieces');
  return model;
}
