// tokenizer.ggml.* for llama2.c models: from a llama2.c tokenizer.bin (a SentencePiece vocab
// exported by llama2.c's tokenizer.py) or, without one, a byte-level stand-in so the model loads.
import type { Llama2cTokenizer } from '../io/llama2c.js';
import { TOKEN_TYPE, byteTokenText, type GgufVocab } from './model.js';

const UNK = 0,
  BOS = 1,
  EOS = 2;
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/**
 * As llama.cpp's convert-llama2c-to-ggml does: ids 0/1/2 are <unk>/<s>/</s> (tokenizer.py stores
 * them as "<unk>", "\n<s>\n", "\n</s>\n"), empty pieces are control, <0xNN> pieces are bytes, and
 * spaces go back to SentencePiece's ▁ (tokenizer.py replaced ▁ with a space).
 */
export function vocabFromLlama2cTokenizer(tok: Llama2cTokenizer): GgufVocab {
  const n = tok.tokens.length;
  const tokens: string[] = [];
  const scores = new Float32Array(n);
  const types = new Int32Array(n);
  // SentencePiece pieces are whole characters; a stray invalid byte becomes U+FFFD (GGUF strings are text)
  const dec = new TextDecoder('utf-8');
  for (let id = 0; id < n; id++) {
    const t = tok.tokens[id]!;
    scores[id] = t.score;
    let text = dec.decode(t.bytes);
    let type: number = TOKEN_TYPE.NORMAL;
    if (id === UNK) {
      text = '<unk>';
      type = TOKEN_TYPE.UNKNOWN;
    } else if (id === BOS) {
      text = '<s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (id === EOS) {
      text = '</s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (t.bytes.length === 0) type = TOKEN_TYPE.CONTROL;
    else if (BYTE_PIECE.test(text)) type = TOKEN_TYPE.BYTE;
    types[id] = type;
    tokens.push(text.replaceAll(' ', '\u2581')); // llama_escape_whitespaces
  }
  return { model: 'llama', tokens, scores, tokenTypes: types, bosId: BOS, eosId: EOS, unkId: UNK };
}

/**
 * A stand-in vocab of `size` tokens when no tokenizer is given: <unk>, <s>, </s>, the 256 byte
 * pieces <0x00>…<0xFF>, then unused fillers. This is the layout of llama2.c's own SentencePiece
 * vocabs (tok512, tok32000 all start this way), so for those models text made only of byte tokens
 * keeps its meaning; any model loads and runs with it.
 */
export function byteVocab(size: number): GgufVocab {
  const tokens: string[] = [];
  const types = new Int32Array(size);
  const scores = new Float32Array(size);
  for (let id = 0; id < size; id++) {
    let text: string;
    let type: number;
    if (id === UNK) {
      text = '<unk>';
      type = TOKEN_TYPE.UNKNOWN;
    } else if (id === BOS) {
      text = '<s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (id === EOS) {
      text = '</s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (id < 259) {
      text = byteTokenText(id - 3);
      type = TOKEN_TYPE.BYTE;
    } else {
      text = `<unused${id - 259}>`;
      type = TOKEN_TYPE.UNUSED;
      scores[id] = -1e9;
    }
    tokens.push(text);
    types[id] = type;
  }
  return { model: 'llama', tokens, scores, tokenTypes: types, bosId: BOS, eosId: EOS, unkId: UNK };
}
