// llama-quantize --prune-layers L0,L1,...: the tensors of those layers are left out, the layers
// after the first pruned one are renumbered down in order (llama-quant.cpp's remap_layer, visiting
// layers in weights_map's order: by number), the importance matrix is still looked up under the
// original names, and <arch>.block_count becomes the new count, set after every other key. The
// type rules keep the model's original layer count for n_layer (hparams) while counting only the
// tensors kept (as llama.cpp's quantize state does).
import { LowbitError } from '../errors.js';

/** Parses the comma-separated list as llama-quantize does (std::stoi per item, each >= 0); sorted, unique. */
export function parsePruneLayers(arg: string): number[] {
  const ids = arg.split(',').map((item) => {
    // std::stoi: leading space, a sign, digits, anything after ignored; no digits or out of int range: invalid
    const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(item);
    const id = m ? Number(m[1]) : -1;
    if (!m || id < 0 || id > 0x7fffffff) throw new LowbitError(`--prune-layers: invalid layer id '${item}'`, 'EUSAGE');
    return id;
  });
  return [...new Set(ids)].sort((a, b) => a - b);
}

const LAYER = /blk\.(\d+)\./;

/**
 * The new name of each tensor (null: pruned) and the new layer count, for tensors named as in the
 * input. Layers before the first pruned one keep their numbers; the others are numbered on from
 * there in ascending order.
 */
export function pruneLayers(
  names: readonly string[],
  prune: readonly number[],
): { rename: Map<string, string | null>; blockCount: number } {
  const layers = [
    ...new Set(
      names.flatMap((n) => {
        const m = LAYER.exec(n);
        return m ? [Number(m[1])] : [];
      }),
    ),
  ].sort((a, b) => a - b);
  const mapped = new Map<number, number | null>();
  let next = 0;
  for (const blk of layers) {
    if (prune.includes(blk)) mapped.set(blk, null);
    else if (blk < prune[0]!) {
      mapped.set(blk, blk);
      next = blk + 1;
    } else mapped.set(blk, next++);
  }
  const rename = new Map<string, string | null>();
  for (const n of names) {
    const m = LAYER.exec(n);
    if (!m) {
      rename.set(n, n);
      continue;
    }
    const to = mapped.get(Number(m[1]))!;
    rename.set(n, to === null ? null : n.slice(0, m.index + 4) + String(to) + n.slice(m.index + 4 + m[1]!.length));
  }
  return { rename, blockCount: next };
}
