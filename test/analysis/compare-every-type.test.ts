// Every GGUF type lowbit writes is read back by `compare`: a small model (rows of 256, so the
// K-quants and i-quants are really used, plus an odd-width tensor that takes llama.cpp's fallbacks)
// is quantized to every llama.cpp file type, as its mix and with --pure (each file type's own
// tensor type everywhere), with an importance matrix (the i-quants need one); each output is
// compared with its F32 source. Each must decode: every tensor compared (nothing "only in A/B",
// nothing skipped), finite error, an SQNR that fits its bits per weight, and the bits per weight
// compare reports equal to the type's block size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGguf, syntheticLlama } from '../pipeline/synthetic-model.js';
import { quantizeGgufFile } from '../../src/node/quantize-file.js';
import { compareGguf } from '../../src/analysis/compare-gguf.js';
import { FileSource } from '../../src/node/file-io.js';
import { FILE_TYPES } from '../../src/plan/file-types.js';
import { GGML_TYPE, ggmlTypeById } from '../../src/formats/ggml-types.js';
import { runCli } from '../support/cli.js';

let dir = '';
let src = '';
let imatrix: Map<string, Float32Array>;
const spec = {
  nLayer: 1,
  nEmbd: 256,
  nFf: 512,
  nVocab: 32,
  compactRows: 8,
  weightType: GGML_TYPE.F32,
  seed: 7,
  extra: [{ name: 'blk.0.odd.weight', shape: [384, 8] }],
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-cmp-every-'));
  src = join(dir, 'src-F32.gguf');
  // Gaussian weights (seeded), as trained weights roughly are, so SQNR means what it means for real
  // models (the synthetic model's own weights span many scales on purpose, to stress the codecs)
  const m = syntheticLlama(spec);
  let x = 2463534242;
  const u = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) + 0.5) / 4294967296;
  };
  for (const t of m.tensors) {
    if (t.shape.length < 2) continue;
    const f = new Float32Array(t.data.length / 4);
    for (let i = 0; i < f.length; i++) f[i] = 0.02 * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    t.data = new Uint8Array(f.buffer);
  }
  writeFileSync(src, await encodeGguf(m));
  // equal importance for every column: the i-quants then minimise the plain squared error, which
  // is what SQNR measures
  imatrix = new Map();
  for (const t of m.tensors)
    if (t.shape.length >= 2 && !t.name.includes('_norm')) imatrix.set(t.name, new Float32Array(t.shape[0]!).fill(1));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'every GGUF file type lowbit writes, mixed and --pure, decodes in compare against its source',
  { timeout: 1_200_000 },
  async () => {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const ft of FILE_TYPES) {
      for (const pure of [false, true]) {
        const out = join(dir, `${ft.name}${pure ? '-pure' : ''}.gguf`);
        await quantizeGgufFile(src, out, {
          fileType: ft,
          pure,
          threads: 1,
          imatrix: {
            data: imatrix,
            provenance: { file: 'synthetic.imatrix', dataset: 'random', entries: imatrix.size, chunks: 1 },
          },
        });
        const [a, b] = [await FileSource.open(src), await FileSource.open(out)];
        let c;
        try {
          c = await compareGguf(a, b);
        } finally {
          await a.close();
          await b.close();
        }
        const what = `${ft.name}${pure ? ' --pure' : ''}`;
        assert.deepEqual(c.onlyInA, [], `${what}: only in A`);
        assert.deepEqual(c.onlyInB, [], `${what}: only in B`);
        assert.deepEqual(c.skipped, [], `${what}: skipped`);
        assert.equal(c.tensors.length, c.a.tensorCount, what);
        for (const t of c.tensors) {
          seen.add(t.typeB);
          const tb = ggmlTypeById(
            Object.values(GGML_TYPE).find((id) => ggmlTypeById(id)?.ggmlName.toUpperCase() === t.typeB)!,
          )!;
          assert.ok(tb, `${what} ${t.name}: type ${t.typeB} known`);
          // the bits per weight compare reads are the type's own
          assert.ok(
            Math.abs(t.bitsPerWeightB - (tb.typeSize * 8) / tb.blockSize) < 1e-9,
            `${what} ${t.name}: ${t.bitsPerWeightB} bpw for ${t.typeB}`,
          );
          const s = t.stats;
          assert.ok(
            Number.isFinite(s.rmse) && Number.isFinite(s.maxAbs),
            `${what} ${t.name}: error not finite (${s.rmse}, ${s.maxAbs})`,
          );
          if (t.typeA === t.typeB) {
            assert.equal(s.sqnrDb, Infinity, `${what} ${t.name}: copied, so identical`);
            continue;
          }
          // about 6 dB per bit on Gaussian weights (a 1-bit sign code: 4.4 dB; the ternary types,
          // whose scale is the block's largest |w|, about 1.5 dB): floors a little under what each
          // class reaches, far above a decoder that returns noise, zeros or the wrong scale
          const bits = t.bitsPerWeightB;
          const floor =
            bits >= 16
              ? 50
              : bits >= 8
                ? 40
                : bits >= 6.5
                  ? 30
                  : bits >= 5.5
                    ? 25
                    : bits >= 4.25
                      ? 16
                      : bits >= 3
                        ? 12
                        : bits >= 2.5
                          ? 9
                          : 1;
          if (process.env.PROBE)
            console.log(what, t.name, t.typeB, t.bitsPerWeightB, s.sqnrDb.toFixed(2), s.cosine.toFixed(3));
          assert.ok(s.sqnrDb > floor, `${what} ${t.name} (${t.typeB}, ${bits} bpw): SQNR ${s.sqnrDb} dB <= ${floor}`);
          assert.ok(s.cosine > 0.5 && s.cosine <= 1 + 1e-9, `${what} ${t.name}: cosine ${s.cosine}`);
        }
        lines.push(`${what.padEnd(16)} ${c.total.bitsPerWeightB.toFixed(2)} bpw, SQNR ${c.total.sqnrDb.toFixed(1)} dB`);
      }
    }
    // --pure put each file type's own tensor type everywhere it could: every one of them was read back
    for (const ft of FILE_TYPES) {
      const name = ggmlTypeById(ft.defaultType)!.ggmlName.toUpperCase();
      assert.ok(seen.has(name), `${ft.name}'s type ${name} never written (seen: ${[...seen].join(', ')})`);
    }
    console.log(lines.join('\n'));
  },
);

test('compare (CLI) reads an i-quant, a K-quant and a ternary file back: every tensor, no "only in" lines', () => {
  for (const name of ['IQ2_XXS-pure', 'Q4_K_M', 'TQ1_0-pure']) {
    const r = runCli(['compare', src, join(dir, `${name}.gguf`)]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /only in/i, name);
    assert.match(r.stdout, /^total over 13 tensors/m, name);
  }
});
