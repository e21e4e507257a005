// Loads the WebAssembly SIMD kernels (kernels.wasm.ts, built from the .as sources beside it by
// scripts/build-wasm.mjs) synchronously on first use, in Node and the browser alike. Codecs
// (defineCodec) call wasmQuantize()/wasmDequantize() and fall back to their TypeScript reference
// when the kernel did not run: WebAssembly or SIMD missing, compilation refused (e.g. a CSP
// without wasm-unsafe-eval), or kernels switched off with setWasmKernels(false) (tests run both
// paths against ggml).
import type { FiniteScan } from '../codec.js';
import type { GgmlTypeInfo } from '../ggml-types.js';
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

/** kernel(srcPtr, dstPtr, count): count blocks (or values, for the float conversions). */
type Kernel = (src: number, dst: number, count: number) => void;

/** Kernels over whole blocks (values, for the float conversions): quantize without an imatrix, and dequantize. */
export type BlockKernelName =
  | 'f32_to_f16'
  | 'f32_to_bf16'
  | 'f16_to_f32'
  | 'bf16_to_f32'
  | 'q8_0_quant'
  | 'q4_0_quant'
  | 'q4_1_quant'
  | 'q5_0_quant'
  | 'q5_1_quant'
  | 'q8_0_dequant'
  | 'q4_0_dequant'
  | 'q4_1_dequant'
  | 'q5_0_dequant'
  | 'q5_1_dequant'
  | 'q2_K_quant'
  | 'q3_K_quant'
  | 'q4_K_quant'
  | 'q5_K_quant'
  | 'q6_K_quant'
  | 'q2_K_dequant'
  | 'q3_K_dequant'
  | 'q4_K_dequant'
  | 'q5_K_dequant'
  | 'q6_K_dequant'
  | 'iq4_nl_dequant'
  | 'iq4_xs_dequant'
  | 'tq1_0_quant'
  | 'tq2_0_quant'
  | 'tq1_0_dequant'
  | 'tq2_0_dequant'
  | 'mxfp4_quant'
  | 'mxfp4_dequant'
  | 'q2_0_quant'
  | 'q2_0_dequant'
  | 'iq3_xxs_quant'
  | 'iq3_s_quant'
  | 'iq2_s_quant'
  | 'iq1_m_quant'
  | 'iq1_m_dequant'
  | 'iq2_xxs_dequant'
  | 'iq2_xs_dequant'
  | 'iq2_s_dequant'
  | 'iq1_s_dequant'
  | 'iq3_s_dequant'
  | 'iq3_xxs_dequant';

/** kernel(srcPtr, dstPtr, nRows, nPerRow, importancePtr): whole rows with an importance matrix. */
type RowKernel = (src: number, dst: number, nRows: number, nPerRow: number, qw: number) => void;

export type RowKernelName =
  | 'q4_0_quant_imatrix'
  | 'q4_1_quant_imatrix'
  | 'q5_0_quant_imatrix'
  | 'q5_1_quant_imatrix'
  | 'q2_K_quant_imatrix'
  | 'q3_K_quant_imatrix'
  | 'q4_K_quant_imatrix'
  | 'q5_K_quant_imatrix'
  | 'q6_K_quant_imatrix'
  | 'iq3_xxs_quant_imatrix'
  | 'iq3_s_quant_imatrix'
  | 'iq2_xxs_quant_imatrix'
  | 'iq2_xs_quant_imatrix'
  | 'iq2_s_quant_imatrix'
  | 'iq1_s_quant_imatrix'
  | 'iq1_m_quant_imatrix';

/** A codec's quantize kernels: over blocks without an importance matrix, over rows with one (either may be absent). */
export interface QuantKernels {
  readonly quant?: BlockKernelName;
  readonly quantImatrix?: RowKernelName;
}

/**
 * Tables some lattice kernels keep past the static data, built by an export that returns where
 * they end: IQ3's (iq3.as, ~1.1 MB from heapBase, built on first use) and each IQ2 grid's (iq2.as,
 * from iq3_tables_end() on; iq2_init grows memory itself). `bit` marks them built.
 */
interface Tables {
  readonly bit: number;
  build(exports: Record<string, unknown>): number;
}

const IQ3_TABLES: Tables = { bit: 1 << 4, build: (e) => (e.iq3_tables_end as () => number)() };

/** One IQ2 grid: 0 = 256 points (IQ2_XXS), 1 = 512 (IQ2_XS), 2 = 1024 (IQ2_S), 3 = 2048 (IQ1_S, IQ1_M). */
function iq2Grid(g: 0 | 1 | 2 | 3): Tables {
  return { bit: 1 << g, build: (e) => (e.iq2_init as (g: number) => number)(g) };
}

/**
 * What a lattice quantize kernel needs: its tables, and the export that reads and clears the flag
 * it raises on input ggml aborts on.
 */
