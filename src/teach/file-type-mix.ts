// `lowbit explain --format Q4_K_M`: what a llama.cpp file type does to a model, told from the plan
// rules themselves (src/plan, llama_tensor_get_type): the plan of a Llama-2-7B-shaped model (32
// layers, 4096 wide, 11008 feed-forward, 32000 tokens; no weights needed, only names and shapes),
// grouped by tensor kind with the layers each type lands on. Browser-safe.
import { GGML_TYPE, ggmlTypeById } from '../formats/ggml-types.js';
import type { FileType } from '../plan/file-types.js';
import { planQuantization, type QuantPlan, type TensorDesc } from '../plan/plan.js';
import type { ModelInfo } from '../plan/tensor-rules.js';

export interface FileTypeMix {
  fileType: string;
  model: string;
  /** per tensor kind (name without blk.N.), the types it gets and on which layers */
  kinds: { kind: string; types: { type: string; layers: number[] | null; count: number }[] }[];
  bitsPerWeight: number;
  /** quantize refuses this file type without an importance matrix (a tensor's type requires one) */
  requiresImatrix: boolean;
  /** tensors whose type needs an imatrix, when requiresImatrix */
  imatrixTensors: string[];
  text: string;
}

const N_LAYER = 32,
  N_EMBD = 4096,
  N_FF = 11008,
  N_VOCAB = 32000;

/** A Llama-2-7B's tensor table (F16 weights, F32 norms), in llama.cpp's order. */
function llama7bTensors(): TensorDesc[] {
  const F16 = GGML_TYPE.F16,
    F32 = GGML_TYPE.F32;
  const t: TensorDesc[] = [{ name: 'token_embd.weight', shape: [N_EMBD, N_VOCAB], type: F16 }];
  for (let i = 0; i < N_LAYER; i++) {
    const b = `blk.${i}.`;
    t.push(
      { name: `${b}attn_norm.weight`, shape: [N_EMBD], type: F32 },
      { name: `${b}attn_q.weight`, shape: [N_EMBD, N_EMBD], type: F16 },
      { name: `${b}attn_k.weight`, shape: [N_EMBD, N_EMBD], type: F16 },
      { name: `${b}attn_v.weight`, shape: [N_EMBD, N_EMBD], type: F16 },
      { name: `${b}attn_output.weight`, shape: [N_EMBD, N_EMBD], type: F16 },
      { name: `${b}ffn_norm.weight`, shape: [N_EMBD], type: F32 },
      { name: `${b}ffn_gate.weight`, shape: [N_EMBD, N_FF], type: F16 },
      { name: `${b}ffn_up.weight`, shape: [N_EMBD, N_FF], type: F16 },
      { name: `${b}ffn_down.weight`, shape: [N_FF, N_EMBD], type: F16 },
    );
  }
  t.push(
    { name: 'output_norm.weight', shape: [N_EMBD], type: F32 },
    { name: 'output.weight', shape: [N_EMBD, N_VOCAB], type: F16 },
  );
  return t;
}

const LLAMA_7B: ModelInfo = { arch: 'llama', nLayer: N_LAYER, nHead: 32, nHeadKv: 32, nExpert: 0, is70B: false };

/** 0-3, 8, 11, 14 … as compact ranges */
function ranges(xs: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(j === i ? `${xs[i]}` : j === i + 1 ? `${xs[i]}, ${xs[j]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

const typeName = (id: number) => ggmlTypeById(id)?.ggmlName.toUpperCase() ?? String(id);

/** The plan of a Llama-2-7B-shaped model under `ft` (no imatrix), as quantize would make it. */
export function planLlama7b(ft: FileType): QuantPlan {
  return planQuantization(LLAMA_7B, llama7bTensors(), { fileType: ft });
}

export function describeFileTypeMix(ft: FileType): FileTypeMix {
  const plan = planLlama7b(ft);
  const byKind = new Map<string, Map<string, number[]>>();
  const counts = new Map<string, Map<string, number>>();
  for (const t of plan.tensors) {
    const m = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    const kind = m ? m[2]! : t.name;
    const type = typeName(t.dstType);
    if (!byKind.has(kind)) {
      byKind.set(kind, new Map());
      counts.set(kind, new Map());
    }
    const k = byKind.get(kind)!;
    if (!k.has(type)) k.set(type, []);
    if (m) k.get(type)!.push(Number(m[1]));
    counts.get(kind)!.set(type, (counts.get(kind)!.get(type) ?? 0) + 1);
  }
  const kinds = [...byKind].map(([kind, types]) => ({
    kind,
    types: [...types]
      .map(([type, layers]) => ({ type, layers: layers.length ? layers : null, count: counts.get(kind)!.get(type)! }))
      .sort((a, b) => b.count - a.count),
  }));
  const imatrixTensors = plan.tensors.filter((t) => t.quantizable && t.requiresImatrix).map((t) => t.name);
  const bpw = (plan.dstBytes * 8) / plan.nElements;
  const lines = [
    `${ft.name}: a llama.cpp file type (general.file_type ${ft.id}): most weights ${typeName(ft.defaultType)}, the rest by llama.cpp's per-tensor rules.`,
    `On a Llama-2-7B-shaped model (${N_LAYER} layers, ${N_EMBD} wide, feed-forward ${N_FF}, ${N_VOCAB} tokens), \`lowbit quantize --type ${ft.name}\` chooses:`,
  ];
  const w = Math.max(...kinds.map((k) => k.kind.length));
  for (const k of kinds) {
    const parts = k.types.map((x) =>
      k.types.length === 1 || !x.layers ? x.type : `${x.type} in layers ${ranges(x.layers)}`,
    );
    lines.push(`  ${k.kind.padEnd(w)}  ${parts.join('; ')}`);
  }
  lines.push(`  overall ${bpw.toFixed(2)} bits per weight (F16: 16).`);
  if (imatrixTensors.length) {
    const types = [
      ...new Set(plan.tensors.filter((t) => t.quantizable && t.requiresImatrix).map((t) => typeName(t.dstType))),
    ];
    lines.push(
      `  Needs an importance matrix: llama.cpp and lowbit quantize refuse ${ft.name} without --imatrix (${imatrixTensors.length} tensors would be ${types.join(', ')}).`,
    );
  } else {
    lines.push(
      '  Runs without an importance matrix; --imatrix, when given, weights the rounding (and changes a few of the rules).',
    );
  }
  lines.push(
    "  Rows whose length is not a multiple of the type's block size fall back to another type (see quantize --dry-run for a real file).",
  );
  return {
    fileType: ft.name,
    model: 'Llama-2-7B shapes',
    kinds,
    bitsPerWeight: bpw,
    requiresImatrix: imatrixTensors.length > 0,
    imatrixTensors,
    text: lines.join('\n'),
  };
}
