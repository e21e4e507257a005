// tokenizer.ggml.pre by llama.cpp's get_vocab_base_pre hash, on REAL vocabularies: llama.cpp's own
// test vocabularies (models/ggml-vocab-qwen2.gguf from Qwen's tokenizer, ggml-vocab-llama-bpe.gguf
// from Meta-Llama-3's, which SmolLM3 also uses) taken from the llama.cpp source node-llama-cpp
// ships, rebuilt as tokenizer.json with the family's normalizer / pre-tokenizer / post-processor.
// lowbit's encoder must hash llama.cpp's check text to the very hashes llama.cpp's table lists for
// those models, and encode llama.cpp's vocabulary test texts (models/*.inp) to its expected ids
// (*.out, made by transformers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BufferSource } from '../../src/io/source.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { metaArray, metaStrings } from '../../src/io/gguf/metadata.js';
import { bpeEncoder, jsRegex } from '../../src/convert/hf/bpe.js';
import { preTokenizerHash, sha256Hex } from '../../src/convert/hf/pre-hash.js';
import { PRE_HASHES } from '../../src/convert/hf/pre-hashes.js';
import { LLAMA3_REGEX, QWEN2_REGEX } from './support/arch-fixture.js';

const BUNDLE = resolve('node_modules/node-llama-cpp/llama/gitRelease.bundle');

test('sha256 and Oniguruma-style (?i:) groups', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 200]) {
    const d = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
    assert.equal(sha256Hex(d), createHash('sha256').update(d).digest('hex'));
  }
  const re = jsRegex("(?i:'s|'ll)|\\p{L}+");
  assert.deepEqual("IT'S we'LL go".match(re), ['IT', "'S", 'we', "'LL", 'go']);
});

let gitDir: string | undefined;
function fromBundle(path: string): Uint8Array {
  if (!gitDir) {
    gitDir = mkdtempSync(join(tmpdir(), 'lowbit-llamasrc-'));
    execFileSync('git', ['init', '-q', '--bare', gitDir]);
    execFileSync('git', ['-C', gitDir, 'fetch', '-q', BUNDLE]);
  }
  return new Uint8Array(execFileSync('git', ['-C', gitDir, 'show', `FETCH_HEAD:${path}`], { maxBuffer: 64 << 20 })); // a copy: aligned
}
test.after(() => {
  if (gitDir) rmSync(gitDir, { recursive: true, force: true });
});

const haveSource =
  existsSync(BUNDLE) &&
  (() => {
    try {
      execFileSync('git', ['--version']);
      return true;
    } catch {
      return false;
    }
  })();

for (const [name, regex, pre, ref] of [
  ['qwen2', QWEN2_REGEX, 'qwen2', 'Qwen/Qwen1.5-7B'],
  ['llama-bpe', LLAMA3_REGEX, 'llama-bpe', 'meta-llama/Meta-Llama-3-8B'],
] as const) {
  test(
    `real ${name} vocabulary hashes to llama.cpp's ${pre} entry (${ref}) and encodes llama.cpp's vocab tests`,
    { skip: haveSource ? false : "node-llama-cpp's llama.cpp source bundle or git is not available" },
    async () => {
      const bytes = fromBundle(`models/ggml-vocab-${name}.gguf`);
      const g = await readGgufHeader(new BufferSource(bytes, name));
      const toks = metaStrings(g.metadata, 'tokenizer.ggml.tokens')!;
      const types = metaArray(g.metadata, 'tokenizer.ggml.token_type')!.items as Int32Array;
      const vocab: Record<string, number> = {};
      const added: { id: number; content: string; special: boolean }[] = [];
      toks.forEach((t, i) => {
        if (types[i] === 1) vocab[t] = i;
        else if (types[i] === 3 || types[i] === 4) added.push({ id: i, content: t, special: types[i] === 3 });
      });
      const llama3 = name === 'llama-bpe';
      const bos = toks.indexOf('<|begin_of_text|>');
      const tj = {
        added_tokens: added,
        normalizer: llama3 ? null : { type: 'NFC' },
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
          ],
        },
        post_processor: llama3
          ? {
              type: 'TemplateProcessing',
              single: [{ SpecialToken: { id: '<|begin_of_text|>' } }, { Sequence: { id: 'A' } }],
              special_tokens: { '<|begin_of_text|>': { ids: [bos] } },
            }
          : { type: 'ByteLevel' },
        model: { type: 'BPE', ignore_merges: llama3, vocab, merges: metaStrings(g.metadata, 'tokenizer.ggml.merges')! },
      };
      const h = preTokenizerHash(tj);
      assert.equal(h.pre, pre);
      assert.ok(
        PRE_HASHES.some(([hh, p, r]) => hh === h.hash && p === pre && r.includes(ref)),
        `${h.hash} is llama.cpp's entry for ${ref}`,
      );
      const inputs = new TextDecoder()
        .decode(fromBundle(`models/ggml-vocab-${name}.gguf.inp`))
        .split('\n__ggml_vocab_test__\n');
      const outputs = new TextDecoder().decode(fromBundle(`models/ggml-vocab-${name}.gguf.out`)).split('\n');
      const enc = bpeEncoder(tj);
      let n = 0;
      for (let i = 0; i < outputs.length - 1 && i < inputs.length; i++) {
        assert.equal(
          enc.encode(inputs[i]!, false).join(' '),
          outputs[i]!.trim(),
          `test text ${JSON.stringify(inputs[i])}`,
        );
        n++;
      }
      assert.ok(n >= 40, `${n} texts`);
    },
  );
}
