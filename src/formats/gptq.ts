// `--encoder gptq`: rounding that compensates, in the same ggml formats. GPTQ (Frantar, Ashkboos,
// Hoefler, Alistarh 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers"): a weight row's values are rounded one input column after another, and each
// rounding error is spread over the columns not yet rounded so that the row's output on the
// calibration activations, Σ_t (w·x_t − ŵ·x_t)², stays as small as it can. With H = Σ x xᵀ (the
// activations' second moments, src/imatrix/hessian.ts) and U upper triangular with UᵀU = H⁻¹, the
// update after rounding column c is w[c+1..] −= (w_c − ŵ_c) / U[c,c] · U[c, c+1..].
//
// For ggml's formats, at each block the block's scales come from ggml's own search (the codec's
// quantize, with the importance matrix as usual) run on the row as compensated so far; then each
// value of the block takes the nearest level those scales allow (src/formats/code-slots.ts), its
// error compensated before the next. Formats whose values are coded together (the IQ1/IQ2/IQ3 grids)
// round a whole block at once and compensate the following blocks for it. The bytes are ordinary
// blocks of the format: stock llama.cpp decodes them. Rows are independent: any thread count gives
// the same bytes. Browser-safe.
import type { BlockCodec } from './codec.js';
import { codeLevels, codeSlots } from './code-slots.js';

/** What gptqFactor needs of the activations' matrix: Σ x xᵀ (upper triangle read) over `rows` rows. */
export interface SecondMoments {
  readonly d: number;
  readonly sum: Float64Array;
  readonly rows: number;
}

/** GPTQ's dampening: λ = 1 % of the mean diagonal added to it (the paper's default, not tuned here). */
export const GPTQ_DAMP = 0.01;

/**
 * U, upper triangular with UᵀU = (H + λI)⁻¹ (row-major d × d), from H = V Vᵀ (V upper triangular,
 * a Cholesky factorisation taken from the last column back) and U = V⁻¹. Columns no input ever
 * reached (H[i,i] = 0) get H[i,i] = 1 as in GPTQ. Null when H is not positive definite even with
 * 10× and 100× the dampening.
 */
export function gptqFactor(h: SecondMoments, damp = GPTQ_DAMP): Float64Array | null {
  return gptqFactorDamped(h, damp)?.u ?? null;
}

/** gptqFactor's U with the dampening λ it added (H + λI: the loss quantizeRowsGptq reports is in that matrix). */
export function gptqFactorDamped(h: SecondMoments, damp = GPTQ_DAMP): { u: Float64Array; lambda: number } | null {
  const d = h.d;
  const a = new Float64Array(d * d);
  const scale = h.rows > 0 ? 1 / h.rows : 1;
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++) {
      const v = h.sum[i * d + j]! * scale;
      a[i * d + j] = v;
      a[j * d + i] = v;
    }
  let mean = 0;
  for (let i = 0; i < d; i++) {
    if (!(a[i * d + i]! > 0)) a[i * d + i] = 1;
    mean += a[i * d + i]!;
  }
  mean /= d;
  for (let attempt = 0; attempt < 3; attempt++) {
    const lambda = damp * mean * 10 ** attempt;
    const u = factor(a, d, lambda);
    if (u) return { u, lambda };
  }
  return null;
}

/**
 * xᵀ H x for one row x of n = h.d values, H = Σ x xᵀ / rows (the activations' mean second moments,
 * undamped): the squared output a row of weights x (or an error x) gives on the calibration
 * activations, per activation row. n²/2 multiply-adds.
 */
export function momentsQuadratic(h: SecondMoments, x: ArrayLike<number>, xo = 0): number {
  const d = h.d,
    s = h.sum;
  let total = 0;
  for (let i = 0; i < d; i++) {
    const xi = x[xo + i]!;
    if (xi === 0) continue;
    const ri = i * d;
    let t = 0;
    for (let j = i + 1; j < d; j++) t += s[ri + j]! * x[xo + j]!;
    total += xi * (s[ri + i]! * xi + 2 * t);
  }
  return h.rows > 0 ? total / h.rows : total;
}

