// Messages between the page (main.ts) and its job worker (job-worker.ts).
import type { InspectReport } from '../../src/analysis/inspect.js';

/** What the user picked: one file, or a model folder (its files with their names inside it). */
export type Input = { kind: 'file'; file: File } | { kind: 'folder'; name: string; files: File[]; names: string[] };

/** The options as the CLI spells them (strings), parsed in the worker by the library's parsers. */
export interface JobOptions {
  type: string;
  pure?: boolean;
  /** REGEX=TYPE entries separated by spaces or newlines (as --tensor-type / --tensor-type-file) */
  tensorTypes?: string;
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  allowNonfinite?: boolean;
  imatrix?: File;
  includeWeights?: string;
  excludeWeights?: string;
  threads?: number;
  /** --target-size SIZE / --target-bpw BITS / --target-types LIST (the type then only names the mix whose rules fix the rest) */
  targetSize?: string;
  targetBpw?: string;
  targetTypes?: string;
  /** --encoder ggml|best */
  encoder?: string;
  // ONNX variants
  perChannel?: boolean;
  symmetric?: boolean;
  asymmetric?: boolean;
  reduceRange?: boolean;
  blockSize?: string;
  weightOnly?: string;
  embeddings?: boolean;
}

export type ModelKind = 'gguf' | 'safetensors' | 'hf' | 'onnx';

export interface Opened {
  kind: ModelKind;
  report: InspectReport;
  /** tensors whose values the learn view can draw (float or ggml types) */
  drawable: string[];
  /** the input's name without its extension (the output's default name starts with it) */
  base: string;
}

/** One tensor of the plan; `error`: the allocation's predicted relative error of its chosen type (--target-* only). */
export interface PlanRow {
  name: string;
  shape: number[];
  from: string;
  to: string;
  bytes: number;
  newBytes: number;
  why: string;
  error?: number | null;
}
/** `target`: what the allocation did, the lines `lowbit quantize --dry-run` prints for it. */
export interface PlanResult {
  rows: PlanRow[];
  inBytes: number;
  outBytes: number;
  predicted: number;
  bpw: number;
  fileType: string;
  problem: string | null;
  notes: string[];
  target?: string[];
}

export interface CompareRow {
  name: string;
  dims: number[];
  typeA: string;
  typeB: string;
  bpwB: number;
  rmse: number;
  maxAbs: number;
  sqnrDb: number;
  cosine: number;
}
export interface CompareResult {
  rows: CompareRow[];
  total: { bpwA: number; bpwB: number; rmse: number; maxAbs: number; sqnrDb: number; cosine: number; elements: number };
  worst: string[];
}

export interface Histogram {
  min: number;
  max: number;
  counts: number[];
  points: number[];
  rmse: number;
  values: number;
  format: string;
  tensor: string;
}

export type Output = { kind: 'opfs' } | { kind: 'handle'; handle: FileSystemFileHandle };

export type Request =
  | { id: number; op: 'open'; input: Input }
  | { id: number; op: 'plan'; options: JobOptions }
  | {
      id: number;
      op: 'run';
      options: JobOptions;
      output: Output;
      /** the output's name without its extension (the report's label) */ label: string;
    }
  | { id: number; op: 'cancel' }
  | { id: number; op: 'compare' }
  | { id: number; op: 'histogram'; tensor: string; format: string };

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string }
  | { id: number; progress: { done: number; total: number; tensor: string } };

/** A request without its id (the page numbers them). */
export type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
