// Committed ggml 0.23.0 golden vectors (copied from the workplace's shared/ggml-golden, produced by
// ggml_quantize_chunk in node-llama-cpp 3.21.1's libggml-base.so; see its manifest.json).
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const GOLDEN_DIR = fileURLToPath(new URL('../fixtures/ggml-golden/', import.meta.url));

export interface GoldenType {
  id: number;
  ggmlName: string;
  blockSize: number;
  typeSize: number;
  rowBytes: number;
  quant: { file: string };
  imatrixQuant?: { file: string };
  ref?: { file: string };
}

export interface Golden {
  rowLength: number;
  rows: number;
  imatrixRows: number;
  input: Float32Array;
  imatrix: Float32Array;
  cases: { name: string; desc: string; rows: [number, number] }[];
  types: Record<string, GoldenType>;
  bytes(file: string): Uint8Array;
}

let cached: Golden | undefined;

export function loadGolden(): Golden {
  if (cached) return cached;
  const m = JSON.parse(readFileSync(join(GOLDEN_DIR, 'manifest.json'), 'utf8'));
  const f32 = (file: string) => {
    const b = readFileSync(join(GOLDEN_DIR, file));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  cached = {
    rowLength: m.rowLength,
    rows: m.rows,
    imatrixRows: m.imatrixRows,
    input: f32(m.input.file),
    imatrix: f32(m.imatrix.file),
    cases: m.cases,
    types: m.types,
    bytes: (file) => {
      const p = join(GOLDEN_DIR, file);
      if (!existsSync(p)) throw new Error(`golden file missing: ${file}`);
      return new Uint8Array(readFileSync(p));
    },
  };
  return cached;
}
