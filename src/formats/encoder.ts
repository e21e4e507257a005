// `--encoder best`: for a given ggml type, codes and scales with less importance-weighted error
// than ggml's reference search, in the same format (stock ggml decodes them). Browser-safe.
//
// The objective per row: Σ_j w_j (x_j − x̂_j)², w_j = im_j · sqrt(σ² + x_j²) (bestObjectiveWeights:
// the imatrix, 1 without one, times ggml's own magnitude factor). Per row, several complete
// encodings are made:
//   - ggml's own (exactly what the default encoder writes),
//   - ggml's importance-weighted search run with per-row weights chosen so that its internal
//     weighting (qw_j · sqrt(σ² + x_j²)) comes out as, or near, the objective's w_j: ggml's search
//     then optimises (close to) the error that is judged, not its own proxy,
//   - a format's own refinement where one is written (FORMAT_REFINERS): wider scale searches with
//     a least-squares refit of the scale, on the objective itself,
// and every block is taken from whichever encoding decodes (with the format's own dequantizer) to
// the least weighted error, ggml's own on ties. Blocks are independent in every ggml format, so the
// mixture is a valid row, and its error is never higher than ggml's, block by block.
import type { BlockCodec, FiniteScan } from './codec.js';
import { LowbitError } from '../errors.js';
import { codecByTypeId } from './registry.js';
import { FORMAT_REFINERS } from './encoder-refine.js';

/** ggml's own; best (a stronger search per block); gptq (GPTQ's compensation from calibration activations, src/formats/gptq.ts) */
export type EncoderName = 'ggml' | 'best' | 'gptq';

export const ENCODERS: readonly EncoderName[] = ['ggml', 'best', 'gptq'];

export function parseEncoder(s: string): EncoderName {
  const v = s.trim().toLowerCase();
  if (v === 'ggml' || v === 'best' || v === 'gptq') return v;
  throw new LowbitError(`--encoder: unknown encoder '${s}' (known: ggml, best, gptq)`);
}

type Quantize = BlockCodec['quantize'];

/**
 * The quantize function an encoder uses for a codec (ggml's own for 'ggml', and for 'gptq', whose
 * compensation needs a tensor's activations and runs in the row jobs; ggml's search sets its scales).
 */
export function encoderQuantize(codec: BlockCodec, encoder: EncoderName | undefined): Quantize {
  if (!encoder || encoder === 'ggml' || encoder === 'gptq') return codec.quantize.bind(codec);
  return (src, dst, nRows, nPerRow, imatrix, scan) => quantizeBest(codec, src, dst, nRows, nPerRow, imatrix, scan);
}

/**
 * The weights of the judged error for one row: w_j = im_j · sqrt(σ² + x_j²), σ² the row's mean
 * square (im = 1 without an imatrix). This is the weighting ggml's own importance-weighted
 * searches aim at (quantize_row_*_impl): the imatrix's expected output error, with large weights
 * counted more. (Chosen over the imatrix alone after two measurements on brown-3m, Q4_0 and
 * Q4_K_M, where it gave the lower KL; stories260K and aidreams260K were not looked at for it.)
 */
export function bestObjectiveWeights(x: Float32Array, imatrix: Float32Array | null, out: Float32Array): void {
  const n = x.length;
  let s2 = 0;
  for (let j = 0; j < n; j++) s2 += x[j]! * x[j]!;
  s2 /= n;
  for (let j = 0; j < n; j++) out[j] = (imatrix ? imatrix[j]! : 1) * Math.sqrt(s2 + x[j]! * x[j]!);
}

/** Exponents p of the per-row weight variants qw_j = w_j / (σ² + x_j²)^p given to ggml's search (p = 0.5: ggml's internal weights come out as w). */
const WEIGHT_POWERS = [0.5, 0.25, 0];

/** Per block: importance-weighted squared error of a decoded row against x. */
function blockErrors(
  x: Float32Array,
  xo: number,
  y: Float32Array,
  w: Float32Array | null,
  n: number,
  bs: number,
  out: Float64Array,
): void {
  for (let b = 0, i = 0; i < n; b++, i += bs) {
    let e = 0;
    for (let j = i; j < i + bs; j++) {
      const d = x[xo + j]! - y[j]!;
      e += (w ? w[j]! : 1) * d * d;
    }
    out[b] = e;
  }
}

export function quantizeBest(
  codec: BlockCodec,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  imatrix: Float32Array | null,
  scan?: FiniteScan,
): void {
  const n = nPerRow;
  const bs = codec.type.blockSize,
    ts = codec.type.typeSize;
  const nb = n / bs;
  const rowBytes = nb * ts;
  // ggml's own encoding of every row first (also checks the arguments as ggml does); the one pass
  // over all of src, so the only one given the scan
  codec.quantize(src, dst, nRows, n, imatrix, scan);
  const refine = FORMAT_REFINERS.get(codec.type.id);
  if (!codec.usesImatrix && !refine) return;
  const cand = new Uint8Array(rowBytes);
  const y = new Float32Array(n);
  const best = new Float64Array(nb);
  const err = new Float64Array(nb);
  const qw = new Float32Array(n);
  const row = new Float32Array(n);
  const wObj = new Float32Array(n);
  for (let r = 0; r < nRows; r++) {
    const xo = r * n;
    const out = dst.subarray(r * rowBytes, (r + 1) * rowBytes);
    const x = src.subarray(xo, xo + n);
    bestObjectiveWeights(x, imatrix, wObj);
    codec.dequantize(out, y, n);
    blockErrors(src, xo, y, wObj, n, bs, best);
    const take = (bytes: Uint8Array) => {
      codec.dequantize(bytes, y, n);
      blockErrors(src, xo, y, wObj, n, bs, err);
      for (let b = 0; b < nb; b++) {
        if (err[b]! < best[b]!) {
          best[b] = err[b]!;
          out.set(bytes.subarray(b * ts, (b + 1) * ts), b * ts);
        }
      }
    };
    if (codec.usesImatrix) {
      let s2 = 0;
      for (let j = 0; j < n; j++) s2 += x[j]! * x[j]!;
      s2 /= n;
      for (const p of WEIGHT_POWERS) {
        for (let j = 0; j < n; j++) {
          const w = wObj ? wObj[j]! : 1;
          qw[j] = p === 0 ? w : w / Math.pow(s2 + x[j]! * x[j]!, p);
          if (!(qw[j]! > 0) || !Number.isFinite(qw[j]!)) qw[j] = Math.max(w, 1e-30);
        }
        // ggml may reject a row it cannot quantize (non-finite input): then only its own encoding stands
        row.set(x);
        try {
          codec.quantize(row, cand, 1, n, qw);
        } catch {
          continue;
        }
        take(cand);
      }
    }
    if (refine) {
      // a format's own search, started from the best blocks so far
      cand.set(out);
      refine(x, cand, n, wObj);
      take(cand);
    }
  }
}

/** The codec of a type id with the chosen encoder's quantize (ggml's own for 'ggml'). */
export function codecWithEncoder(typeId: number, encoder: EncoderName | undefined): BlockCodec | undefined {
  const c = codecByTypeId(typeId);
  if (!c || !encoder || encoder === 'ggml') return c;
  return { ...c, quantize: encoderQuantize(c, encoder), dequantize: c.dequantize.bind(c) };
}
