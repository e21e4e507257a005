// Child process for tests of inputs on which ggml may abort (GGML_ASSERT kills the process, so it
// cannot run inside the test runner). Plain JS (no tsx) so that restarting it after an abort is cheap.
// Usage: <type> <nPerRow> <rows.f32> <imatrix.f32 | -> <firstRow>
// Quantizes the rows one at a time from firstRow with ggml_quantize_chunk (libggml-base.so from
// @node-llama-cpp/linux-x64, as tools/ggml-oracle.ts loads it) and writes one line per row,
// "<row> <hex bytes>", flushed before the next row starts: the parent sees where it died.
import { createRequire } from 'node:module';
import { readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const koffi = require('koffi');
const lib = koffi.load(
  join(dirname(require.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64', 'libggml-base.so'),
);
const quantizeChunk = lib.func(
  'size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)',
);
const rowSize = lib.func('size_t ggml_row_size(int type, int64_t ne)');

const [type, nPerRowS, xFile, imFile, firstS] = process.argv.slice(2);
const nPerRow = Number(nPerRowS);
const f32 = (file) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const x = f32(xFile);
const im = imFile === '-' ? null : f32(imFile);
const out = new Uint8Array(Number(rowSize(Number(type), nPerRow)));
for (let r = Number(firstS); r < x.length / nPerRow; r++) {
  writeSync(1, `${r} `);
  quantizeChunk(Number(type), x.subarray(r * nPerRow, (r + 1) * nPerRow), out, 0, 1, nPerRow, im);
  writeSync(1, `${Buffer.from(out).toString('hex')}\n`);
}
