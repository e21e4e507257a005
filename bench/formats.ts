// Single-thread quantize/dequantize throughput of every registered format, lowbit against ggml's
// own reference C (libggml-base.so from node-llama-cpp, through koffi) on the same input.
// MB/s are of float32 input (quantize) or float32 output (dequantize): 4 bytes per weight.
import { codecs } from '../src/formats/registry.js';
import { loadGgmlOracle } from '../tools/ggml-oracle.js';
import { randomRows } from '../test/support/oracle.js';

export interface FormatBench { name: string; quantLowbit: number; quantGgml: number; dequantLowbit: number; dequantGgml: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs fn repeatedly for at least minMs, returns the median MB/s over `runs` such timings. */
function measure(bytes: number, fn: () => void, runs = 5, minMs = 150): number {
  fn(); // warm up (JIT, tables)
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do { fn(); n++; dt = performance.now() - t0; } while (dt < minMs);
    rates.push((bytes * n) / 1e6 / (dt / 1000));
  }
  return median(rates);
}

export function benchFormats(filter?: string[]): FormatBench[] {
  const o = loadGgmlOracle();
  if (!o) throw new Error('ggml oracle not available (needs linux-x64 and node-llama-cpp)');
  const nPerRow = 4096;
  const out: FormatBench[] = [];
  for (const c of codecs()) {
    if (c.name === 'F32') continue;
    if (filter && !filter.some((f) => f.toUpperCase() === c.name)) continue;
    // about 4 MB of float32 for fast formats, less for the slow searches
    const slow = c.type.blockSize === 256 || c.name.startsWith('IQ');
    const nRows = slow ? 64 : 256;
    const x = randomRows(7, nRows, nPerRow);
    const n = nRows * nPerRow;
    const q = new Uint8Array((n / c.type.blockSize) * c.type.typeSize);
    const y = new Float32Array(n);
    const bytes = n * 4;
    const quantLowbit = measure(bytes, () => c.quantize(x, q, nRows, nPerRow, null));
    const quantGgml = measure(bytes, () => o.quantize(c.type.id, x, nRows, nPerRow, null));
    c.quantize(x, q, nRows, nPerRow, null);
    const dequantLowbit = measure(bytes, () => c.dequantize(q, y, n));
    const dequantGgml = measure(bytes, () => o.dequantize(c.type.id, q, n));
    out.push({ name: c.name, quantLowbit, quantGgml, dequantLowbit, dequantGgml });
  }
  return out;
}
