// `lowbit compare A B [--json]`: per-tensor error of B against A (A is the reference): GGUF against
// GGUF (any types, dequantized as ggml does) or ONNX against ONNX (matching initializers, quantized
// ones through their scales and zero points).
import type { Command } from 'commander';
import { dirname, join } from 'node:path';
import { FileSource } from '../../node/file-io.js';
import { compareGguf, type GgufComparison } from '../../analysis/compare-gguf.js';
import { compareOnnx } from '../../analysis/compare-onnx.js';
import type { ErrorStats } from '../../analysis/error-stats.js';
import { LowbitError } from '../../errors.js';
import { fmtBytes, fmtNum, table } from '../format.js';
import { measurementJson } from '../json.js';

export type FileKind = 'gguf' | 'onnx';

export async function fileKind(src: FileSource): Promise<FileKind> {
  if (src.size >= 4) {
    const m = await src.read(0, 4);
    if (m[0] === 0x47 && m[1] === 0x47 && m[2] === 0x55 && m[3] === 0x46) return 'gguf';
  }
  if (/\.onnx$/i.test(src.name)) return 'onnx';
  throw new LowbitError(`${src.name}: neither GGUF (no GGUF magic) nor ONNX (.onnx)`);
}

export function fmtDb(x: number): string {
  return x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x.toFixed(2);
}

function statCells(s: ErrorStats): string[] {
  return [fmtNum(s.rmse, 4), fmtNum(s.maxAbs, 4), fmtDb(s.sqnrDb), s.cosine.toFixed(6)];
}

export function formatComparison(r: GgufComparison, worstOnly = false): string {
  const out: string[] = [];
  out.push(`A (reference): ${r.a.name}  ${fmtBytes(r.a.sizeBytes)}, ${r.a.tensorCount} tensors`);
  out.push(`B:             ${r.b.name}  ${fmtBytes(r.b.sizeBytes)}, ${r.b.tensorCount} tensors`);
  out.push('');
  const rows = (worstOnly ? r.worst : r.tensors).map((t) => [t.name, `[${t.dims.join(', ')}]`, t.typeA, t.typeB, fmtNum(t.bitsPerWeightB, 4), ...statCells(t.stats)]);
  out.push(table(['tensor', 'shape', 'type A', 'type B', 'bpw B', 'RMSE', 'max abs', 'SQNR dB', 'cosine'], rows));
  out.push('');
  out.push(`total over ${r.tensors.length} tensors (${r.total.elements} weights): bits per weight ${fmtNum(r.total.bitsPerWeightA, 4)} → ${fmtNum(r.total.bitsPerWeightB, 4)}, ` +
    `RMSE ${fmtNum(r.total.rmse, 4)}, max abs ${fmtNum(r.total.maxAbs, 4)}, SQNR ${fmtDb(r.total.sqnrDb)} dB, cosine ${r.total.cosine.toFixed(6)}`);
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

/** Compare two files of the same kind. */
export async function compareFiles(pathA: string, pathB: string): Promise<GgufComparison> {
  const a = await FileSource.open(pathA);
  try {
    const b = await FileSource.open(pathB);
    try {
      const [ka, kb] = [await fileKind(a), await fileKind(b)];
      if (ka !== kb) throw new LowbitError(`cannot compare ${ka.toUpperCase()} with ${kb.toUpperCase()}: give two GGUF or two ONNX files`);
      if (ka === 'gguf') return await compareGguf(a, b);
      // external data files sit next to their model
      return await compareOnnx(a, b, {
        openExternalA: (loc) => FileSource.open(join(dirname(pathA), loc)),
        openExternalB: (loc) => FileSource.open(join(dirname(pathB), loc)),
      });
    } finally { await b.close(); }
  } finally { await a.close(); }
}

export function register(program: Command): void {
  program
    .command('compare')
    .description('per-tensor error of B against A: type, bits per weight, RMSE, max abs error, SQNR, cosine; totals and the worst tensors')
    .argument('<A>', 'reference: .gguf or .onnx')
    .argument('<B>', 'the file to measure: same kind as A')
    .option('--worst', 'list only the worst tensors')
    .option('--json', 'print JSON')
    .action(async (pathA: string, pathB: string, opts: { json?: boolean; worst?: boolean }) => {
      const r = await compareFiles(pathA, pathB);
      process.stdout.write(opts.json ? measurementJson(r) : formatComparison(r, opts.worst));
    });
}
