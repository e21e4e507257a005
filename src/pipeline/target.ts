// --target-size / --target-bpw: measure what each candidate type costs each free tensor, then let
// src/plan/allocate.ts split the byte budget. Browser-safe (reads through a ByteSource).
//
// The damage measure, per tensor and type: quantize a deterministic sample of the tensor's rows
// with the very codec (and importance matrix) the real run uses, decode them as ggml does, and take
// the importance-weighted squared error Σ_j im_j (w_ij − ŵ_ij)². With an imatrix, im_j is the mean
// square of input j seen by that matrix, so this is the expected squared error of the layer's
// output (cross terms aside); without one im_j = 1 (plain squared error, and the plan says so).
// Each tensor's error is divided by its own signal Σ_j im_j w_ij² on the same rows: the noise-to-
// signal ratio of that matrix's output. The sensitivity of the model to each matrix's relative
// output noise is taken as equal for every tensor (no constant fitted to any model); the allocator
// minimises the sum of these ratios over the model at the size asked.
//
// Under --encoder gptq (with the calibration's activation moments H per tensor) the candidates are
// rounded as the run rounds them, by GPTQ, and judged with the full H instead of its diagonal:
// (w − ŵ)ᵀ H (w − ŵ) over wᵀ H w, the first from GPTQ's own loss (src/formats/gptq.ts).
import type { ByteSource } from '../io/source.js';
import type { GgufFile, GgufTensorInfo } from '../io/gguf/reader.js';
import { codecByTypeId } from '../formats/registry.js';
import { rowBytes, type BlockCodec } from '../formats/codec.js';
import { GGML_TYPE as T, ggmlTypeById } from '../formats/ggml-types.js';
import { LowbitError } from '../errors.js';
import type { RowExecutor } from './executor.js';
import { encodeSampled, encodeSampledGptq } from './target-encode.js';
import { measureStaged } from './target-staged.js';
import { allocate, type AllocItem, type Candidate } from '../plan/allocate.js';
import { FILE_TYPES, type FileType } from '../plan/file-types.js';
import { isTokenEmbd, requiresImatrix, tensorCategory } from '../plan/tensor-rules.js';
import { tensorBytes, typeName, type PlannedTensor, type QuantPlan } from '../plan/plan.js';
import { momentsQuadratic, type SecondMoments } from '../formats/gptq.js';

export interface TargetOptions {
  /** the whole output file, bytes (header included) */
  bytes?: number;
  /** bits per weight of the tensor data (llama.cpp's BPW: tensor bytes × 8 / elements) */
  bpw?: number;
  /** ggml types to choose from (default: TARGET_TYPES that fit) */
  types?: readonly number[];
  /** --sensitivity engine: measured KL per kind of tensor at a probe type (src/eval/sensitivity.ts) */
  sensitivity?: KindSensitivity;
  /** --refine: improves the search's choice by judging whole files (src/eval/refine-engine.ts) */
  refine?: TargetRefiner;
}

/** What a refiner gets: the measured candidates, the search's choice, the budget of the free tensors. */
export interface RefineRequest {
  items: AllocItem[];
  choice: number[];
  budget: number;
  /** the assignment (as QuantizeOptions.assignment takes it) a choice stands for */
  assignmentOf: (choice: readonly number[]) => { types: Map<string, TargetChoice>; fileType: FileType };
}

export interface RefineSummary {
  choice: number[];
  /** the judge's value of the search's choice and of the refined one */
  klStart: number;
  kl: number;
  evals: number;
  moves: { steps: { item: number; from: number; to: number }[]; klBefore: number; klAfter: number }[];
  seconds: number;
  /** how it judged, in words */
  judge: string;
}

export type TargetRefiner = (r: RefineRequest) => Promise<RefineSummary>;

/**
 * The real engine's KL when only the free tensors of one kind (tensorCategory), or only one free
 * tensor (per 'tensor': keys are tensor names), are quantized to probeType.
 */