interface Lattice {
  readonly tables: Tables;
  readonly failed: 'iq3_failed' | 'iq2_failed';
}

const IQ3: Lattice = { tables: IQ3_TABLES, failed: 'iq3_failed' };
const IQ2_256: Lattice = { tables: iq2Grid(0), failed: 'iq2_failed' };
const IQ2_512: Lattice = { tables: iq2Grid(1), failed: 'iq2_failed' };
const IQ2_1024: Lattice = { tables: iq2Grid(2), failed: 'iq2_failed' };
const IQ1_2048: Lattice = { tables: iq2Grid(3), failed: 'iq2_failed' };

/** The lattice quantize kernels (the dequantizers read only static data, iqdeq.as). */
const LATTICE: Partial<Record<BlockKernelName | RowKernelName, Lattice>> = {
  iq3_xxs_quant: IQ3,
  iq3_xxs_quant_imatrix: IQ3,
  iq3_s_quant: IQ3,
  iq3_s_quant_imatrix: IQ3,
  iq2_xxs_quant_imatrix: IQ2_256,
  iq2_xs_quant_imatrix: IQ2_512,
  iq2_s_quant: IQ2_1024,
  iq2_s_quant_imatrix: IQ2_1024,
  iq1_s_quant_imatrix: IQ1_2048,
  iq1_m_quant: IQ1_2048,
  iq1_m_quant_imatrix: IQ1_2048,
};

interface Loaded {
  exports: Record<string, unknown>;
  memory: WebAssembly.Memory;
  /** where the windows start (moved past the lattice tables once a kernel needing them runs) */
  base: number;
  /** the Tables bits of the tables built */
  built: number;
}

/**
 * Builds tables before their kernel's first call and moves the windows past them (nothing is
 * kept in the windows between calls, so moving is safe), never back below tables already built.
 */
function prepare(k: Loaded, t: Tables): void {
  if (k.built & t.bit) return;
  k.base = Math.max(k.base, (t.build(k.exports) + 15) & ~15);
  reserve(k, 2 * WINDOW);
  k.built |= t.bit;
}

// Input and output are staged through two 64 KiB windows: small enough to stay in L2 between the
// copy in, the kernel and the copy out.
const WINDOW = 1 << 16;

let enabled = true;
let loaded: Loaded | null | undefined;

/**
 * Runs fn, a quantization of the float32 values in `src` (one or more codec calls that together
 * read every value exactly once, each given the scan fn receives): the WebAssembly kernels check
 * every window of input they read for NaN/Inf while it is in cache and add it to the scan.
 * Returns true when src holds a NaN or infinity, false when it holds none, and null when the
 * kernels did not read all of it (TypeScript paths, kernels off): then the caller checks src itself.
 */
export function scanFinite(src: Float32Array, fn: (scan: FiniteScan) => void): boolean | null {
  const s: FiniteScan = { checked: 0, nonfinite: false };
  fn(s);
  if (s.nonfinite) return true;
  return s.checked === src.byteLength ? false : null;
}

/** Adds a window of `bytes` bytes of float32 input at ptr to the scan. */
function scanWindow(k: Loaded, s: FiniteScan, ptr: number, bytes: number): void {
  s.checked += bytes;
  if (!s.nonfinite && (k.exports.f32_any_nonfinite as (p: number, n: number) => number)(ptr, bytes >>> 2))
    s.nonfinite = true;
}

/** How a quantize kernel's run went: done, not run (kernels off or unavailable, no kernel for the case), or refused. */
export type KernelRun = 'done' | 'off' | 'refused';

/**
 * Quantizes nRows rows of nPerRow values of a format (geometry `t`) with its kernels: the row
 * kernel with an importance matrix, else the block kernel. 'refused' when a lattice kernel met
 * input ggml aborts on (or whose handling it leaves to the TypeScript reference): the codec then
 * throws or reruns its TypeScript path. Shapes must have been checked by the caller.
 */
export function wasmQuantize(
  kernels: QuantKernels,
  t: GgmlTypeInfo,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
  scan: FiniteScan | undefined,
): KernelRun {
  const name = imatrix ? kernels.quantImatrix : kernels.quant;
  if (name === undefined || !enabled) return 'off';
  const k = load();
  if (!k) return 'off';
  const lattice = LATTICE[name];
  let failed: (() => number) | null = null;
  if (lattice) {
    prepare(k, lattice.tables);
    failed = k.exports[lattice.failed] as () => number;
    failed(); // cleared
  }
  const nb = nPerRow / t.blockSize;
  if (imatrix) runRows(k, name as RowKernelName, src, dst, nRows, nPerRow, nb * t.typeSize, imatrix, scan);
  else runBlocks(k, name as BlockKernelName, src, dst, nRows * nb, 4 * t.blockSize, t.typeSize, scan);
  return failed !== null && failed() !== 0 ? 'refused' : 'done';
}

