// `lowbit compare A B [--json]`: per-tensor error of B against A (A is the reference): GGUF against
// GGUF (any types, dequantized as ggml does), ONNX against ONNX (matching initializers, quantized
// ones through their scales and zero points), safetensors against safetensors, or a safetensors
// Hugging Face checkpoint against a GGUF converted from it (names and Q/K rows mapped as the
// converter maps them). A safetensors side may be sharded: give its directory or index.json.
import type { Command } from 'commander';
import { dirname, join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { FileSource } from '../../node/file-io.js';
import { compareGguf, type GgufComparison } from '../../analysis/compare-gguf.js';
import { compareOnnx } from '../../analysis/compare-onnx.js';
import type { ErrorStats } from '../../analysis/error-stats.js';
import { LowbitError } from '../../errors.js';
import { compareSafetensors, compareSafetensorsGguf, type NamedSet } from '../../analysis/compare-safetensors.js';
import { readSafetensorsHeader } from '../../io/safetensors/reader.js';
import { openSafetensorsSet, openShardedSafetensors } from '../../io/safetensors/sharded.js';
import { openSafetensorsDir } from '../../node/safetensors-files.js';
import { fileKind } from '../../io/detect.js';
import { fmtBytes, fmtCount, fmtDb, fmtNum, table } from '../format.js';
import { measurementJson } from '../json.js';

export { fileKind, type FileKind } from '../../io/detect.js';

/** A safetensors checkpoint given as a directory or an index (sharded), else undefined. */
async function openCheckpointSet(path: string): Promise<NamedSet | undefined> {
  const isDir = (await stat(path).catch(() => null))?.isDirectory() ?? false;
  if (!isDir && !path.endsWith('.index.json')) return undefined;
  const set = isDir
    ? await openSafetensorsDir(path)
    : await openShardedSafetensors(path, await readFile(path, 'utf8'), (name) =>
        FileSource.open(join(dirname(path), name)),
      );
  let sizeBytes = 0;
  for (const t of set.tensors) sizeBytes += t.end - t.begin;
  return { name: path, sizeBytes, set };
}

export { fmtDb } from '../format.js';

function statCells(s: ErrorStats): string[] {
  return [fmtNum(s.rmse, 4), fmtNum(s.maxAbs, 4), fmtDb(s.sqnrDb), s.cosine.toFixed(6)];
}

export function formatComparison(r: GgufComparison, worstOnly = false): string {
  const out: string[] = [];
  out.push(`A (reference): ${r.a.name}  ${fmtBytes(r.a.sizeBytes)}, ${r.a.tensorCount} tensors`);
  out.push(`B:             ${r.b.name}  ${fmtBytes(r.b.sizeBytes)}, ${r.b.tensorCount} tensors`);
  out.push('');
  // B made with --encoder best: ggml's own encoder's RMSE on the same weights, and the squared error saved
  const best = r.tensors.some((t) => t.ggmlRmse !== undefined);
  const saved = (t: GgufComparison['tensors'][number]) =>
    t.ggmlRmse === undefined
      ? ['-', '-']
      : [fmtNum(t.ggmlRmse, 4), t.bestSaved !== undefined ? `${(100 * t.bestSaved).toFixed(1)}%` : '-'];
  const rows = (worstOnly ? r.worst : r.tensors).map((t) => [
    t.name,
    `[${t.dims.join(', ')}]`,
    t.typeA,
    t.typeB,
    fmtNum(t.bitsPerWeightB, 4),
    ...statCells(t.stats),
    ...(best ? saved(t) : []),
  ]);
  out.push(
    table(
      [
        'tensor',
        'shape',
        'type A',
        'type B',
        'bpw B',
        'RMSE',
        'max abs',
        'SQNR dB',
        'cosine',
        ...(best ? ['ggml RMSE', 'saved'] : []),
      ],
      rows,
    ),
  );
  if (best)
    out.push(
      '',
      'B was written with --encoder best: "ggml RMSE" is ggml\'s own encoder at the same type on the same weights (no imatrix), "saved" the share of weighted squared error (best\'s weights, sqrt(σ²+x²) per row) --encoder best removed.',
    );
  out.push('');
  out.push(
    `total over ${r.tensors.length} tensors (${fmtCount(r.total.elements)} weights): bits per weight ${fmtNum(r.total.bitsPerWeightA, 4)} → ${fmtNum(r.total.bitsPerWeightB, 4)}, ` +
      `RMSE ${fmtNum(r.total.rmse, 4)}, max abs ${fmtNum(r.total.maxAbs, 4)}, SQNR ${fmtDb(r.total.sqnrDb)} dB, cosine ${r.total.cosine.toFixed(6)}`,
  );
  if (!worstOnly && r.worst.length) {
    out.push('');
    out.push('worst tensors (lowest SQNR):');
    for (const t of r.worst) out.push(`  ${fmtDb(t.stats.sqnrDb).padStart(7)} dB  ${t.name} (${t.typeB})`);
  }
  if (r.onlyInA.length) out.push(`only in A: ${r.onlyInA.join(', ')}`);
  if (r.onlyInB.length) out.push(`only in B: ${r.onlyInB.join(', ')}`);
  for (const s of r.skipped) out.push(`not compared: ${s.name}: ${s.reason}`);
  return out.join('\n') + '\n';
}

type Side = { kind: 'safetensors'; set: NamedSet } | { kind: 'gguf' | 'onnx'; src: FileSource };

/** Opens one side: a sharded checkpoint, a safetensors file (as a set that owns the file), GGUF or ONNX. */
async function openSide(path: string): Promise<Side> {
  const set = await openCheckpointSet(path);
  if (set) return { kind: 'safetensors', set };
  const src = await FileSource.open(path);
  try {
    const kind = await fileKind(src);
    if (kind !== 'safetensors') return { kind, src };
    return {
      kind,
      set: { name: src.name, sizeBytes: src.size, set: await openSafetensorsSet([await readSafetensorsHeader(src)]) },
    };
  } catch (e) {
    await src.close();
    throw e;
  }
}

const closeSide = (s: Side) => (s.kind === 'safetensors' ? s.set.set.close() : s.src.close());

/** Compare two files of the same kind, or a safetensors checkpoint (A) with a GGUF (B). */
export async function compareFiles(pathA: string, pathB: string): Promise<GgufComparison> {
  const a = await openSide(pathA);
  try {
    const b = await openSide(pathB);
    try {
      if (a.kind === 'safetensors' && b.kind === 'safetensors') return await compareSafetensors(a.set, b.set);
      if (a.kind === 'safetensors' && b.kind === 'gguf') return await compareSafetensorsGguf(a.set, b.src);
      if (a.kind === 'gguf' && b.kind === 'safetensors')
        throw new LowbitError('a safetensors checkpoint is the reference: give it as A and the GGUF as B');
      if (a.kind !== b.kind)
        throw new LowbitError(
          `cannot compare ${a.kind.toUpperCase()} with ${b.kind.toUpperCase()}: give two files of one kind, or safetensors A with GGUF B`,
        );
      if (a.kind === 'gguf' && b.kind === 'gguf') return await compareGguf(a.src, b.src);
      if (a.kind === 'onnx' && b.kind === 'onnx') {
        // external data files sit next to their model
        return await compareOnnx(a.src, b.src, {
          openExternalA: (loc) => FileSource.open(join(dirname(pathA), loc)),
          openExternalB: (loc) => FileSource.open(join(dirname(pathB), loc)),
        });
      }
      throw new LowbitError('unreachable', 'EINTERNAL');
    } finally {
      await closeSide(b);
    }
  } finally {
    await closeSide(a);
  }
}

export function register(program: Command): void {
  program
    .command('compare')
    .description(
      'per-tensor error of B against A: type, bits per weight, RMSE, max abs error, SQNR, cosine; totals and the worst tensors',
    )
    .argument(
      '<A>',
      "reference: .gguf, .onnx, or safetensors (a file, or a sharded checkpoint's directory or index.json)",
    )
    .argument('<B>', 'the file to measure: same kind as A, or a GGUF converted from safetensors A')
    .option('--worst', 'list only the worst tensors')
    .option('--json', 'print JSON')
    .action(async (pathA: string, pathB: string, opts: { json?: boolean; worst?: boolean }) => {
      const r = await compareFiles(pathA, pathB);
      process.stdout.write(opts.json ? measurementJson(r) : formatComparison(r, opts.worst));
    });
}