export interface KindSensitivity {
  probeType: number;
  per?: 'kind' | 'tensor';
  kl: Map<string, number>;
  seconds: number;
  tokens: number;
}

/** The default candidates: the types stock llama.cpp loads and lowbit writes, best first. */
export const TARGET_TYPES: readonly number[] = [
  T.F16,
  T.Q8_0,
  T.Q6_K,
  T.Q5_K,
  T.Q5_1,
  T.Q5_0,
  T.Q4_K,
  T.Q4_1,
  T.IQ4_XS,
  T.IQ4_NL,
  T.Q4_0,
  T.Q3_K,
  T.IQ3_S,
  T.IQ3_XXS,
  T.Q2_K,
  T.IQ2_S,
  T.IQ2_XS,
  T.IQ2_XXS,
  T.IQ1_M,
  T.IQ1_S,
];

/** One tensor's choice, as the plan shows it. */
export interface TargetChoice {
  type: number;
  reason: string;
}

/** --encoder gptq: a tensor's activation moments and the factor its rows are rounded with. */
export interface GptqMeasure {
  moments: SecondMoments;
  u: Float64Array;
  lambda: number;
}

export interface TensorMeasure {
  name: string;
  /** sampled rows of all */
  rows: number;
  nRows: number;
  imatrix: boolean;
  candidates: (Candidate & {
    nsr: number;
    /** --encoder gptq with --sensitivity: ggml's encoding's error at the probe type (what the probe file held), same measure */
    probeNsr?: number;
  })[];
  chosen: number;
  /** --sensitivity engine: the factor its relative errors were scaled by */
  sensitivity?: number;
}

export interface TargetAllocation {
  /** free tensor name -> type */
  assignment: Map<string, TargetChoice>;
  /** general.file_type written: the llama.cpp file type whose default type holds most weights */
  fileType: FileType;
  targetBytes: number;
  /** predicted output size (exact: header + padded tensor data) */
  predictedBytes: number;
  /** Σ predicted relative errors of the free tensors */
  predictedError: number;
  /** bytes the header and the fixed tensors (user rules, unquantizable ones) take */
  fixedBytes: number;
  measures: TensorMeasure[];
  /** what the error measure used */
  measure: string;
  seconds: number;
  /** --refine: what the measured local search did (moves name tensors by their types) */
  refine?: {
    klStart: number;
    kl: number;
    evals: number;
    seconds: number;
    judge: string;
    moves: { tensors: { name: string; from: string; to: string }[]; klBefore: number; klAfter: number }[];
  };
}

/** Rows of a tensor sampled for the measurement: enough for ~2^18 weights, at least 64 rows (all of a small tensor). */
export function sampleRows(nRows: number, rowLength: number): number[] {
  const k = Math.min(nRows, Math.max(64, Math.ceil(262144 / Math.max(1, rowLength))));
  return Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * nRows) / k));
}

export interface MeasureInput {
  src: ByteSource;
  file: GgufFile;
  /** the plan the rules give (user rules and unquantizable tensors stay as they are in it) */
  plan: QuantPlan;
  /** file bytes the plan's output would take (header included) */
  planFileBytes: number;
  /** imatrix entry a tensor's quantization uses, or null (as the real run finds it) */
  imatrixFor: (t: PlannedTensor, ti: GgufTensorInfo) => Float32Array | null;
  hasImatrix: boolean;
  /** the run's threads: the sampled rows are quantized on them (same bytes as on one) */
  executor?: RowExecutor;
  /**
   * --encoder gptq: a tensor's activation moments and GPTQ factor (null: the real run rounds it
   * without compensation). Its candidates are then GPTQ-encoded and judged by the output error
   * with the activations' full correlations, (w − ŵ)ᵀ H (w − ŵ) over wᵀ H w.
   */
  gptq?: (t: PlannedTensor, ti: GgufTensorInfo) => Promise<GptqMeasure | null>;
}

