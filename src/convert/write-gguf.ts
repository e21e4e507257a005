// Writes a ConvertedModel as a GGUF in one of the float types, streaming one tensor at a time
// (only one tensor's values are in memory; tensors with readRows by slabs of rows). Quantized outputs go through the quantize pipeline.
import { LowbitError } from '../errors.js';
import type { ByteSink } from '../io/source.js';
import { GgufWriter, ggmlNDims } from '../io/gguf/writer.js';
import { gv } from '../io/gguf/metadata.js';
import { codecByName } from '../formats/registry.js';
import { ggmlTypeById } from '../formats/ggml-types.js';
import { rowBytes } from '../formats/codec.js';
import { FILE_TYPE, type ConvertedModel, type StoreType } from './model.js';
import { FLOAT_TYPE_MAX, clampFinite } from '../formats/clamp.js';

export const FLOAT_OUT_TYPES: readonly StoreType[] = ['F32', 'F16', 'BF16'];
/** values per slab when a tensor is written by rows (tests lower it to exercise slabs) */
export const FLOAT_WRITE = { slabValues: 1 << 22 };

export interface WriteProgress {
  (done: number, total: number, tensorName: string): void;
}

/** The ggml type each tensor is stored as for a float output type (1-D tensors stay F32). */
export function storeTypeOf(t: { keepF32: boolean }, outType: StoreType): StoreType {
  return t.keepF32 ? 'F32' : outType;
}

/** bytes per slab when copying a tensor kept in a quantized type */
export const RAW_WRITE = { slabBytes: 4 << 20 };

export function rawTypeOf(id: number) {
  const ty = ggmlTypeById(id);
  if (!ty) throw new Error(`unknown ggml type ${id}`);
  return ty;
}

/** Tensors whose finite values beyond the F16/BF16 range were clamped to its largest value, and how many. */
export type ClampReport = { tensor: string; count: number }[];

/** Unless `allowNonfinite`, a NaN or ±Inf value stops the write with the tensor and its first index (as quantize does). */
export async function writeConvertedGguf(
  sink: ByteSink,
  model: ConvertedModel,
  outType: StoreType,
  progress?: WriteProgress,
  allowNonfinite = false,
): Promise<ClampReport> {
  if (!FLOAT_OUT_TYPES.includes(outType)) throw new LowbitError(`output type ${outType} is not a float type`);
  const metadata = new Map(model.metadata);
  metadata.set('general.file_type', gv.u32(model.floatFileType ?? FILE_TYPE[outType]!));
  const codecs = model.tensors.map((t) => {
    const c = codecByName(storeTypeOf(t, outType));
    if (!c) throw new LowbitError(`no codec for ${storeTypeOf(t, outType)}`, 'EUNSUPPORTED');
    return c;
  });
  const w = await GgufWriter.begin(sink, {
    metadata,
    tensors: model.tensors.map((t, i) => ({
      name: t.name,
      dims: ggmlNDims(t.shape),
      type: t.raw ? rawTypeOf(t.raw.type) : codecs[i]!.type,
    })),
  });
  let i = 0;
  const clamped: ClampReport = [];
  for (const t of model.tensors) {
    const c = codecs[i]!;
    if (t.raw) {
      // kept in its quantized type, bytes as they are, in slabs of rows (an expert tensor can be GBs)
      const ty = rawTypeOf(t.raw.type);
      const rows = t.shape.slice(1).reduce((a, b) => a * b, 1);
      const rb = (t.shape[0]! / ty.blockSize) * ty.typeSize;
      const slab = Math.max(1, Math.floor(RAW_WRITE.slabBytes / rb));
      for (let first = 0; first < rows; first += slab) {
        const n = Math.min(slab, rows - first);
        const bytes = await t.raw.readRows(first, n);
        if (bytes.length !== n * rb)
          throw new Error(
            `tensor ${t.name}: raw reader gave ${bytes.length} bytes for rows ${first}+${n} of shape [${t.shape}]`,
          );
        await w.writeTensorData(t.name, bytes);
      }
      i++;
      progress?.(i, model.tensors.length, t.name);
      continue;
    }
    const nPerRow = t.shape[0]!;
    const expected = t.shape.reduce((a, b) => a * b, 1);
    const nRows = expected / nPerRow;
    // tensors that can be read by rows go in slabs (a stacked-experts tensor can be GBs)
    const slab = t.readRows ? Math.max(1, Math.floor(FLOAT_WRITE.slabValues / nPerRow)) : nRows;
    const limit = FLOAT_TYPE_MAX[c.type.id];
    let count = 0;
    for (let first = 0; first < nRows || (nRows === 0 && first === 0); first += slab) {
      const rows = Math.min(slab, nRows - first);
      const values = slab === nRows ? await t.read() : await t.readRows!(first, rows);
      if (values.length !== rows * nPerRow)
        throw new LowbitError(
          `tensor ${t.name}: reader gave ${values.length} values for rows ${first}+${rows} of shape [${t.shape}]`,
          'EINTERNAL',
        );
      if (!allowNonfinite) {
        const bad = values.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          const at = first * nPerRow + bad;
          throw new LowbitError(
            `tensor ${t.name} has a NaN or infinite value at element ${at} (row ${Math.floor(at / nPerRow)}, column ${at % nPerRow}); --allow-nonfinite to convert anyway`,
          );
        }
      }
      // ggml would turn values beyond F16's range into Inf; lowbit clamps and reports them (formats/clamp.ts)
      if (limit !== undefined) count += clampFinite(values, limit);
      const out = new Uint8Array(rows * rowBytes(c, nPerRow));
      c.quantize(values, out, rows, nPerRow, null);
      await w.writeTensorData(t.name, out);
      if (nRows === 0) break;
    }
    if (count) clamped.push({ tensor: t.name, count });
    i++;
    progress?.(i, model.tensors.length, t.name);
  }
  await w.finish();
  return clamped;
}
