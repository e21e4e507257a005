// Loads the WebAssembly SIMD kernels (kernels.wasm.ts, built from the .as sources beside it by
// scripts/build-wasm.mjs) synchronously on first use, in Node and the browser alike. Codecs call
// wasmBlocks() and fall back to their TypeScript reference when it returns false: WebAssembly or
// SIMD missing, compilation refused (e.g. a CSP without wasm-unsafe-eval), or kernels switched
// off with setWasmKernels(false) (tests run both paths against ggml).
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

/** kernel(srcPtr, dstPtr, count): count blocks (or values, for the float conversions). */
type Kernel = (src: number, dst: number, count: number) => void;

export type KernelName =
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
  | 'iq3_xxs_quant'
  | 'iq3_s_quant'
  | 'iq2_s_quant'
  | 'iq1_m_quant';

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

/** Dequantizers of the K-quants, IQ4, TQ and MXFP4 (dequant.as), the grid i-quants (iqdeq.as). */
export type DequantKernelName =
  | 'q2_K_dequant'
  | 'q3_K_dequant'
  | 'q4_K_dequant'
  | 'q5_K_dequant'
  | 'q6_K_dequant'
  | 'iq4_nl_dequant'
  | 'iq4_xs_dequant'
  | 'tq1_0_dequant'
  | 'tq2_0_dequant'
  | 'mxfp4_dequant'
  | 'tq1_0_quant'
  | 'tq2_0_quant'
  | 'mxfp4_quant'
  | 'q2_0_quant'
  | 'q2_0_dequant'
  | 'iq1_m_dequant'
  | 'iq2_xxs_dequant'
  | 'iq2_xs_dequant'
  | 'iq2_s_dequant'
  | 'iq1_s_dequant'
  | 'iq3_s_dequant'
  | 'iq3_xxs_dequant';

interface Loaded {
  exports: Record<string, unknown>;
  memory: WebAssembly.Memory;
  /** where the windows start (moved past the lattice tables once an IQ3 or IQ2 kernel runs) */
  base: number;
  iq3: boolean;
  /** IQ2 grids whose tables are built (bit 0: 256 points, bit 1: 512, bit 2: 1024, bit 3: 2048, IQ1_S and IQ1_M) */
  iq2: number;
}

/**
 * The lattice kernels keep tables past the static data: IQ3 (iq3.as) ~1.1 MB from heapBase, built
 * on its first call; IQ2, IQ1_S (iq2.as) and IQ1_M (iq1m.as) per grid from iq3_tables_end() on, built by iq2_init (which
 * grows memory itself). Before a kernel's first call the windows move past its tables (nothing is
 * kept in the windows between calls, so moving is safe), never back below tables already built.
 */
function lattice(k: Loaded, name: string): void {
  if (name.endsWith('_dequant')) return; // the dequantizers read only static data (iqdeq.as)
  if (!k.iq3 && name.startsWith('iq3_')) {
    k.base = Math.max(k.base, ((k.exports.iq3_tables_end as () => number)() + 15) & ~15);
    reserve(k, 2 * WINDOW);
    k.iq3 = true;
  } else if (name.startsWith('iq2_') || name.startsWith('iq1_')) {
    const g = name.startsWith('iq2_xxs') ? 0 : name.startsWith('iq2_xs') ? 1 : name.startsWith('iq2_s') ? 2 : 3;
    if (k.iq2 & (1 << g)) return;
    k.base = Math.max(k.base, ((k.exports.iq2_init as (g: number) => number)(g) + 15) & ~15);
    reserve(k, 2 * WINDOW);
    k.iq2 |= 1 << g;
  }
}

// Input and output are staged through two 64 KiB windows: small enough to stay in L2 between the
// copy in, the kernel and the copy out.
const WINDOW = 1 << 16;

let enabled = true;

/**
 * While a scan is open (scanFinite), every window of float32 input a quantize kernel reads is also
 * checked for NaN/Inf while it is in cache, and the bytes checked are counted.
 */
interface FiniteScan {
  checked: number;
  nonfinite: boolean;
}
let scan: FiniteScan | null = null;

/** Kernels whose input is the float32 being quantized (the others read blocks). */
function readsF32(name: string): boolean {
  return name.endsWith('_quant') || name === 'f32_to_f16' || name === 'f32_to_bf16';
}

/**
 * Runs fn, a quantization of the float32 values in `src` (one or more codec calls that together
 * read every value exactly once), checking the input for NaN/Inf in the same pass where the
 * WebAssembly kernels do the work. Returns true when src holds a NaN or infinity, false when it
 * holds none, and null when the kernels did not read all of it (TypeScript paths, kernels off):
 * then the caller checks src itself.
 */
