// llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm) spells a character that is no token of
// the vocabulary with tokens for its UTF-8 bytes: `<0xXX>`, failing that the byte itself as a
// one-byte token (llama_vocab::byte_to_token). When both are missing, it throws std::out_of_range,
// which aborts the whole process: llama-imatrix and llama-perplexity as much as lowbit, which runs
// the same library. Real SentencePiece vocabularies carry the 256 byte tokens; for one that does
// not, this finds the first character of a text it cannot spell, before the text reaches llama.cpp,
// so the run can stop with one line instead. Browser-safe.
import { metaArray, metaBool, metaString, type GgufMetadata } from './metadata.js';
import { TOKEN_TYPE, byteTokenText } from '../../convert/model.js';
import { LowbitError } from '../../errors.js';

const BYTE_TOKEN = Array.from({ length: 256 }, (_, b) => byteTokenText(b));
const { UNKNOWN, CONTROL, USER_DEFINED } = TOKEN_TYPE;

/**
 * The first character of `text` that llama.cpp's tokenizer cannot spell with this GGUF vocabulary
 * (and would abort on), or null: always null for vocabularies other than SentencePiece ('llama')
 * and for those with every byte token. Special tokens are taken out first as llama.cpp partitions
 * them (user-defined ones always, control and unknown ones with parseSpecial); spaces are
 * SentencePiece's ▁.
 */
export function unspellableChar(meta: GgufMetadata, text: string, parseSpecial: boolean): string | null {
  if (metaString(meta, 'tokenizer.ggml.model') !== 'llama') return null;
  const tokens = metaArray(meta, 'tokenizer.ggml.tokens')?.items;
  if (!Array.isArray(tokens)) return null;
  const vocab = new Set(tokens as string[]);
  if (BYTE_TOKEN.every((t) => vocab.has(t))) return null;
  const types = metaArray(meta, 'tokenizer.ggml.token_type')?.items;
  const special: string[] = [];
  if (types && !Array.isArray(types))
    for (let i = 0; i < tokens.length && i < types.length; i++) {
      const t = Number(types[i]);
      const s = tokens[i] as string;
      if (s && (t === USER_DEFINED || (parseSpecial && (t === CONTROL || t === UNKNOWN)))) special.push(s);
    }
  // longest first, as one pattern: what is left between them is what the tokenizer spells
  special.sort((a, b) => b.length - a.length);
  const parts = special.length
    ? text.split(new RegExp(special.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')))
    : [text];
  const enc = new TextEncoder();
  const seen = new Set<string>();
  // llama.cpp puts a space (▁) before the text unless the model says otherwise (add_space_prefix)
  if (text.length && metaBool(meta, 'tokenizer.ggml.add_space_prefix') !== false) parts.unshift(' ');
  for (const part of parts) {
    for (const ch of part) {
      const c = ch === ' ' ? '\u2581' : ch;
      if (seen.has(c)) continue;
      seen.add(c);
      if (vocab.has(c)) continue;
      for (const b of enc.encode(c)) {
        if (vocab.has(BYTE_TOKEN[b]!)) continue;
        if (b < 0x80 && vocab.has(String.fromCharCode(b))) continue;
        return ch;
      }
    }
  }
  return null;
}

/** Throws the one line for a text (UTF-8 bytes or a string) the model's vocabulary cannot spell. */
export function assertSpellable(
  model: string,
  meta: GgufMetadata,
  text: string | Uint8Array,
  parseSpecial: boolean,
): void {
  const ch = unspellableChar(meta, typeof text === 'string' ? text : new TextDecoder().decode(text), parseSpecial);
  if (ch !== null) throw new LowbitError(unspellableMessage(model, ch));
}

/** The one line for a text a vocabulary cannot spell. */
export function unspellableMessage(model: string, ch: string): string {
  const cp = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `${model}: llama.cpp cannot tokenize this text: the model's SentencePiece vocabulary has no token for ${JSON.stringify(ch)} (${cp}) and no byte tokens (<0xXX>) to spell it, and llama.cpp would abort on it`;
}
