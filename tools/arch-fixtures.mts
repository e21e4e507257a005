// Writes the synthetic Qwen3 / Qwen3-MoE / SmolLM3 Hugging Face checkpoints the tests build
// (test/convert/support/arch-fixture.ts) into DIR/<kind>/, and the tokenizer test text to
// DIR/tokenizer-test.txt, for tools/make-arch-goldens.sh; and DIR/qwen3moe-fused/ (the same
// Qwen3-MoE weights with stacked expert tensors).
import { writeFileSync } from 'node:fs';
import { ARCH_KINDS, TOKENIZER_TEST_TEXT, writeArchFixture } from '../test/convert/support/arch-fixture.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node --import tsx tools/arch-fixtures.mts DIR');
for (const k of ARCH_KINDS) await writeArchFixture(`${dir}/${k}`, k);
await writeArchFixture(`${dir}/qwen3moe-fused`, 'qwen3moe', { fusedExperts: true });
writeFileSync(`${dir}/tokenizer-test.txt`, TOKENIZER_TEST_TEXT);
