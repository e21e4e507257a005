import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteVocab, vocabFromLlama2cTokenizer } from '../../src/convert/llama2c-vocab.js';
import { TOKEN_TYPE } from '../../src/convert/model.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('llama2.c tokenizer pieces become SentencePiece tokens with llama.cpp token types', () => {
  const v = vocabFromLlama2cTokenizer({
    maxTokenLength: 8,
    tokens: [
      { bytes: enc('<unk>'), score: 0 },
      { bytes: enc('\n<s>\n'), score: 0 },
      { bytes: enc('\n</s>\n'), score: 0 },
      { bytes: enc('<0x0A>'), score: 0 },
      { bytes: enc(' the'), score: -3 },
      { bytes: new Uint8Array(0), score: 0 },
      { bytes: enc('<0x0a>'), score: -1 }, // lower-case hex is not a byte piece in llama.cpp
    ],
  });
  assert.deepEqual(v.tokens, ['<unk>', '<s>', '</s>', '<0x0A>', '\u2581the', '', '<0x0a>']);
  assert.deepEqual(Array.from(v.tokenTypes), [
    TOKEN_TYPE.UNKNOWN,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.BYTE,
    TOKEN_TYPE.NORMAL,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.NORMAL,
  ]);
  assert.equal(v.scores![4], -3);
  assert.deepEqual([v.bosId, v.eosId, v.unkId], [1, 2, 0]);
});

test('byte stand-in vocab: specials, all 256 bytes, unique unused fillers', () => {
  const v = byteVocab(300);
  assert.equal(v.tokens.length, 300);
  assert.equal(v.tokens[3], '<0x00>');
  assert.equal(v.tokens[13], '<0x0A>');
  assert.equal(v.tokens[258], '<0xFF>');
  assert.equal(v.tokenTypes[258], TOKEN_TYPE.BYTE);
  assert.equal(v.tokenTypes[259], TOKEN_TYPE.UNUSED);
  assert.equal(new Set(v.tokens).size, 300);
  assert.equal(byteVocab(100).tokens.length, 100);
});
