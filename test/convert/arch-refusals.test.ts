// Refusals for the Qwen3 / Qwen3-MoE / SmolLM3 converters: one line, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHfConfig } from '../../src/convert/hf/config.js';
import { LowbitError } from '../../src/errors.js';
import { convertHfDir } from '../../src/node/convert-files.js';
import { writeArchFixture } from './support/arch-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-archref-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof LowbitError && re.test(e.message) && !e.message.includes('\n');

const base = {
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 300,
};

test('an unsupported architecture is named, with every supported one listed', () => {
  assert.throws(
    () => parseHfConfig({ ...base, architectures: ['FalconForCausalLM'], model_type: 'falcon' }),
    oneLine(
      /model_type 'falcon' \(FalconForCausalLM\) is not supported; lowbit converts .*Qwen3ForCausalLM, Qwen3MoeForCausalLM, SmolLM3ForCausalLM, Phi3ForCausalLM, Gemma3ForCausalLM.*GptOssForCausalLM/,
    ),
  );
});

test('configs llama.cpp would run differently from transformers are refused', () => {
  assert.throws(
    () =>
      parseHfConfig({
        ...base,
        architectures: ['SmolLM3ForCausalLM'],
        model_type: 'smollm3',
        no_rope_layers: [1, 1, 1, 1],
      }),
    oneLine(/no_rope_layers \[1,1,1,1\] differ from llama\.cpp's smollm3 pattern/),
  );
  assert.equal(
    parseHfConfig({
      ...base,
      architectures: ['SmolLM3ForCausalLM'],
      model_type: 'smollm3',
      no_rope_layers: [1, 1, 1, 0],
    }).arch,
    'smollm3',
  );
  assert.equal(
    parseHfConfig({ ...base, architectures: ['SmolLM3ForCausalLM'], model_type: 'smollm3' }).arch,
    'smollm3',
  );
  assert.throws(
    () =>
      parseHfConfig({
        ...base,
        architectures: ['SmolLM3ForCausalLM'],
        model_type: 'smollm3',
        no_rope_layer_interval: 2,
      }),
    oneLine(/no_rope_layers \[1,0,1,0\] differ/),
  );
  const moe = {
    ...base,
    architectures: ['Qwen3MoeForCausalLM'],
    model_type: 'qwen3_moe',
    num_experts: 4,
    num_experts_per_tok: 2,
    moe_intermediate_size: 32,
    norm_topk_prob: true,
  };
  assert.equal(parseHfConfig(moe).arch, 'qwen3moe');
  assert.throws(() => parseHfConfig({ ...moe, norm_topk_prob: false }), oneLine(/norm_topk_prob false/));
  assert.throws(
    () => parseHfConfig({ ...moe, norm_topk_prob: undefined }),
    oneLine(/norm_topk_prob absent \(transformers: false\)/),
  );
  assert.throws(() => parseHfConfig({ ...moe, mlp_only_layers: [0] }), oneLine(/dense layers/));
  assert.throws(() => parseHfConfig({ ...moe, num_experts: undefined }), oneLine(/needs num_experts/));
  const qwen3 = { ...base, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', head_dim: 32 };
  assert.equal(parseHfConfig(qwen3, 'models/Qwen3-0.6B/config.json').arch, 'qwen3');
  assert.throws(() => parseHfConfig(qwen3, 'models/Qwen3-Reranker-0.6B/config.json'), oneLine(/a Qwen3 reranker/));
  assert.throws(
    () => parseHfConfig({ ...qwen3, _name_or_path: 'Qwen/Qwen3-Reranker-4B' }),
    oneLine(/a Qwen3 reranker/),
  );
  assert.throws(
    () => parseHfConfig({ ...qwen3, use_sliding_window: true, sliding_window: 4096 }),
    oneLine(/sliding-window layers/),
  );
  assert.throws(
    () =>
      parseHfConfig({
        ...moe,
        layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'full_attention'],
      }),
    oneLine(/sliding-window layers/),
  );
  assert.equal(
    parseHfConfig({
      ...qwen3,
      use_sliding_window: false,
      sliding_window: null,
      layer_types: Array(4).fill('full_attention'),
    }).arch,
    'qwen3',
  );
});

test('a Qwen3-MoE checkpoint missing one expert projection is refused, nothing written', async () => {
  const ck = join(dir, 'moe');
  await writeArchFixture(ck, 'qwen3moe');
  // move expert 3's up_proj of layer 1 to a layer 9 (same name length, so the header stays valid)
  const p = join(ck, 'model.safetensors');
  const b = readFileSync(p);
  const i = b.indexOf('model.layers.1.mlp.experts.3.up_proj.weight');
  b.write('model.layers.9.mlp.experts.3.up_proj.weight', i);
  writeFileSync(p, b);
  const out = join(dir, 'moe.gguf');
  await assert.rejects(convertHfDir(ck, out, 'F32'), oneLine(/unprocessed expert tensors/));
  assert.equal(existsSync(out), false);
});
