// --dry-run of `quantize` and `convert hf`: the per-tensor plan with reasons, the predicted size and,
// with a size target, the chosen types and predicted errors (text or --json), nothing written. Also
// the JSON form of a plan both commands print.
import { LowbitError } from '../errors.js';
import { fmtBytes, fmtNum, table, targetLines } from './format.js';
import { fallbackWarning, typeName, type QuantPlan } from '../plan/plan.js';
import type { TargetAllocation } from '../pipeline/target.js';
import {
  checkRunnable,
  predictOutputBytes,
  prepareQuantize,
  resolveTarget,
  type QuantizeOptions,
} from '../pipeline/quantize-gguf.js';
import { openGgufInput } from '../node/quantize-file.js';

/** Prints what quantizing `input` (a GGUF file) with `opts` would do; `label` names the input in the output. */
export async function printDryRun(
  input: string,
  output: string | undefined,
  opts: QuantizeOptions,
  json: boolean,
  label?: string,
): Promise<void> {
  const { src } = await openGgufInput(input);
  let plan: QuantPlan, predicted: number, problem: string | undefined;
  let allocation: TargetAllocation | undefined;
  try {
    const resolved = await resolveTarget(src, opts);
    allocation = resolved.allocation;
    const prep = await prepareQuantize(src, resolved.opts);
    plan = prep.plan;
    predicted = await predictOutputBytes(prep.file, plan, opts);
    try {
      checkRunnable(prep.file, plan, opts);
    } catch (e) {
      if (e instanceof LowbitError) problem = e.message;
      else throw e;
    }
  } finally {
    await src.close();
  }
  if (json) {
    process.stdout.write(
      JSON.stringify(
        {
          ...planJson(label ?? input, output, plan, opts, allocation),
          dryRun: true,
          outputBytes: predicted,
          bitsPerWeight: bpw(plan),
          wouldFail: problem ?? null,
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const rows = plan.tensors.map((t) => [
    t.name,
    `[${t.shape.join(', ')}]`,
    typeName(t.srcType),
    typeName(t.dstType),
    fmtBytes(t.srcBytes),
    fmtBytes(t.dstBytes),
  ]);
  // the reasons go last, left-aligned (table() right-aligns every column but the first)
  const lines = table(['tensor', 'shape', 'from', 'to', 'size', 'new size'], rows).split('\n');
  const why = ['why', '---', ...plan.tensors.map((t) => t.reason)];
  const out = [lines.map((l, i) => `${l.padEnd(lines[1]!.length)}  ${why[i]}`).join('\n'), ''];
  out.push(
    `${plan.tensors.length} tensors, ${fmtBytes(plan.srcBytes)} of tensor data -> ${fmtBytes(plan.dstBytes)} (${fmtNum(bpw(plan), 4)} bits per weight)`,
  );
  out.push(`predicted output: ${fmtBytes(predicted)} (${predicted} bytes) as ${plan.fileType.name}`);
  const fb = fallbackWarning(plan);
  if (fb) out.push(`warning: ${fb}`);
  if (allocation) out.push(...targetLines(allocation));
  if (problem) out.push(`note: a real run would stop: ${problem}`);
  process.stdout.write(out.join('\n') + '\n');
}

function bpw(plan: QuantPlan): number {
  return plan.nElements ? (plan.dstBytes * 8) / plan.nElements : 0;
}

export function planJson(
  input: string,
  output: string | undefined,
  plan: QuantPlan,
  opts: QuantizeOptions,
  allocation?: TargetAllocation,
) {
  return {
    input,
    output: output ?? null,
    fileType: plan.fileType.name,
    fileTypeId: plan.fileType.id,
    encoder: opts.encoder ?? 'ggml',
    imatrix: opts.imatrix ? { ...opts.imatrix.provenance } : null,
    tensorBytesIn: plan.srcBytes,
    tensorBytesOut: plan.dstBytes,
    nElements: plan.nElements,
    fallbacks: plan.nFallback,
    fallbackWarning: fallbackWarning(plan) ?? null,
    tensors: plan.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      from: typeName(t.srcType),
      to: typeName(t.dstType),
      converted: t.convert,
      kind: t.kind,
      reason: t.reason,
      bytesIn: t.srcBytes,
      bytesOut: t.dstBytes,
      ...(t.fallbackFrom !== undefined ? { fallbackFrom: typeName(t.fallbackFrom) } : {}),
      ...(allocation?.assignment.has(t.name)
        ? {
            predictedError:
              allocation.measures.find((m) => m.name === t.name)!.candidates.find((c) => c.type === t.dstType)?.nsr ??
              null,
          }
        : {}),
    })),
    ...(allocation
      ? {
          target: {
            targetBytes: allocation.targetBytes,
            predictedBytes: allocation.predictedBytes,
            predictedError: allocation.predictedError,
            fixedBytes: allocation.fixedBytes,
            measure: allocation.measure,
            seconds: allocation.seconds,
            sensitivity: opts.target?.sensitivity
              ? { ...opts.target.sensitivity, kl: Object.fromEntries(opts.target.sensitivity.kl) }
              : null,
            refine: allocation.refine ?? null,
            candidates: allocation.measures.map((m) => ({
              name: m.name,
              sampledRows: m.rows,
              rows: m.nRows,
              imatrix: m.imatrix,
              chosen: typeName(m.candidates[m.chosen]!.type),
              ...(m.sensitivity !== undefined ? { sensitivity: m.sensitivity } : {}),
              options: m.candidates.map((c) => ({ type: typeName(c.type), bytes: c.bytes, error: c.nsr })),
            })),
          },
        }
      : {}),
  };
}
