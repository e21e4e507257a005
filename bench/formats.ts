// Single-thread quantize/dequantize throughput of every registered format, lowbit against ggml's
// own reference C (libggml-base.so from node-llama-cpp, through koffi) on the same input.
// MB/s are of float32 input (quantize) or float32 output (dequantize): 4 bytes per weight.
// The codecs come from the compiled dist/ (what users run), not through tsx; lowbit is timed
// twice: as shipped (WebAssembly kernels where there are any) and with its TypeScript reference.
import type { BlockCodec } from '../src/formats/codec.js';
import { loadGgmlOracle } from '../tools/ggml-oracle.js';
import { randomRows, rng } from '../test/support/oracle.js';

export interface FormatBench {
  name: string;
  quantLowbit: number;
  quantTs: number;
  quantGgml: number;
  dequantLowbit: number;
  dequantTs: number;
  dequantGgml: number;
  /** with an importance matrix, for formats that use one */
  imatrix?: { quantLowbit: number; quantTs: number; quantGgml: number };
  /** the format cannot quantize without an importance matrix: the quantize figures are with one */
  imatrixOnly?: boolean;
}

interface Dist {
  codecs(): readonly BlockCodec[];
  setWasmKernels(on: boolean): void;
}

async function loadDist(): Promise<Dist> {
  const reg = (await import(new URL('../dist/formats/registry.js', import.meta.url).href)) as {
    codecs(): readonly BlockCodec[];
  };
  const k = (await import(new URL('../dist/formats/wasm/kernels.js', import.meta.url).href)) as {
    setWasmKernels(on: boolean): void;
  };
  return { codecs: reg.codecs, setWasmKernels: k.setWasmKernels };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * MB/s of each of fns, timed in interleaved rounds (so load drifting on a shared machine hits
 * them alike) by this process's CPU time, not wall time (so time spent descheduled does not
 * count). Each round runs a function for at least minMs; the median round rate is reported.
 */
function measureAll(bytes: number, fns: (() => void)[], rounds = 5, minMs = 120): number[] {
  for (const fn of fns) fn(); // warm up (JIT, tables, wasm instantiation)
  const rates: number[][] = fns.map(() => []);
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, k) => {
      let n = 0;
      const t0 = cpuMs();
      let dt = 0;
      do {
        fn();
        n++;
        dt = cpuMs() - t0;
      } while (dt < minMs);
      rates[k]!.push((bytes * n) / 1e6 / (dt / 1000));
    });
  }
  return rates.map(median);
}

function imatrixOf(n: number): Float32Array {
  const r = rng(11);
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = r() * r() * 10;
  return m;
}

export async function benchFormats(filter?: string[], withImatrix = true): Promise<FormatBench[]> {
  const o = loadGgmlOracle();
  if (!o) throw new Error('ggml oracle not available (needs linux-x64 and node-llama-cpp)');
  const dist = await loadDist();
  const nPerRow = 4096;
  const out: FormatBench[] = [];
  for (const c of dist.codecs()) {
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
    // lowbit as shipped (WebAssembly kernels on), its TypeScript reference, and ggml
    const on = (fn: () => void) => () => {
      dist.setWasmKernels(true);
      fn();
    };
    const off = (fn: () => void) => () => {
      dist.setWasmKernels(false);
      fn();
    };
    // formats that cannot go without an importance matrix (ggml asserts) are timed with one only
    const plain = c.requiresImatrix ? imatrixOf(nPerRow) : null;
    const quant = () => c.quantize(x, q, nRows, nPerRow, plain);
    const [quantLowbit, quantTs, quantGgml] = measureAll(bytes, [
      on(quant),
      off(quant),
      () => o.quantize(c.type.id, x, nRows, nPerRow, plain),
    ]);
    dist.setWasmKernels(true);
    c.quantize(x, q, nRows, nPerRow, plain);
    const deq = () => c.dequantize(q, y, n);
    const [dequantLowbit, dequantTs, dequantGgml] = measureAll(bytes, [
      on(deq),
      off(deq),
      () => o.dequantize(c.type.id, q, n),
    ]);
    const r: FormatBench = {
      imatrixOnly: !!c.requiresImatrix,
      name: c.name,
      quantLowbit: quantLowbit!,
      quantTs: quantTs!,
      quantGgml: quantGgml!,
      dequantLowbit: dequantLowbit!,
      dequantTs: dequantTs!,
      dequantGgml: dequantGgml!,
    };
    if (withImatrix && c.usesImatrix && !c.requiresImatrix) {
      // the importance-weighted searches are slower: a quarter of the rows
      const rows = Math.max(1, nRows >> 2);
      const xi = x.subarray(0, rows * nPerRow);
      const im = imatrixOf(nPerRow);
      const qi = () => c.quantize(xi, q, rows, nPerRow, im);
      const [lw, lt, g] = measureAll(
        rows * nPerRow * 4,
        [on(qi), off(qi), () => o.quantize(c.type.id, xi, rows, nPerRow, im)],
        3,
      );
      r.imatrix = { quantLowbit: lw!, quantTs: lt!, quantGgml: g! };
    }
    dist.setWasmKernels(true);
    out.push(r);
  }
  return out;
}
