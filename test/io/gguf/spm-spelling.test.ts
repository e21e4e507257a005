// unspellableChar: the characters llama.cpp's SentencePiece tokenizer cannot spell with a vocabulary
// (no token for the character, no byte token for one of its UTF-8 bytes), found before the text
// reaches llama.cpp, which would abort on them. (Against llama.cpp itself, live:
// test/imatrix/llama.test.ts, a vocabulary without byte tokens.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gv, type GgufMetadata } from '../../../src/io/gguf/metadata.js';
import { unspellableChar, unspellableMessage } from '../../../src/io/gguf/spm-spelling.js';

const BYTES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

function vocab(tokens: string[], types?: number[], model = 'llama'): GgufMetadata {
  const m: GgufMetadata = new Map([
    ['tokenizer.ggml.model', gv.str(model)],
    ['tokenizer.ggml.tokens', gv.strings(tokens)],
  ]);
  if (types) m.set('tokenizer.ggml.token_type', gv.arr('i32', Int32Array.from(types)));
  return m;
}

test('a vocabulary with every byte token spells anything', () => {
  assert.equal(unspellableChar(vocab(['<unk>', '<s>', '</s>', ...BYTES, '\u2581the']), 'naïve € 日本', false), null);
});

test('without byte tokens: the first character that is no token, as typed', () => {
  const v = vocab(['<unk>', '<s>', '</s>', '\u2581', 'a', 'b', 'c', '\u2581ab']);
  assert.equal(unspellableChar(v, 'ab c ba', false), null);
  assert.equal(unspellableChar(v, 'ab cd', false), 'd');
  assert.equal(unspellableChar(v, 'abc\nab', false), '\n');
  assert.equal(unspellableChar(v, 'a é', false), 'é');
  assert.equal(unspellableChar(v, '', false), null);
  // the space llama.cpp puts first needs ▁, unless the model has no space prefix
  assert.equal(unspellableChar(vocab(['a']), 'a', false), ' ');
  const noPrefix = vocab(['a']);
  noPrefix.set('tokenizer.ggml.add_space_prefix', gv.bool(false));
  assert.equal(unspellableChar(noPrefix, 'a', false), null);
});

test("a character's UTF-8 bytes as <0xXX> tokens, or an ASCII byte as itself, spell it", () => {
  // é is C3 A9
  const v = vocab(['\u2581', 'a', '<0xC3>', '<0xA9>']);
  assert.equal(unspellableChar(v, 'a é', false), null);
  assert.equal(unspellableChar(v, 'a è', false), 'è'); // C3 A8: A8 missing
});

test('special tokens are taken out first: user-defined always, control and unknown with parse-special', () => {
  // types: 1 normal, 2 unknown, 3 control, 4 user-defined
  const v = vocab(['<unk>', '<s>', '<|tool|>', '\u2581', 'a'], [2, 3, 4, 1, 1]);
  assert.equal(unspellableChar(v, 'a<|tool|>a', false), null);
  assert.equal(unspellableChar(v, 'a<s>a', true), null);
  assert.equal(unspellableChar(v, 'a<s>a', false), '<');
  assert.equal(unspellableChar(v, 'a<unk>', true), null);
});

test('other tokenizers are not SentencePiece: never refused here', () => {
  assert.equal(unspellableChar(vocab(['a'], undefined, 'gpt2'), 'xyz', false), null);
  assert.equal(unspellableChar(new Map(), 'xyz', false), null);
});

test('the message names the model, the character and its code point', () => {
  assert.match(unspellableMessage('m.gguf', '€'), /^m\.gguf: llama\.cpp cannot tokenize this text: .* "€" \(U\+20AC\)/);
});
