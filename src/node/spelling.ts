// Before a text reaches llama.cpp's tokenizer: a SentencePiece vocabulary without byte tokens makes
// llama.cpp abort the process on a character it cannot spell (src/io/gguf/spm-spelling.ts); refuse
// such a text with one line instead.
import { FileSource } from './file-io.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { unspellableChar, unspellableMessage } from '../io/gguf/spm-spelling.js';
import { LowbitError } from '../errors.js';

export async function refuseUnspellable(
  model: string,
  text: string | Uint8Array,
  parseSpecial: boolean,
): Promise<void> {
  const src = await FileSource.open(model);
  let ch: string | null;
  try {
    const f = await readGgufHeader(src);
    ch = unspellableChar(f.metadata, typeof text === 'string' ? text : new TextDecoder().decode(text), parseSpecial);
  } catch (e) {
    // a file lowbit cannot read as GGUF: llama.cpp's own loading says what is wrong with it
    if (e instanceof LowbitError) return;
    throw e;
  } finally {
    await src.close();
  }
  if (ch !== null) throw new LowbitError(unspellableMessage(model, ch));
}