/** Dequantizes n values of a format (geometry `t`) with its kernel; false when kernels are off or missing. */
export function wasmDequantize(
  kernel: BlockKernelName,
  t: GgmlTypeInfo,
  src: Uint8Array,
  dst: Float32Array,
  n: number,
): boolean {
  if (!enabled) return false;
  const k = load();
  if (!k) return false;
  runBlocks(k, kernel, src, dst, n / t.blockSize, t.typeSize, 4 * t.blockSize, undefined);
  return true;
}

/** Turns the WebAssembly kernels on or off (off: every codec runs its TypeScript reference). */
export function setWasmKernels(on: boolean): void {
  enabled = on;
}

/** True when codecs will use the WebAssembly kernels. */
export function wasmKernelsActive(): boolean {
  return enabled && load() !== null;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  // Node (and each worker thread) decodes natively; browsers through atob
  const B = (globalThis as { Buffer?: { from(s: string, enc: 'base64'): Uint8Array } }).Buffer;
  if (B) {
    const b = B.from(s, 'base64');
    const out = new Uint8Array(new ArrayBuffer(b.length));
    out.set(b);
    return out;
  }
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function load(): Loaded | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    if (typeof WebAssembly !== 'object') return null;
    const mod = new WebAssembly.Module(decodeBase64(KERNELS_WASM_BASE64));
    const inst = new WebAssembly.Instance(mod, {});
    const exports = inst.exports as Record<string, unknown>;
    const memory = exports.memory as WebAssembly.Memory;
    const base = ((exports.heapBase as () => number)() + 15) & ~15;
    loaded = { exports, memory, base, built: 0 };
    reserve(loaded, 2 * WINDOW);
  } catch {
    loaded = null; // no WebAssembly SIMD here: the TypeScript path serves
  }
  return loaded;
}

/** Grows linear memory so that `bytes` bytes from base are usable. */
function reserve(k: Loaded, bytes: number): void {
  const need = k.base + bytes;
  const have = k.memory.buffer.byteLength;
  if (need > have) k.memory.grow(Math.ceil((need - have) / 65536));
}

function bytesOf(v: ArrayBufferView, n: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, n);
}

/**
 * Runs block kernel `name` over `count` units (blocks, or values for float conversions) of
 * inBytes each from src into outBytes each in dst, adding the input windows to `scan` when given.
 */
function runBlocks(
  k: Loaded,
  name: BlockKernelName,
  src: ArrayBufferView,
  dst: ArrayBufferView,
  count: number,
  inBytes: number,
  outBytes: number,
  scan: FiniteScan | undefined,
): void {
  const kernel = k.exports[name] as Kernel;
  const s = bytesOf(src, count * inBytes);
  const d = bytesOf(dst, count * outBytes);
  const per = Math.max(1, Math.floor(WINDOW / Math.max(inBytes, outBytes)));
  const inPtr = k.base;
  const outPtr = k.base + WINDOW;
  const heap = new Uint8Array(k.memory.buffer);
  for (let i = 0; i < count; i += per) {
    const m = Math.min(per, count - i);
    heap.set(s.subarray(i * inBytes, (i + m) * inBytes), inPtr);
    if (scan) scanWindow(k, scan, inPtr, m * inBytes);
    kernel(inPtr, outPtr, m);
    d.set(heap.subarray(outPtr, outPtr + m * outBytes), i * outBytes);
  }
}

/**
 * Runs a row kernel (importance-weighted quantization) over nRows rows of nPerRow floats from src
 * into dst (rowBytes per row), with imatrix holding nPerRow importances, adding the input windows
 * to `scan` when given.
 */
function runRows(
  k: Loaded,
  name: RowKernelName,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  rowBytes: number,
  imatrix: Float32Array,
  scan: FiniteScan | undefined,
): void {
  const kernel = k.exports[name] as RowKernel;
  const inRow = nPerRow * 4;
  const per = Math.max(1, Math.floor(WINDOW / inRow));
  const inBytes = per * inRow;
  const outBytes = (per * rowBytes + 15) & ~15;
  reserve(k, inRow + inBytes + outBytes);
  const qwPtr = k.base;
  const inPtr = qwPtr + inRow;
  const outPtr = inPtr + inBytes;
  const heap = new Uint8Array(k.memory.buffer);
  heap.set(bytesOf(imatrix, inRow), qwPtr);
  const s = bytesOf(src, nRows * inRow);
  for (let r = 0; r < nRows; r += per) {
    const m = Math.min(per, nRows - r);
    heap.set(s.subarray(r * inRow, (r + m) * inRow), inPtr);
    if (scan) scanWindow(k, scan, inPtr, m * inRow);
    kernel(inPtr, outPtr, m, nPerRow, qwPtr);
    dst.set(heap.subarray(outPtr, outPtr + m * rowBytes), r * rowBytes);
  }
}