/** True for tensors the allocation chooses: quantizable and not fixed by the user's own rules. */
export function isFree(t: PlannedTensor): boolean {
  return t.quantizable && t.kind !== 'override';
}

/** Measures every free tensor's candidates and splits the budget. */
export async function allocateTarget(inp: MeasureInput, target: TargetOptions): Promise<TargetAllocation> {
  const t0 = performance.now();
  const { plan, file } = inp;
  const align = file.alignment;
  const padded = (b: number) => Math.ceil(b / align) * align;
  const free = plan.tensors.filter(isFree);
  // everything that does not depend on the choice: header, fixed tensors (padded)
  let planData = 0;
  for (const t of plan.tensors) planData += padded(t.dstBytes);
  const header = inp.planFileBytes - planData;
  let fixedData = 0;
  for (const t of plan.tensors) if (!isFree(t)) fixedData += padded(t.dstBytes);
  let targetBytes: number;
  if (target.bytes !== undefined) targetBytes = target.bytes;
  else if (target.bpw !== undefined) {
    if (!(target.bpw > 0)) throw new LowbitError(`--target-bpw must be a positive number, not ${target.bpw}`, 'EUSAGE');
    // bits per weight of the tensor data (as llama-quantize prints it): the header comes on top
    targetBytes = header + Math.floor((target.bpw * plan.nElements) / 8);
  } else throw new LowbitError('no target size given');
  const budget = targetBytes - header - fixedData;

  const info = new Map(file.tensors.map((t) => [t.name, t]));
  const types = target.types ?? TARGET_TYPES;
  // measured in two stages (src/pipeline/target-staged.ts): every type on a subsample, then the
  // types near the first allocation's pick on all sampled rows
  const solve = (measures: TensorMeasure[]) => {
    // measured sensitivities: each kind's (or tensor's) KL per unit of summed relative error at the probe type
    let sensNote = '';
    if (target.sensitivity) {
      const sens = target.sensitivity;
      const perTensor = sens.per === 'tensor';
      const keyOf = (name: string) => (perTensor ? name : tensorCategory(name));
      const factor = new Map<string, number>();
      for (const [key, kl] of sens.kl) {
        let nsr = 0;
        for (const m of measures)
          if (keyOf(m.name) === key) {
            const c = m.candidates.find((c) => c.type === sens.probeType);
            nsr += c ? (c.probeNsr ?? c.nsr) : 0;
          }
        if (nsr > 0) factor.set(key, Math.max(kl, 1e-12) / nsr);
      }
      const known = [...factor.values()].sort((a, b) => a - b);
      const median = known.length ? known[Math.floor(known.length / 2)]! : 1;
      for (const m of measures) {
        const f = factor.get(keyOf(m.name)) ?? median;
        for (const c of m.candidates) c.error = c.nsr * f;
        m.sensitivity = f;
      }
      const shown = [...sens.kl].map(([k, v]) => `${k} ${v.toExponential(2)}`);
      sensNote = `; each scaled by its ${perTensor ? 'own' : "kind's"} measured KL per unit at ${typeName(sens.probeType)} (llama.cpp, ${sens.tokens} tokens, ${sens.seconds.toFixed(1)} s: ${perTensor ? `${shown.length} tensors` : shown.join(', ')})`;
    }
    const items: AllocItem[] = measures.map((m) => ({ name: m.name, candidates: m.candidates }));
    return { r: allocate(items, budget), sensNote };
  };
  const measures = await measureStaged(
    free,
    types,
    (t) => ({
      rows: sampleRows(info.get(t.name)!.nRows, info.get(t.name)!.rowLength),
      rowLength: info.get(t.name)!.rowLength,
    }),
    (t, ts, rows) => measureTensor(inp, t, info.get(t.name)!, ts, padded, rows, target.sensitivity?.probeType),
    (ms) => solve(ms).r.choice,
  );
  const { r, sensNote } = solve(measures);
  const items: AllocItem[] = measures.map((m) => ({ name: m.name, candidates: m.candidates }));
  const elements = new Map(plan.tensors.map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
  const assignmentOf = (choice: readonly number[]) => {
    const types = new Map<string, TargetChoice>();
    const weightsByType = new Map<number, number>();
    measures.forEach((m, k) => {
      const c = m.candidates[choice[k]!]!;
      types.set(m.name, { type: c.type, reason: 'target' });
      weightsByType.set(c.type, (weightsByType.get(c.type) ?? 0) + elements.get(m.name)!);
    });
    return { types, fileType: fileTypeFor(weightsByType, plan.fileType) };
  };
  let choice = r.choice;
  let refined: TargetAllocation['refine'];
  if (target.refine) {
    const rs = await target.refine({ items, choice: [...choice], budget, assignmentOf });
    let bytes = 0;
    rs.choice.forEach((i, k) => (bytes += measures[k]!.candidates[i]!.bytes));
    if (bytes > budget)
      throw new LowbitError(`internal: --refine exceeded the budget (${bytes} > ${budget})`, 'EINTERNAL');
    choice = rs.choice;
    refined = refineReport(rs, measures);
  }
  const moved = new Set(refined?.moves.flatMap((mv) => mv.tensors.map((x) => x.name)));
  const { types: chosenTypes, fileType } = assignmentOf(choice);
  const assignment = new Map<string, TargetChoice>();
  let predictedError = 0,
    freeBytes = 0;
  measures.forEach((m, k) => {
    m.chosen = choice[k]!;
    const c = m.candidates[m.chosen]!;
    predictedError += c.error;
    freeBytes += c.bytes;
    const reason =
      reasonOf(m) +
      (moved.has(m.name) && r.choice[k] !== m.chosen
        ? `; refined from ${typeName(m.candidates[r.choice[k]!]!.type)} (measured)`
        : '');
    assignment.set(m.name, { type: chosenTypes.get(m.name)!.type, reason });
  });
  return {
    assignment,
    fileType,
    targetBytes,
    predictedBytes: header + fixedData + freeBytes,
    predictedError,
    fixedBytes: header + fixedData,
    measures,
    measure:
      (inp.gptq
        ? "GPTQ-encoded candidates (--encoder gptq): output error with the activations' full correlations, (w − ŵ)ᵀ H (w − ŵ) over wᵀ H w, per tensor (importance-weighted squared error where a tensor has no activations)"
        : inp.hasImatrix
          ? 'importance-weighted (imatrix) squared error over the signal, per tensor'
          : 'no imatrix: plain squared error over the signal, per tensor (give --imatrix for an activation-weighted one)') +
      (sensNote || ', every tensor alike (--sensitivity engine measures each kind in llama.cpp)') +
      ', summed' +
      (refined
        ? `; then refined by measurement (${refined.judge}): KL ${refined.klStart.toExponential(3)} -> ${refined.kl.toExponential(3)}, ${refined.moves.length} moves kept, ${refined.evals} files judged in ${refined.seconds.toFixed(1)} s`
        : ''),
    seconds: (performance.now() - t0) / 1000,
    ...(refined ? { refine: refined } : {}),
  };
}

async function measureTensor(
  inp: MeasureInput,
  t: PlannedTensor,
  ti: GgufTensorInfo,
  types: readonly number[],
  padded: (b: number) => number,
  sampled?: readonly number[],
  probeType?: number,
): Promise<TensorMeasure> {
  const n = ti.rowLength;
  const srcCodec = codecByTypeId(t.srcType);
  if (!srcCodec) throw new LowbitError(`tensor ${t.name}: lowbit cannot read ${typeName(t.srcType)} yet`);
  const im = inp.imatrixFor(t, ti);
  const rows = sampled ?? sampleRows(ti.nRows, n);
  const rowsPerExpert = Math.max(1, ti.dims[1] ?? 1);
  // the sampled rows as float32, and each one's importances
  const w = new Float32Array(rows.length * n);
  const srcRowBytes = ti.rowBytes;
  for (let i = 0; i < rows.length; i++) {
    const bytes = await inp.src.read(ti.offset + rows[i]! * srcRowBytes, srcRowBytes);
    srcCodec.dequantize(bytes, w.subarray(i * n, (i + 1) * n), n);
  }
  const imOf = (i: number) =>
    im ? im.subarray(Math.floor(rows[i]! / rowsPerExpert) * n, (Math.floor(rows[i]! / rowsPerExpert) + 1) * n) : null;
  // --encoder gptq: the tensor's activations, when the real run compensates it
  const g = inp.gptq ? await inp.gptq(t, ti) : null;
  const h = g ? g.moments : null;
  // the diagonal the error is weighted by (the activations' mean squares, or the imatrix, or 1)
  const hDiag = h ? Float64Array.from({ length: n }, (_, j) => (h.rows > 0 ? h.sum[j * n + j]! / h.rows : 0)) : null;
  let signal = 0;
  for (let i = 0; i < rows.length; i++) {
    if (h) {
      signal += momentsQuadratic(h, w, i * n);
      continue;
    }
    const v = imOf(i);
    for (let j = 0; j < n; j++) {
      const x = w[i * n + j]!;
      signal += (v ? v[j]! : 1) * x * x;
    }
  }
  const candidates: TensorMeasure['candidates'] = [];
  const seen = new Set<number>();
  const isFloatSrc = t.srcType === T.F32 || t.srcType === T.F16 || t.srcType === T.BF16;
  const measured: number[] = [];
  for (const type of isFloatSrc ? [t.srcType, ...types] : types) {
    if (seen.has(type)) continue;
    seen.add(type);
    const codec = codecByTypeId(type);
    const gt = ggmlTypeById(type);
    if (!codec || !gt || n % gt.blockSize !== 0) continue;
    // types that need importances get them or are not candidates (llama.cpp's and ggml's checks)
    if (!im && (codec.requiresImatrix || requiresImatrix(t.name, type, 0))) continue;
    if (isTokenEmbd(t.name) && codec.requiresImatrix) continue;
    measured.push(type);
  }
  // GPTQ rounds block types only (as the real run: src/pipeline/quantize-gguf.ts gptqBuffer)
  const compensated = (type: number) => !!g && type !== t.srcType && codecByTypeId(type)!.type.blockSize > 1;
  // every ggml-encoded candidate's bytes for the sampled rows at once (on the run's threads:
  // src/pipeline/target-encode.ts); under gptq also the probe type's, for the sensitivity's scale
  const encoded = await encodeSampled(
    { w, n, rows, rowsPerExpert, im },
    measured.filter((type) => type !== t.srcType && (!compensated(type) || type === probeType)),
    inp.executor,
  );
  // the GPTQ candidates' bytes and losses (on the run's threads likewise)
  const gptqEncoded = g
    ? await encodeSampledGptq({ w, n, rows, rowsPerExpert, im }, measured.filter(compensated), g.u, inp.executor)
    : null;
  const d = new Float32Array(n);
  const delta = new Float64Array(n);
  // Σ over the sampled rows of a decoded encoding's error: the full quadratic form, or the diagonal one
  const errorOf = (codec: BlockCodec, q: Uint8Array, full: boolean): number => {
    const rb = rowBytes(codec, n);
    let err = 0;
    for (let i = 0; i < rows.length; i++) {
      codec.dequantize(q.subarray(i * rb, (i + 1) * rb), d, n);
      const v = hDiag ?? imOf(i);
      for (let j = 0; j < n; j++) delta[j] = w[i * n + j]! - d[j]!;
      if (full && h) err += momentsQuadratic(h, delta);
      else for (let j = 0; j < n; j++) err += (v ? v[j]! : 1) * delta[j]! * delta[j]!;
    }
    return err;
  };
  for (const type of measured) {
    const codec = codecByTypeId(type)!;
    let err = 0;
    let probeErr: number | undefined;
    if (type !== t.srcType && compensated(type)) {
      // GPTQ's own loss is (w − ŵ)ᵀ (H + λI) (w − ŵ) with unreached columns' H[j,j] = 1 (gptqFactor):
      // both taken off leaves the output error on the activations
      const rb = rowBytes(codec, n);
      const { q, loss } = gptqEncoded!.get(type)!;
      for (let i = 0; i < rows.length; i++) {
        codec.dequantize(q.subarray(i * rb, (i + 1) * rb), d, n);
        let off = 0;
        for (let j = 0; j < n; j++) {
          const x = w[i * n + j]! - d[j]!;
          off += (hDiag![j]! > 0 ? g!.lambda : g!.lambda + 1) * x * x;
        }
        err += Math.max(0, loss[i]! - off);
      }
      if (type === probeType) probeErr = errorOf(codec, encoded.get(type)!, true);
    } else if (type !== t.srcType) {
      // float types' errors are tiny: their diagonal is enough
      err = errorOf(codec, encoded.get(type)!, codec.type.blockSize > 1);
    }
    const nsr = signal > 0 ? err / signal : err;
    candidates.push({
      type,
      bytes: padded(tensorBytes(t.shape, type)),
      error: nsr * 1,
      nsr,
      ...(probeErr !== undefined ? { probeNsr: signal > 0 ? probeErr / signal : probeErr } : {}),
    });
  }
  return { name: t.name, rows: rows.length, nRows: ti.nRows, imatrix: !!im, candidates, chosen: -1 };
}

/** A refiner's summary as the plan shows it: tensors by name, types by name. */
function refineReport(rs: RefineSummary, measures: readonly TensorMeasure[]): TargetAllocation['refine'] {
  const tn = (k: number, i: number) => typeName(measures[k]!.candidates[i]!.type);
  return {
    klStart: rs.klStart,
    kl: rs.kl,
    evals: rs.evals,
    seconds: rs.seconds,
    judge: rs.judge,
    moves: rs.moves.map((mv) => ({
      tensors: mv.steps.map((st) => ({
        name: measures[st.item]!.name,
        from: tn(st.item, st.from),
        to: tn(st.item, st.to),
      })),
      klBefore: mv.klBefore,
      klAfter: mv.klAfter,
    })),
  };
}

/** Why a type was chosen, in words: its error and its neighbours on the size/error front. */
function reasonOf(m: TensorMeasure): string {
  const c = m.candidates;
  const cur = c[m.chosen]!;
  const byBytes = [...c].sort((a, b) => a.bytes - b.bytes || a.error - b.error);
  const smaller = byBytes.filter((x) => x.bytes < cur.bytes && x.error > cur.error).pop();
  const larger = byBytes.find((x) => x.bytes > cur.bytes && x.error < cur.error);
  const f = (x: number) => x.toExponential(2);
  const parts = [`target: rel. error ${f(cur.nsr)}`];
  if (smaller) parts.push(`${typeName(smaller.type)} saves ${cur.bytes - smaller.bytes} B for ${f(smaller.nsr)}`);
  if (larger) parts.push(`${typeName(larger.type)} costs +${larger.bytes - cur.bytes} B for ${f(larger.nsr)}`);
  if (!larger) parts.push('best available');
  return parts.join('; ') + (m.imatrix ? '' : ' (no imatrix entry)');
}

/** general.file_type for a mixed file: the file type whose default type holds the most weights. */
function fileTypeFor(weightsByType: Map<number, number>, fallback: FileType): FileType {
  let best = -1,
    bestN = -1;
  for (const [type, n] of [...weightsByType].sort((a, b) => a[0] - b[0]))
    if (n > bestN) {
      best = type;
      bestN = n;
    }
  const prefer = ['Q4_K_M', 'Q5_K_M', 'Q3_K_M', 'Q2_K', 'Q6_K'];
  const cands = FILE_TYPES.filter((f) => f.defaultType === best);
  return cands.find((f) => prefer.includes(f.name)) ?? cands[0] ?? fallback;
}
