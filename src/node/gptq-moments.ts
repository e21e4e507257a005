// --encoder gptq's activation matrices (Σ x xᵀ per weight tensor) within a memory budget: the
// calibration run collects the first group of layers along with the importance matrix, and each
// later group is collected by one more pass of the model over the same calibration input when the
// quantizer first asks for one of its tensors (files list their layers in order, so each group is
// computed once and dropped when the next comes). One pass when the model's matrices fit the budget.
import { totalmem } from 'node:os';
import { FileSource } from './file-io.js';
import { readGgufHeader } from '../io/gguf/reader.js';
import { LowbitError } from '../errors.js';
import { HessianAccumulator, gptqPassGroups, type DenseWeight } from '../imatrix/hessian.js';
import { ImatrixCollector } from '../imatrix/collector.js';
import type { SecondMoments } from '../formats/gptq.js';

/** Default budget for the matrices of one pass: a quarter of the machine's memory, at most 8 GiB (LOWBIT_GPTQ_MEMORY, bytes, overrides). */
export function gptqMemoryBudget(): number {
  const env = process.env.LOWBIT_GPTQ_MEMORY;
  if (env !== undefined) {
    const n = Number(env);
    if (!(n > 0)) throw new LowbitError(`LOWBIT_GPTQ_MEMORY must be a positive number of bytes, not '${env}'`);
    return n;
  }
  return Math.min(8 * 2 ** 30, Math.floor(totalmem() / 4));
}

/** The weights the imatrix collector will hand dense activations for (blk.* matrices), in file order. */
export async function denseWeights(model: string): Promise<DenseWeight[]> {
  const src = await FileSource.open(model);
  try {
    const f = await readGgufHeader(src);
    return f.tensors
      .filter((t) => t.name.startsWith('blk.') && t.dims.length >= 2 && t.dims.slice(2).every((x) => x === 1))
      .map((t) => ({ name: t.name, d: t.rowLength }));
  } finally {
    await src.close();
  }
}

export interface PassInput {
  model: string;
  text?: Uint8Array;
  tokens?: Int32Array;
  ctx: number;
  chunks?: number;
  threads?: number;
}

export class GptqMoments {
  private readonly groupOf = new Map<string, number>();
  private current: number;
  private acc: HessianAccumulator;
  /** passes run so far (the calibration's own included) */
  passes = 1;

  constructor(
    readonly groups: string[][],
    first: HessianAccumulator,
    private readonly input: PassInput | null,
    private readonly log: (s: string) => void,
  ) {
    groups.forEach((g, i) => g.forEach((n) => this.groupOf.set(n, i)));
    this.current = 0;
    this.acc = first;
  }

  /** The accumulator for group 0, to hand to the calibration run. */
  static firstAccumulator(groups: string[][]): HessianAccumulator {
    const names = new Set(groups[0] ?? []);
    return new HessianAccumulator({ include: (n) => names.has(n) });
  }

  /** A tensor's matrix (running the pass of its group first when it is not the one held), or null. */
  async get(name: string): Promise<SecondMoments | null> {
    const g = this.groupOf.get(name);
    if (g === undefined) return null;
    if (g !== this.current) {
      if (!this.input) throw new LowbitError(`internal: no calibration input for the pass of ${name}`, 'EINTERNAL');
      const names = new Set(this.groups[g]);
      // drop the held group first: at most one group's matrices in memory
      this.acc = new HessianAccumulator({ include: (n) => names.has(n) });
      this.current = g;
      const layers = [...new Set(this.groups[g]!.map((n) => /^blk\.(\d+)\./.exec(n)?.[1]).filter(Boolean))];
      const which =
        layers.length > 1 ? `layers ${layers[0]}–${layers[layers.length - 1]}` : `layer ${layers[0] ?? '?'}`;
      this.log(`activation correlations for --encoder gptq: pass ${g + 1} of ${this.groups.length} (${which}) ...\n`);
      const { runImatrix } = await import('./imatrix-llama.js');
      await runImatrix({
        model: this.input.model,
        collector: new ImatrixCollector({ chunkSize: this.input.ctx, hessian: this.acc }),
        text: this.input.text,
        tokens: this.input.tokens,
        ctx: this.input.ctx,
        chunks: this.input.chunks,
        threads: this.input.threads,
        perplexity: false,
      });
      this.passes++;
    }
    return this.acc.get(name);
  }
}
