// Helpers for the synthetic Hugging Face checkpoints of the phi3, gemma3 and gpt-oss fixtures: random
// weights (seeded, rounded to the checkpoint's dtype) written as model.safetensors, and JSON files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferSink } from '../../../src/io/source.js';
import { writeSafetensors, type SafetensorsOutTensor } from '../../../src/io/safetensors/writer.js';
import type { SafetensorsDtype } from '../../../src/io/safetensors/dtypes.js';
import { fp32ToBf16 } from '../../../src/formats/half.js';
import { rng } from '../../support/oracle.js';

export type Files = Map<string, Uint8Array>;

export class Checkpoint {
  readonly tensors: SafetensorsOutTensor[] = [];
  private readonly r: () => number;
  constructor(
    seed: number,
    readonly dtype: 'BF16' | 'F32' = 'BF16',
  ) {
    this.r = rng(seed);
  }
  /** uniform in [-scale, scale) */
  random(n: number, scale: number, offset = 0): Float32Array {
    return Float32Array.from({ length: n }, () => offset + (this.r() * 2 - 1) * scale);
  }
  add(name: string, shape: number[], data: Float32Array): void {
    if (data.length !== shape.reduce((a, b) => a * b, 1))
      throw new Error(`${name}: ${data.length} values for [${shape}]`);
    const dtype = this.dtype;
    const bytes =
      dtype === 'BF16'
        ? new Uint8Array(Uint16Array.from(data, fp32ToBf16).buffer)
        : new Uint8Array(data.slice().buffer);
    this.tensors.push({ name, dtype, shape, data: () => bytes });
  }
  /** a matrix [rows, cols] with values ~ 1/sqrt(cols) */
  matrix(name: string, rows: number, cols: number, gain = 1): void {
    this.add(name, [rows, cols], this.random(rows * cols, gain / Math.sqrt(cols)));
  }
  raw(name: string, dtype: SafetensorsDtype, shape: number[], bytes: Uint8Array): void {
    this.tensors.push({ name, dtype, shape, data: () => bytes });
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => Math.floor(this.r() * 256));
  }
  async safetensors(): Promise<Uint8Array> {
    const sink = new BufferSink();
    await writeSafetensors(sink, this.tensors, { metadata: { format: 'pt' } });
    return sink.bytes();
  }
}

export function json(files: Files, name: string, x: unknown): void {
  files.set(name, new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n'));
}

export function writeFiles(dir: string, files: Files): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
}

export const addedToken = (id: number, content: string, special = true, extra: Record<string, boolean> = {}) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special,
  ...extra,
});

/** where the synthetic checkpoints and their golden GGUFs live */
export const FIXTURE_ROOT = 'test/fixtures/hf-arch';