function factor(a: Float64Array, d: number, lambda: number): Float64Array | null {
  // V upper with A + λI = V Vᵀ: V[j,i] = (A[j,i] − Σ_{k>i} V[j,k] V[i,k]) / V[i,i], from i = d−1 down
  const v = new Float64Array(d * d);
  for (let i = d - 1; i >= 0; i--) {
    const ri = i * d;
    let s = a[ri + i]! + lambda;
    for (let k = i + 1; k < d; k++) s -= v[ri + k]! * v[ri + k]!;
    if (!(s > 0) || !Number.isFinite(s)) return null;
    const vii = Math.sqrt(s);
    v[ri + i] = vii;
    for (let j = 0; j < i; j++) {
      const rj = j * d;
      let t = a[rj + i]!;
      for (let k = i + 1; k < d; k++) t -= v[rj + k]! * v[ri + k]!;
      v[rj + i] = t / vii;
    }
  }
  // U = V⁻¹ (upper), rows from the bottom: U[i,i] = 1/V[i,i], U[i,j] = −Σ_{k>i} V[i,k] U[k,j] / V[i,i]
  const u = new Float64Array(d * d);
  const t = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    const ri = i * d;
    t.fill(0);
    for (let k = i + 1; k < d; k++) {
      const vik = v[ri + k]!;
      if (vik === 0) continue;
      const rk = k * d;
      for (let j = k; j < d; j++) t[j] = t[j]! + vik * u[rk + j]!;
    }
    const inv = 1 / v[ri + i]!;
    u[ri + i] = inv;
    for (let j = i + 1; j < d; j++) u[ri + j] = -t[j]! * inv;
  }
  for (let i = 0; i < d * d; i++) if (!Number.isFinite(u[i]!)) return null;
  return u;
}

/** Scratch a quantizeRowsGptq call reuses between rows. */
interface Scratch {
  w: Float64Array;
  row: Float32Array;
  q: Uint8Array;
  levels: Float32Array;
  tmp: Uint8Array;
  deq: Float32Array;
  err: Float64Array;
  /** Σ of the scaled errors² of the row being quantized */
  loss: number;
}

/**
 * Quantizes nRows rows of n values with GPTQ's compensation (U from gptqFactor for this tensor's
 * input, n × n), each block's scales by `quantize` (another encoder's search for the same format;
 * null: ggml's own, the codec's) with the importance matrix `imatrix`. Writes the rows' bytes at dst.
 * With `loss`, adds each row's GPTQ loss Σ_c e_c² (e_c the column's error over U[c,c], or a block's
 * solved errors) at loss[row]: exactly (w − ŵ)ᵀ (H + λI) (w − ŵ) for the H and λ U was made from,
 * w the row as given and ŵ its decoded values, since w − ŵ = Uᵀe.
 */
export function quantizeRowsGptq(
  codec: BlockCodec,
  quantize: BlockCodec['quantize'] | null,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  n: number,
  imatrix: Float32Array | null,
  u: Float64Array,
  loss?: Float64Array,
): void {
  const bs = codec.type.blockSize,
    bb = codec.type.typeSize;
  const rowBytes = (n / bs) * bb;
  const slots = codeSlots(codec);
  const k = slots ? slots.codes : 0;
  // ggml's own search (null): on the block alone where that gives the same bytes
  const local = !quantize && blockLocal(codec, imatrix);
  const search = quantize ?? codec.quantize.bind(codec);
  const s: Scratch = {
    w: new Float64Array(n),
    row: new Float32Array(n),
    q: new Uint8Array(rowBytes),
    levels: new Float32Array(k * bs),
    tmp: new Uint8Array(bb),
    deq: new Float32Array(bs),
    err: new Float64Array(bs),
    loss: 0,
  };
  for (let r = 0; r < nRows; r++) {
    const w = s.w;
    s.loss = 0;
    for (let j = 0; j < n; j++) w[j] = src[r * n + j]!;
    const out = dst.subarray(r * rowBytes, (r + 1) * rowBytes);
    for (let b0 = 0, bi = 0; b0 < n; b0 += bs, bi++) {
      // the block's scales (and first codes): the codec's search on the row as it stands now; where
      // the search reads nothing outside the block, on the block alone (the same bytes)
      const block = out.subarray(bi * bb, (bi + 1) * bb);
      if (local) {
        for (let j = 0; j < bs; j++) s.row[j] = w[b0 + j]!;
        search(s.row.subarray(0, bs), block, 1, bs, imatrix ? imatrix.subarray(b0, b0 + bs) : null);
      } else {
        for (let j = 0; j < n; j++) s.row[j] = w[j]!;
        search(s.row, s.q, 1, n, imatrix);
        block.set(s.q.subarray(bi * bb, (bi + 1) * bb));
      }
      if (slots) roundColumns(codec, slots, block, w, b0, n, u, s);
      else compensateBlock(codec, block, w, b0, n, u, s);
    }
    if (loss) loss[r] = loss[r]! + s.loss;
  }
}

