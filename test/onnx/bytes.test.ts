// Output bytes of every ONNX variant and option set, pinned: the SHA-256 (first 16 hex digits) of the
// encoded model, recorded from the code before the per-op handler registry (src/onnx/pass.ts) replaced
// the transforms' own loops. A refactor of the ONNX passes must leave every one of them unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { encodeModel } from '../../src/io/onnx/model.js';
import { quantizeOnnxModel, type OnnxQuantOptions, type Variant } from '../../src/onnx/variants.js';
import { transformerModel } from './support/build.js';

const MODELS = {
  tf: () => transformerModel(3),
  // opset 10: the pre-DynamicQuantizeLinear forms (DynamicQuantizeMatMul)
  tf11: () => {
    const m = transformerModel(4);
    m.opsetImport[0]!.version = 10n;
    return m;
  },
};

/** [model, variant, options, hash of the output, or null and the error it must raise] */
const PINNED: [keyof typeof MODELS, Variant, OnnxQuantOptions, string | null, string?][] = [
  ['tf', 'fp16', {}, '87d5bcbccf73278a'],
  ['tf', 'fp16', { perChannel: true }, '87d5bcbccf73278a'],
  ['tf', 'fp16', { symmetric: true }, '87d5bcbccf73278a'],
  ['tf', 'fp16', { reduceRange: true }, '87d5bcbccf73278a'],
  ['tf', 'fp16', { blockSize: 128, asymmetric: true }, '87d5bcbccf73278a'],
  ['tf', 'fp16', { embeddings: true }, '87d5bcbccf73278a'],
  [
    'tf',
    'fp16',
    { weightOnly: 'int8' },
    null,
    '--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16',
  ],
  [
    'tf',
    'fp16',
    { weightOnly: 'int8', perChannel: true },
    null,
    '--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16',
  ],
  ['tf', 'fp16', { accuracyLevel: 4 }, '87d5bcbccf73278a'],
  ['tf', 'q8', {}, 'dcdd7e463a44d783'],
  ['tf', 'q8', { perChannel: true }, '0e7aac445e70f3fb'],
  ['tf', 'q8', { symmetric: true }, 'dcdd7e463a44d783'],
  ['tf', 'q8', { reduceRange: true }, 'a0c6b07d3318f219'],
  ['tf', 'q8', { blockSize: 128, asymmetric: true }, '1416df71684a6ba4'],
  ['tf', 'q8', { embeddings: true }, 'dcdd7e463a44d783'],
  ['tf', 'q8', { weightOnly: 'int8' }, '4a1afb260903ece1'],
  ['tf', 'q8', { weightOnly: 'int8', perChannel: true }, '8909700cef3554f8'],
  ['tf', 'q8', { accuracyLevel: 4 }, 'dcdd7e463a44d783'],
  ['tf', 'int8', {}, 'dcdd7e463a44d783'],
  ['tf', 'int8', { perChannel: true }, '0e7aac445e70f3fb'],
  ['tf', 'int8', { symmetric: true }, 'dcdd7e463a44d783'],
  ['tf', 'int8', { reduceRange: true }, 'a0c6b07d3318f219'],
  ['tf', 'int8', { blockSize: 128, asymmetric: true }, '1416df71684a6ba4'],
  ['tf', 'int8', { embeddings: true }, 'dcdd7e463a44d783'],
  ['tf', 'int8', { weightOnly: 'int8' }, '4a1afb260903ece1'],
  ['tf', 'int8', { weightOnly: 'int8', perChannel: true }, '8909700cef3554f8'],
  ['tf', 'int8', { accuracyLevel: 4 }, 'dcdd7e463a44d783'],
  ['tf', 'uint8', {}, 'cc5d5c046aa2d8ed'],
  ['tf', 'uint8', { perChannel: true }, '00750727bb15901b'],
  ['tf', 'uint8', { symmetric: true }, '45723358e7bf4422'],
  ['tf', 'uint8', { reduceRange: true }, '6073d5b325ef0d29'],
  ['tf', 'uint8', { blockSize: 128, asymmetric: true }, 'cc5d5c046aa2d8ed'],
  ['tf', 'uint8', { embeddings: true }, 'cc5d5c046aa2d8ed'],
  ['tf', 'uint8', { weightOnly: 'int8' }, '4a1afb260903ece1'],
  ['tf', 'uint8', { weightOnly: 'int8', perChannel: true }, '8909700cef3554f8'],
  ['tf', 'uint8', { accuracyLevel: 4 }, 'cc5d5c046aa2d8ed'],
  ['tf', 'q4', {}, '6f7beb8ca7bf8603'],
  ['tf', 'q4', { perChannel: true }, '6f7beb8ca7bf8603'],
  ['tf', 'q4', { symmetric: true }, '6f7beb8ca7bf8603'],
  ['tf', 'q4', { reduceRange: true }, '6f7beb8ca7bf8603'],
  ['tf', 'q4', { blockSize: 128, asymmetric: true }, '35d49f69c63dfe04'],
  ['tf', 'q4', { embeddings: true }, 'c427bf9347de5460'],
  ['tf', 'q4', { weightOnly: 'int8' }, '4a1afb260903ece1'],
  ['tf', 'q4', { weightOnly: 'int8', perChannel: true }, '8909700cef3554f8'],
  ['tf', 'q4', { accuracyLevel: 4 }, '3fa96394fb8d2fe0'],
  ['tf', 'q4f16', {}, 'e78b9a95420d9113'],
  ['tf', 'q4f16', { perChannel: true }, 'e78b9a95420d9113'],
  ['tf', 'q4f16', { symmetric: true }, 'e78b9a95420d9113'],
  ['tf', 'q4f16', { reduceRange: true }, 'e78b9a95420d9113'],
  ['tf', 'q4f16', { blockSize: 128, asymmetric: true }, 'bcc99b7f35f763ab'],
  ['tf', 'q4f16', { embeddings: true }, '59cdc709e2b9f60e'],
  ['tf', 'q4f16', { weightOnly: 'int8' }, 'e38c0d3660006b61'],
  ['tf', 'q4f16', { weightOnly: 'int8', perChannel: true }, 'ebbcba19354fff42'],
  ['tf', 'q4f16', { accuracyLevel: 4 }, '399691f07ec6511d'],
  ['tf', 'bnb4', {}, '6fc9bd95e0a3ea1f'],
  ['tf', 'bnb4', { perChannel: true }, '6fc9bd95e0a3ea1f'],
  ['tf', 'bnb4', { symmetric: true }, '6fc9bd95e0a3ea1f'],
  ['tf', 'bnb4', { reduceRange: true }, '6fc9bd95e0a3ea1f'],
  ['tf', 'bnb4', { blockSize: 128, asymmetric: true }, '875595fc89ec99c6'],
  ['tf', 'bnb4', { embeddings: true }, '6fc9bd95e0a3ea1f'],
  ['tf', 'bnb4', { weightOnly: 'int8' }, '4a1afb260903ece1'],
  ['tf', 'bnb4', { weightOnly: 'int8', perChannel: true }, '8909700cef3554f8'],
  ['tf', 'bnb4', { accuracyLevel: 4 }, '6fc9bd95e0a3ea1f'],
  ['tf11', 'fp16', {}, '2b56a50d1f871f8c'],
  ['tf11', 'fp16', { perChannel: true }, '2b56a50d1f871f8c'],
  ['tf11', 'fp16', { symmetric: true }, '2b56a50d1f871f8c'],
  ['tf11', 'fp16', { reduceRange: true }, '2b56a50d1f871f8c'],
  ['tf11', 'fp16', { blockSize: 128, asymmetric: true }, '2b56a50d1f871f8c'],
  ['tf11', 'fp16', { embeddings: true }, '2b56a50d1f871f8c'],
  [
    'tf11',
    'fp16',
    { weightOnly: 'int8' },
    null,
    '--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16',
  ],
  [
    'tf11',
    'fp16',
    { weightOnly: 'int8', perChannel: true },
    null,
    '--weight-only needs a quantizing variant (q8, int8, uint8, q4, q4f16), not fp16',
  ],
  ['tf11', 'fp16', { accuracyLevel: 4 }, '2b56a50d1f871f8c'],
  ['tf11', 'q8', {}, 'e71113e1084fa688'],
  ['tf11', 'q8', { perChannel: true }, '195479fa9e51cf1e'],
  ['tf11', 'q8', { symmetric: true }, 'e71113e1084fa688'],
  ['tf11', 'q8', { reduceRange: true }, '88128b84f20e470e'],
  ['tf11', 'q8', { blockSize: 128, asymmetric: true }, 'fe72448068753ad3'],
  ['tf11', 'q8', { embeddings: true }, 'e71113e1084fa688'],
  ['tf11', 'q8', { weightOnly: 'int8' }, 'eac42c04a4a9fe69'],
  [
    'tf11',
    'q8',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'q8', { accuracyLevel: 4 }, 'e71113e1084fa688'],
  ['tf11', 'int8', {}, 'e71113e1084fa688'],
  ['tf11', 'int8', { perChannel: true }, '195479fa9e51cf1e'],
  ['tf11', 'int8', { symmetric: true }, 'e71113e1084fa688'],
  ['tf11', 'int8', { reduceRange: true }, '88128b84f20e470e'],
  ['tf11', 'int8', { blockSize: 128, asymmetric: true }, 'fe72448068753ad3'],
  ['tf11', 'int8', { embeddings: true }, 'e71113e1084fa688'],
  ['tf11', 'int8', { weightOnly: 'int8' }, 'eac42c04a4a9fe69'],
  [
    'tf11',
    'int8',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'int8', { accuracyLevel: 4 }, 'e71113e1084fa688'],
  ['tf11', 'uint8', {}, 'f4d6a1b4ddcc1e9a'],
  ['tf11', 'uint8', { perChannel: true }, 'fbd9cc2c954e5074'],
  ['tf11', 'uint8', { symmetric: true }, '681a1a16622fd5d2'],
  ['tf11', 'uint8', { reduceRange: true }, '019520190123eda0'],
  ['tf11', 'uint8', { blockSize: 128, asymmetric: true }, 'f4d6a1b4ddcc1e9a'],
  ['tf11', 'uint8', { embeddings: true }, 'f4d6a1b4ddcc1e9a'],
  ['tf11', 'uint8', { weightOnly: 'int8' }, 'eac42c04a4a9fe69'],
  [
    'tf11',
    'uint8',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'uint8', { accuracyLevel: 4 }, 'f4d6a1b4ddcc1e9a'],
  ['tf11', 'q4', {}, 'de8ceb9d2a84f931'],
  ['tf11', 'q4', { perChannel: true }, 'de8ceb9d2a84f931'],
  ['tf11', 'q4', { symmetric: true }, 'de8ceb9d2a84f931'],
  ['tf11', 'q4', { reduceRange: true }, 'de8ceb9d2a84f931'],
  ['tf11', 'q4', { blockSize: 128, asymmetric: true }, '7925d2a766f5a385'],
  ['tf11', 'q4', { embeddings: true }, 'e5bc72f63b69c687'],
  ['tf11', 'q4', { weightOnly: 'int8' }, 'eac42c04a4a9fe69'],
  [
    'tf11',
    'q4',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'q4', { accuracyLevel: 4 }, 'c22e4c77ec5c18ea'],
  ['tf11', 'q4f16', {}, '8719146b2d6eabf4'],
  ['tf11', 'q4f16', { perChannel: true }, '8719146b2d6eabf4'],
  ['tf11', 'q4f16', { symmetric: true }, '8719146b2d6eabf4'],
  ['tf11', 'q4f16', { reduceRange: true }, '8719146b2d6eabf4'],
  ['tf11', 'q4f16', { blockSize: 128, asymmetric: true }, '444faa4a1c5699c2'],
  ['tf11', 'q4f16', { embeddings: true }, 'bed713b5f5c06f29'],
  ['tf11', 'q4f16', { weightOnly: 'int8' }, '336ec2e37bab4a3d'],
  [
    'tf11',
    'q4f16',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'q4f16', { accuracyLevel: 4 }, 'e865dd45a4ff979e'],
  ['tf11', 'bnb4', {}, 'c1d034e89e2b034b'],
  ['tf11', 'bnb4', { perChannel: true }, 'c1d034e89e2b034b'],
  ['tf11', 'bnb4', { symmetric: true }, 'c1d034e89e2b034b'],
  ['tf11', 'bnb4', { reduceRange: true }, 'c1d034e89e2b034b'],
  ['tf11', 'bnb4', { blockSize: 128, asymmetric: true }, '482b8180c0353c48'],
  ['tf11', 'bnb4', { embeddings: true }, 'c1d034e89e2b034b'],
  ['tf11', 'bnb4', { weightOnly: 'int8' }, 'eac42c04a4a9fe69'],
  [
    'tf11',
    'bnb4',
    { weightOnly: 'int8', perChannel: true },
    null,
    'per-channel DequantizeLinear needs opset 13; this model is opset 10',
  ],
  ['tf11', 'bnb4', { accuracyLevel: 4 }, 'c1d034e89e2b034b'],
];

test('every ONNX variant x option set writes the same bytes as before the handler registry', () => {
  for (const [name, variant, opts, hash, error] of PINNED) {
    const m = MODELS[name]();
    const what = `${name} ${variant} ${JSON.stringify(opts)}`;
    if (hash === null) {
      assert.throws(() => quantizeOnnxModel(m, variant, opts), { message: error }, what);
      continue;
    }
    quantizeOnnxModel(m, variant, opts);
    assert.equal(createHash('sha256').update(encodeModel(m)).digest('hex').slice(0, 16), hash, what);
  }
});
