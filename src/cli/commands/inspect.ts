// `lowbit inspect <file>`: what a model file holds — metadata, then one line per tensor with its
// shape, type, size and bits per weight, then totals. The file kind is chosen by its first bytes;
// other formats plug in by adding an Inspector to INSPECTORS (see ggufInspector). GGUF,
// safetensors (one file, or a sharded checkpoint by its directory or index) and ONNX.
import type { Command } from 'commander';
import { FileSource } from '../../node/file-io.js';
import { oneLine } from '../../io/gguf/reader.js';
import { bpw, inspectSource, totals, type InspectReport } from '../../analysis/inspect.js';
import { fmtBytes, fmtCount, fmtNum, table } from '../format.js';
import { shardIndexFor, inspectShardedSafetensors } from '../../node/inspect-safetensors.js';

export {
  inspectSource,
  totals,
  INSPECTORS,
  ggufInspector,
  type InspectReport,
  type InspectTensor,
  type Inspector,
} from '../../analysis/inspect.js';

export function renderText(r: InspectReport): string {
  const out: string[] = [];
  out.push(`${r.file}: ${r.format}, ${fmtBytes(r.fileSize)}`);
  for (const [k, v] of r.facts) out.push(`  ${k}: ${v}`);
  out.push('');
  out.push(`metadata (${r.metadataText.length} keys)`);
  const w = Math.max(0, ...r.metadataText.map(([k]) => k.length));
  // names come from the file: keep control characters out of the terminal
  for (const [k, v] of r.metadataText) out.push(`  ${oneLine(k).padEnd(w)}  ${oneLine(v)}`);
  out.push('');
  out.push(`tensors (${r.tensors.length})`);
  const files = r.tensors.some((t) => t.file !== undefined);
  out.push(
    table(
      ['name', 'shape', 'type', 'bytes', 'bpw', ...(files ? ['file'] : [])],
      r.tensors.map((t) => {
        const b = bpw(t.bytes, t.elements);
        return [
          oneLine(t.name),
          `[${t.shape.join(', ')}]`,
          t.type,
          fmtBytes(t.bytes),
          b === null ? '-' : b.toFixed(2),
          ...(files ? [oneLine(t.file ?? '')] : []),
        ];
      }),
    ),
  );
  const tot = totals(r);
  out.push('');
  out.push(
    `total: ${tot.tensors} tensors, ${fmtCount(tot.parameters)} parameters, ${fmtBytes(tot.bytes)}` +
      (tot.bitsPerWeight === null ? '' : `, ${tot.bitsPerWeight.toFixed(2)} bits per weight`),
  );
  return out.join('\n') + '\n';
}

export function renderJson(r: InspectReport): string {
  const tot = totals(r);
  return (
    JSON.stringify(
      {
        file: r.file,
        format: r.format,
        fileSize: r.fileSize,
        ...Object.fromEntries(r.facts.map(([k, v]) => [k.replace(/ (\w)/g, (_, c: string) => c.toUpperCase()), v])),
        metadata: r.metadataJson,
        ...r.extraJson,
        tensors: r.tensors.map((t) => ({ ...t, bitsPerWeight: bpw(t.bytes, t.elements) })),
        totals: tot,
      },
      null,
      2,
    ) + '\n'
  );
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description(
      'show the metadata and tensors of a model file (GGUF, safetensors, ONNX), with sizes and bits per weight',
    )
    .argument(
      '<file>',
      'model file; for a sharded safetensors checkpoint its directory or model.safetensors.index.json',
    )
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const index = await shardIndexFor(file);
      if (index) {
        const r = await inspectShardedSafetensors(index);
        process.stdout.write(opts.json ? renderJson(r) : renderText(r));
        return;
      }
      const src = await FileSource.open(file);
      try {
        const r = await inspectSource(src);
        process.stdout.write(opts.json ? renderJson(r) : renderText(r));
      } finally {
        await src.close();
      }
    });
}
