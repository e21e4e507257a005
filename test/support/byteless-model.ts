// A model llama.cpp loads but cannot tokenize every text with: brown-3m (F32 GGUF) with its
// SentencePiece byte tokens renamed (<0x41> → <byte 41>), so a character that is no token of its
// 512 has no bytes to be spelled with, and llama.cpp's tokenizer throws std::out_of_range (the
// process aborts). For the tests of lowbit's check before tokenizing (src/io/gguf/spm-spelling.ts).
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader, readTensorBytes } from '../../src/io/gguf/reader.js';
import { gv, type GgufValue } from '../../src/io/gguf/metadata.js';
import { writeGgufFile } from './gguf-file.js';

export async function makeBytelessModel(gguf: string, out: string): Promise<void> {
  const src = await FileSource.open(gguf);
  try {
    const f = await readGgufHeader(src);
    const meta: [string, GgufValue][] = [];
    for (const [k, v] of f.metadata) {
      if (k === 'tokenizer.ggml.tokens' && v.type === 'array')
        meta.push([
          k,
          gv.strings((v.value.items as string[]).map((t) => t.replace(/^<0x([0-9A-F]{2})>$/, '<byte $1>'))),
        ]);
      else meta.push([k, v]);
    }
    const tensors = [];
    for (const t of f.tensors)
      tensors.push({ name: t.name, dims: [...t.dims], type: t.type.id, bytes: await readTensorBytes(src, f, t) });
    await writeGgufFile(out, meta, tensors);
  } finally {
    await src.close();
  }
}
