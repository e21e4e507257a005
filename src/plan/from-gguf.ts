// Planning straight from a parsed GGUF header (browser-safe: needs only the header, no tensor data).
import type { GgufFile } from '../io/gguf/reader.js';
import { modelInfoFromMetadata } from './model-info.js';
import { planQuantization, type PlanOptions, type QuantPlan } from './plan.js';

export function planGguf(file: GgufFile, opts: PlanOptions): QuantPlan {
  const model = modelInfoFromMetadata(file.metadata, file.name);
  return planQuantization(
    model,
    file.tensors.map((t) => ({ name: t.name, shape: t.dims, type: t.type.id })),
    opts,
  );
}
