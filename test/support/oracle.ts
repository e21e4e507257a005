// The ggml oracle for tests. On linux-x64 (this project's machines and CI) it must load: a missing
// oracle is a failure there, not a reason to skip.
import { loadGgmlOracle, type GgmlOracle } from '../../tools/ggml-oracle.js';
import { mulberry32 } from '../../src/analysis/random.js';

export function oracle(): GgmlOracle {
  const o = loadGgmlOracle();
  if (!o) throw new Error('ggml oracle (libggml-base.so from @node-llama-cpp/linux-x64) is not available');
  return o;
}

/** Deterministic PRNG (mulberry32) so every seed reproduces. */
export const rng = mulberry32;

export function gaussian(r: () => number): number {
  const u = 1 - r();
  const v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Random test rows of several distributions and scales; varied per seed. */
export function randomRows(seed: number, nRows: number, nPerRow: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(nRows * nPerRow);
  for (let row = 0; row < nRows; row++) {
    const kind = Math.floor(r() * 6);
    const scale = 10 ** (r() * 8 - 5);
    for (let i = 0; i < nPerRow; i++) {
      let x: number;
      switch (kind) {
        case 0:
          x = gaussian(r);
          break;
        case 1:
          x = r() * 2 - 1;
          break;
        case 2:
          x = Math.log(r()) * (r() < 0.5 ? -1 : 1);
          break; // laplace
        case 3:
          x = gaussian(r) + 3;
          break; // offset
        case 4:
          x = r() < 0.02 ? gaussian(r) * 100 : gaussian(r);
          break; // outliers
        default:
          x = Math.round(gaussian(r) * 4) / 4;
          break; // grid values, ties
      }
      out[row * nPerRow + i] = x * scale;
    }
  }
  return out;
}
