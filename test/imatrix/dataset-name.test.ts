// The dataset recorded for documents a model writes names the model file, not its folder: the bytes
// of the matrix and of every model quantized with it must not depend on where the model sits
// (convert hf --calibrate runs it from a temporary folder; lowbit demo from --out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatedDatasetName } from '../../src/node/imatrix.js';

test('generated calibration documents are recorded by the model file’s name alone', () => {
  const a = generatedDatasetName('/tmp/lowbit-convert-1a2b/model-f32.gguf', 2, 17);
  assert.equal(a, 'generated: 17 documents written by model-f32.gguf (seed 2, lowbit)');
  assert.equal(generatedDatasetName('/elsewhere/model-f32.gguf', 2, 17), a);
});