/**
 * Formats whose ggml search, given an importance matrix, weighs a block by the mean square of the
 * whole row (quantize_row_q4_0_impl and its Q4_1, Q5_0, Q5_1 kin: σ² = Σ x² / n_per_row). Every
 * other format's search reads its own block (or 256-value super-block) alone: Q8_0 ignores the
 * imatrix, IQ4_NL, the K-quants, IQ4_XS and the grid i-quants take σ² per block.
 */
const ROW_WEIGHTED = new Set(['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']);

/** True when a block's bytes from ggml's search do not depend on the rest of its row (tested against ggml). */
export function blockLocal(codec: BlockCodec, imatrix: Float32Array | null): boolean {
  return !imatrix || !ROW_WEIGHTED.has(codec.name);
}

/** Value by value: the nearest level the block's scales allow, its error spread over the later columns. */
function roundColumns(
  codec: BlockCodec,
  slots: NonNullable<ReturnType<typeof codeSlots>>,
  block: Uint8Array,
  w: Float64Array,
  b0: number,
  n: number,
  u: Float64Array,
  s: Scratch,
): void {
  const bs = codec.type.blockSize;
  const nk = slots.codes;
  const lv = s.levels;
  codeLevels(codec, slots, block, lv, s.tmp);
  for (let j = 0; j < bs; j++) {
    const c = b0 + j;
    const x = w[c]!;
    const best = nearestCode(lv, bs, j, nk, x);
    slots.set(block, j, best);
    const q = lv[best * bs + j]!;
    w[c] = q;
    const e = (x - q) / u[c * n + c]!;
    s.loss += e * e;
    spread(w, u, c, c + 1, n, e);
  }
}

/**
 * The lowest code k whose level for value j (lv[k·bs + j]) is nearest x: what a scan of every code
 * keeping the first strictly smaller |x − level| gives, found by bisection. In every format with
 * code slots a value's levels are monotone in its code (the code times the block's scales plus an
 * offset, or IQ4's ascending table times the scale; float32 rounding keeps the order), so the
 * nearest level is one of the two around x; equal levels (a zero scale) are walked back to the
 * lowest code. (Tested against the scan for every format.)
 */
export function nearestCode(lv: Float32Array, bs: number, j: number, nk: number, x: number): number {
  const up = lv[(nk - 1) * bs + j]! >= lv[j]!;
  let lo = 0,
    hi = nk;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = lv[mid * bs + j]!;
    if (up ? v >= x : v <= x) hi = mid;
    else lo = mid + 1;
  }
  let best =
    lo === 0
      ? 0
      : lo === nk
        ? nk - 1
        : Math.abs(x - lv[(lo - 1) * bs + j]!) <= Math.abs(x - lv[lo * bs + j]!)
          ? lo - 1
          : lo;
  const e = Math.abs(x - lv[best * bs + j]!);
  while (best > 0 && Math.abs(x - lv[(best - 1) * bs + j]!) === e) best--;
  return best;
}

/** w[t] −= e · U[c, t] for t ≥ from: column c's (scaled) error spread over the columns after it. */
function spread(w: Float64Array, u: Float64Array, c: number, from: number, n: number, e: number): void {
  if (e === 0) return;
  const rc = c * n;
  for (let t = from; t < n; t++) w[t] = w[t]! - e * u[rc + t]!;
}

/**
 * A block rounded as a whole (the codec's own codes): its error E spread over the later columns as
 * the optimal update for rounding several columns at once: w[rest] −= E U_bb⁻¹ U_b,rest.
 */
function compensateBlock(
  codec: BlockCodec,
  block: Uint8Array,
  w: Float64Array,
  b0: number,
  n: number,
  u: Float64Array,
  s: Scratch,
): void {
  const bs = codec.type.blockSize;
  codec.dequantize(block, s.deq, bs);
  const e = s.err;
  // e' U_bb = (w_b − ŵ_b): forward substitution (U_bb upper triangular)
  for (let j = 0; j < bs; j++) {
    const c = b0 + j;
    let v = w[c]! - s.deq[j]!;
    for (let k = 0; k < j; k++) v -= e[k]! * u[(b0 + k) * n + c]!;
    e[j] = v / u[c * n + c]!;
    s.loss += e[j]! * e[j]!;
    w[c] = s.deq[j]!;
  }
  for (let k = 0; k < bs; k++) spread(w, u, b0 + k, b0 + bs, n, e[k]!);
}
