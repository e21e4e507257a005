// --prune-layers: the list parsed as llama-quantize parses it, and remap_layer's renumbering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePruneLayers, pruneLayers } from '../../src/plan/prune.js';
import { LowbitError } from '../../src/errors.js';

test('the list: std::stoi per item, sorted and unique; negatives, empty items and junk are errors', () => {
  assert.deepEqual(parsePruneLayers('5,1,3,1'), [1, 3, 5]);
  assert.deepEqual(parsePruneLayers(' 2x,+4'), [2, 4], 'stoi: leading space, sign, trailing junk ignored');
  for (const bad of ['-1', '1,,2', 'a', '', '99999999999']) {
    assert.throws(
      () => parsePruneLayers(bad),
      (e: Error) => e instanceof LowbitError && /invalid layer id/.test(e.message),
      bad,
    );
  }
});

test('renumbering: layers before the first pruned keep their numbers, later ones close the gaps in order', () => {
  const names = [
    'token_embd.weight',
    ...[0, 1, 2, 3, 4, 10].flatMap((l) => [`blk.${l}.attn_q.weight`, `blk.${l}.ffn_up.weight`]),
    'output.weight',
  ];
  const { rename, blockCount } = pruneLayers(names, [1, 3]);
  assert.equal(rename.get('token_embd.weight'), 'token_embd.weight');
  assert.equal(rename.get('blk.0.attn_q.weight'), 'blk.0.attn_q.weight');
  assert.equal(rename.get('blk.1.ffn_up.weight'), null);
  assert.equal(rename.get('blk.2.attn_q.weight'), 'blk.1.attn_q.weight');
  assert.equal(rename.get('blk.3.attn_q.weight'), null);
  assert.equal(rename.get('blk.4.ffn_up.weight'), 'blk.2.ffn_up.weight');
  assert.equal(rename.get('blk.10.attn_q.weight'), 'blk.3.attn_q.weight', 'numbered in layer order, not name order');
  assert.equal(blockCount, 4);
  // pruning only beyond the model: nothing moves, the count is the last layer + 1
  assert.equal(pruneLayers(names, [50]).blockCount, 11);
});