export function scanFinite(src: Float32Array, fn: () => void): boolean | null {
  const outer = scan;
  const s: FiniteScan = { checked: 0, nonfinite: false };
  scan = s;
  try {
    fn();
  } finally {
    scan = outer;
  }
  if (s.nonfinite) return true;
  return s.checked === src.byteLength ? false : null;
}

/** The open scan's check of a window of `bytes` bytes at ptr (float32 input). */
function scanWindow(k: Loaded, ptr: number, bytes: number): void {
  const s = scan!;
  s.checked += bytes;
  if (!s.nonfinite && (k.exports.f32_any_nonfinite as (p: number, n: number) => number)(ptr, bytes >>> 2))
    s.nonfinite = true;
}
let loaded: Loaded | null | undefined;

/** How a lattice kernel's run went: done, not run (kernels off or unavailable), or refused. */
export type LatticeRun = 'done' | 'off' | 'refused';

/**
 * Quantizes nRows rows of nPerRow values with a lattice kernel (IQ3: iq3.as; IQ2, IQ1_S: iq2.as;
 * IQ1_M: iq1m.as): the row kernel with an importance matrix, else the block kernel (256 values of
 * 1024 bytes per block; null when the format has none). 'refused' when a block held input ggml
 * aborts on (or whose handling the kernel leaves to the TypeScript reference): the codec then
 * throws or reruns its TypeScript path.
 */
export function wasmLatticeQuantize(
  blockKernel: KernelName | null,
  rowKernel: RowKernelName,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  rowBytes: number,
  imatrix: Float32Array | null,
): LatticeRun {
  const k = enabled ? load() : null;
  if (!k) return 'off';
  // the kernels raise a flag in their module, read and cleared by <family>_failed()
  const failed = k.exports[rowKernel.startsWith('iq3_') ? 'iq3_failed' : 'iq2_failed'] as () => number;
  failed();
  const nb = nPerRow / 256;
  const ran = imatrix
    ? wasmRows(rowKernel, src, dst, nRows, nPerRow, rowBytes, imatrix)
    : blockKernel !== null && wasmBlocks(blockKernel, src, dst, nRows * nb, 1024, rowBytes / nb);
  if (!ran) return 'off';
  return failed() !== 0 ? 'refused' : 'done';
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
    loaded = { exports, memory, base, iq3: false, iq2: 0 };
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
 * Runs kernel `name` over `count` units (blocks, or values for float conversions) of inBytes
 * each from src into outBytes each in dst. Returns false, doing nothing, when the kernels are
 * off or unavailable. Shapes must have been checked by the caller.
 */
export function wasmBlocks(
  name: KernelName | DequantKernelName,
  src: ArrayBufferView,
  dst: ArrayBufferView,
  count: number,
  inBytes: number,
  outBytes: number,
): boolean {
  if (!enabled) return false;
  const k = load();
  if (!k) return false;
  lattice(k, name);
  const kernel = k.exports[name] as Kernel;
  const s = bytesOf(src, count * inBytes);
  const d = bytesOf(dst, count * outBytes);
  const per = Math.max(1, Math.floor(WINDOW / Math.max(inBytes, outBytes)));
  const inPtr = k.base;
  const outPtr = k.base + WINDOW;
  const heap = new Uint8Array(k.memory.buffer);
  const checking = scan !== null && readsF32(name);
  for (let i = 0; i < count; i += per) {
    const m = Math.min(per, count - i);
    heap.set(s.subarray(i * inBytes, (i + m) * inBytes), inPtr);
    if (checking) scanWindow(k, inPtr, m * inBytes);
    kernel(inPtr, outPtr, m);
    d.set(heap.subarray(outPtr, outPtr + m * outBytes), i * outBytes);
  }
  return true;
}

/**
 * Runs a row kernel (importance-weighted quantization) over nRows rows of nPerRow floats from src
 * into dst (rowBytes per row), with imatrix holding nPerRow importances. Returns false, doing
 * nothing, when the kernels are off or unavailable. Shapes must have been checked by the caller.
 */
export function wasmRows(
  name: RowKernelName,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  rowBytes: number,
  imatrix: Float32Array,
): boolean {
  if (!enabled) return false;
  const k = load();
  if (!k) return false;
  lattice(k, name);
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
    if (scan) scanWindow(k, inPtr, m * inRow);
    kernel(inPtr, outPtr, m, nPerRow, qwPtr);
    dst.set(heap.subarray(outPtr, outPtr + m * rowBytes), r * rowBytes);
  }
  return true;
}
