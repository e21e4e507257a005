// Number and size formatting shared by the CLI's tables (and the web app's).
import type { TargetAllocation } from '../pipeline/target.js';

/** A count (tensors, parameters, weights, samples): always the exact integer, never rounded. */
export function fmtCount(n: number): string {
  return Number.isSafeInteger(n)
    ? String(n)
    : n.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 0 });
}

/** A measured value to `digits` significant digits: never use it for counts (see fmtCount). */
export function fmtNum(x: number, digits = 5): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(Math.max(1, digits - 2));
  return String(Number(x.toPrecision(digits)));
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function fmtPct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** Left-aligned first column, right-aligned others; widths from content. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

/** A decibel figure (SQNR): two decimals, or inf. */
export function fmtDb(x: number): string {
  return x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x.toFixed(2);
}

/** What a --target-size / --target-bpw allocation did, for quantize's summary and dry run and the web app's plan. */
export function targetLines(a: TargetAllocation): string[] {
  return [
    `target ${fmtBytes(a.targetBytes)} (${a.targetBytes} bytes): predicted ${a.predictedBytes} bytes (${fmtNum((100 * a.predictedBytes) / a.targetBytes, 4)}% of it), ${a.assignment.size} tensors chosen, predicted error ${a.predictedError.toExponential(3)}`,
    `error measure: ${a.measure}; search ${a.seconds.toFixed(2)} s; general.file_type ${a.fileType.name}`,
    ...(a.predictedBytes < 0.99 * a.targetBytes
      ? [
          `note: ${fmtNum((100 * (a.targetBytes - a.predictedBytes)) / a.targetBytes, 3)}% under the target: no choice of the candidate types comes closer (the steps between types are that coarse here, or every tensor is at its best type)`,
        ]
      : []),
  ];
}
