// Before a text reaches llama.cpp's tokenizer: a SentencePiece vocabulary without byte tokens makes
// llama.cpp abort the process on a character it cannot spell (src/io/gguf/spm-spelling.ts); refuse
// such a text with one line instead.
import { FileSource } from './file-io.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { assertSpellable } from '../io/gguf/spm-spelling.js';
import { LowbitError } from '../errors.js';

/** assertSpellable with the model file's own vocabulary (a file lowbit cannot read as GGUF is left to llama.cpp's loading, which says what is wrong with it). */
export async function refuseUnspellable(
  model: string,
  text: string | Uint8Array,
  parseSpecial: boolean,
): Promise<void> {
  const src = await FileSource.open(model);
  let f;
  try {
    f = await readGgufHeader(src);
  } catch (e) {
    if (e instanceof LowbitError) return;
    throw e;
  } finally {
    await src.close();
  }
  assertSpellable(model, f.metadata, text, parseSpecial);
}
