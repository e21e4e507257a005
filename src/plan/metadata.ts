// The metadata llama.cpp writes into a quantized GGUF: the input's keys in order, then
// general.quantization_version and general.file_type moved to the end (gguf_set_val_* removes and
// appends), split keys dropped, then --override-kv values and the quantize.imatrix.* keys
// llama-quantize adds as overrides, and with --prune-layers <arch>.block_count, each moved to the
// end the same way.
import { gv, metaString, type GgufMetadata } from '../io/gguf/metadata.js';
import { overrideValue, type KvOverride } from './kv-override.js';

/** ggml's GGML_QNT_VERSION */
export const GGML_QNT_VERSION = 2;

export interface ImatrixProvenance {
  /** the path as given on the command line */
  file: string;
  /** first dataset name, when the imatrix records any */
  dataset?: string;
  /** entries used after --include/--exclude-weights */
  entries: number;
  /** chunks the imatrix was computed on (written only when > 0) */
  chunks?: number;
}

export function quantizedMetadata(
  input: GgufMetadata,
  fileTypeId: number,
  imatrix?: ImatrixProvenance,
  overrides: readonly KvOverride[] = [],
  blockCount?: number,
): GgufMetadata {
  const out: GgufMetadata = new Map(input);
  const setLast = (key: string, value: ReturnType<typeof gv.u32>) => {
    out.delete(key);
    out.set(key, value);
  };
  setLast('general.quantization_version', gv.u32(GGML_QNT_VERSION));
  setLast('general.file_type', gv.u32(fileTypeId));
  for (const k of ['split.no', 'split.count', 'split.tensors.count']) out.delete(k);
  // --override-kv, in order, before the imatrix keys (llama-quantize appends those after them)
  for (const o of overrides) setLast(o.key, overrideValue(o));
  if (imatrix) {
    // llama-quantize copies at most 127 bytes of each string (strncpy into char[128])
    setLast('quantize.imatrix.file', gv.str(truncateUtf8(imatrix.file, 127)));
    if (imatrix.dataset !== undefined) setLast('quantize.imatrix.dataset', gv.str(truncateUtf8(imatrix.dataset, 127)));
    setLast('quantize.imatrix.entries_count', gv.u32(Math.abs(imatrix.entries) >>> 0));
    if (imatrix.chunks !== undefined && imatrix.chunks > 0)
      setLast('quantize.imatrix.chunks_count', gv.u32(Math.abs(imatrix.chunks) >>> 0));
  }
  // --prune-layers: the new layer count, last of all
  if (blockCount !== undefined)
    setLast(`${metaString(input, 'general.architecture') ?? ''}.block_count`, gv.u32(blockCount));
  return out;
}

/** The first n bytes of s as UTF-8, cut back to a whole character (GGUF strings must be valid UTF-8). */
function truncateUtf8(s: string, n: number): string {
  const b = new TextEncoder().encode(s);
  if (b.length <= n) return s;
  let end = n;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(b.subarray(0, end));
}
