// Qwen2MoeModel.modify_tensors (convert_hf_to_gguf.py) for architectures with stackedExperts:
// per-expert projections become one 3-D ffn_{gate,up,down}_exps tensor each, read by rows on demand.
import { LowbitError } from '../../../errors.js';
import type { SafetensorsSet } from '../../../io/safetensors/sharded.js';
import { FLOAT_DECODABLE, SAFETENSORS_DTYPE_BITS, toFloat32 } from '../../../io/safetensors/dtypes.js';
import type { TensorSpec } from '../../model.js';
import type { HfConfig } from '../config.js';

const FUSED = /^model\.layers\.(\d+)\.mlp\.experts\.(gate_up_proj|down_proj)(?:\.weight)?$/;
const EXPERT = /^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$/;

/**
 * Qwen2MoeModel.modify_tensors: per-expert projections are held back until a layer has all
 * 3 × n_expert of them, then written at that point as down, gate, up: ffn_*_exps, GGUF shape
 * [cols, rows, n_expert] (torch.stack on dim 0). Only the names are held; values are read on demand.
 */
export class ExpertStacker {
  private layers = new Map<number, Map<string, SafetensorsSet['tensors'][number]>>();
  private readonly n: number;
  constructor(
    cfg: HfConfig,
    private readonly set: SafetensorsSet,
  ) {
    this.n = cfg.nExpert!;
  }

  take(t: SafetensorsSet['tensors'][number], out: TensorSpec[]): boolean {
    const f = FUSED.exec(t.name);
    if (f) {
      this.fused(t, Number(f[1]), f[2]!, out);
      return true;
    }
    const m = EXPERT.exec(t.name);
    if (!m) return false;
    const bid = Number(m[1]),
      xid = Number(m[2]);
    if (xid >= this.n) throw new LowbitError(`tensor '${t.name}': expert ${xid} of ${this.n} (num_experts)`);
    if (!FLOAT_DECODABLE.has(t.dtype))
      throw new LowbitError(`tensor '${t.name}' is ${t.dtype}; lowbit converts float checkpoints (F32, F16, BF16)`);
    if (t.shape.length !== 2) throw new LowbitError(`tensor '${t.name}' has shape [${t.shape.join(', ')}]`);
    let layer = this.layers.get(bid);
    if (!layer) this.layers.set(bid, (layer = new Map()));
    layer.set(t.name, t);
    if (layer.size < 3 * this.n) return true;
    for (const w of ['down', 'gate', 'up']) {
      const parts = Array.from({ length: this.n }, (_, x) =>
        layer.get(`model.layers.${bid}.mlp.experts.${x}.${w}_proj.weight`),
      );
      if (parts.some((p) => !p)) throw new LowbitError(`layer ${bid}: expert tensors are missing for ${w}_proj`);
      const [rows, cols] = parts[0]!.shape as [number, number];
      for (const p of parts)
        if (p!.shape[0] !== rows || p!.shape[1] !== cols)
          throw new LowbitError(
            `tensor '${p!.name}' has shape [${p!.shape.join(', ')}], expert 0 has [${rows}, ${cols}]`,
          );
      const set = this.set;
      const readExpertRows = async (x: number, first: number, count: number) => {
        const p = parts[x]!;
        const el = SAFETENSORS_DTYPE_BITS[p.dtype] / 8;
        return toFloat32(await set.readBytes(p.name, first * cols * el, count * cols * el), p.dtype);
      };
      const readRows = async (first: number, count: number) => {
        const res = new Float32Array(count * cols);
        for (let r = first; r < first + count;) {
          const x = Math.floor(r / rows),
            within = r - x * rows;
          const k = Math.min(rows - within, first + count - r);
          res.set(await readExpertRows(x, within, k), (r - first) * cols);
          r += k;
        }
        return res;
      };
      out.push({
        name: `blk.${bid}.ffn_${w}_exps.weight`,
        shape: [cols, rows, this.n],
        keepF32: false,
        read: () => readRows(0, rows * this.n),
        readRows,
      });
    }
    this.layers.delete(bid);
    return true;
  }

  /**
   * Checkpoints saved with experts already stacked (newer transformers): down_proj
   * [n_expert, n_embd, n_ff] is ffn_down_exps as it is; gate_up_proj [n_expert, 2 n_ff, n_embd] is
   * split on its middle axis into ffn_gate_exps (first half) and ffn_up_exps (Qwen2MoeModel.modify_tensors).
   */
  private fused(t: SafetensorsSet['tensors'][number], bid: number, kind: string, out: TensorSpec[]): void {
    if (!FLOAT_DECODABLE.has(t.dtype))
      throw new LowbitError(`tensor '${t.name}' is ${t.dtype}; lowbit converts float checkpoints (F32, F16, BF16)`);
    if (t.shape.length !== 3 || t.shape[0] !== this.n || (kind === 'gate_up_proj' && t.shape[1]! % 2 !== 0)) {
      throw new LowbitError(
        `tensor '${t.name}' has shape [${t.shape.join(', ')}], expected [${this.n} experts, rows, cols]`,
      );
    }
    const [, mid, cols] = t.shape as [number, number, number];
    const el = SAFETENSORS_DTYPE_BITS[t.dtype] / 8;
    const set = this.set;
    const hfRows = async (first: number, count: number) =>
      toFloat32(await set.readBytes(t.name, first * cols * el, count * cols * el), t.dtype);
    const add = (w: string, rows: number, hfRow: (x: number, within: number) => number) => {
      const readRows = async (first: number, count: number) => {
        const res = new Float32Array(count * cols);
        for (let r = first; r < first + count;) {
          const x = Math.floor(r / rows),
            within = r - x * rows;
          const k = Math.min(rows - within, first + count - r);
          res.set(await hfRows(hfRow(x, within), k), (r - first) * cols);
          r += k;
        }
        return res;
      };
      out.push({
        name: `blk.${bid}.ffn_${w}_exps.weight`,
        shape: [cols, rows, this.n],
        keepF32: false,
        read: () => readRows(0, rows * this.n),
        readRows,
      });
    };
    if (kind === 'down_proj') add('down', mid, (x, w) => x * mid + w);
    else {
      const ff = mid / 2;
      add('gate', ff, (x, w) => x * mid + w);
      add('up', ff, (x, w) => x * mid + ff + w);
    }
  }

  finish(): void {
    const left = [...this.layers.values()].flatMap((l) => [...l.keys()]);
    if (left.length)
      throw new LowbitError(
        `unprocessed expert tensors (a layer lacks some of its ${this.n} experts' projections), e.g. ${left[0]}`,
      );
  }
}
