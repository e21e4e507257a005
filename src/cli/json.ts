// JSON output of measurements: ±Infinity (e.g. the SQNR of identical tensors) and NaN are not JSON,
// so they are written as the strings "Infinity", "-Infinity", "NaN" rather than silently as null.
export function measurementJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
}
