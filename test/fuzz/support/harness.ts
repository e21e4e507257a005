// Fuzz harness shared by the parser fuzz tests: every input goes to a real parser in a worker
// thread, and the outcome must be a parse or a LowbitError with a one-line message, reached
// without reading outside the file, without reading much more than the file holds, without
// exhausting a bounded heap, and within a generous time limit (which catches infinite loops, not
// slowness: the machine may be busy). An input that breaks a rule is saved to the temp folder and
// named in the failure, ready to be added to test/fixtures/fuzz-corpus.
import { Worker } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ParseRequest, ParseResult } from './protocol.js';

export type { ParseRequest, ParseResult } from './protocol.js';

const WORKER_URL = new URL('./parse-worker.ts', import.meta.url);
/** far beyond any honest parse of these small inputs: only a loop that never ends reaches it */
export const CASE_TIMEOUT_MS = 15_000;
/** heap for the parse worker: a parser that grows arrays from a hostile count runs out and fails the case */
const HEAP_MB = 192;

function startWorker(): Worker {
  // a worker does not inherit tsx's loader: register it first (as src/node/workers.ts does)
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, {
    eval: true,
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 32 },
  });
}

export class FuzzHarness {
  private worker: Worker | null = null;
  cases = 0;
  readonly outcomes = { ok: 0, format: 0, lowbit: 0 };

  /** Runs one input; rejects (with the saved input's path) on a hang or a dead worker. */
  private runRaw(req: ParseRequest): Promise<ParseResult> {
    const w = (this.worker ??= startWorker());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.kill();
        reject(new Error(`parse did not finish in ${CASE_TIMEOUT_MS} ms`));
      }, CASE_TIMEOUT_MS);
      const onMessage = (r: ParseResult) => {
        cleanup();
        resolve(r);
      };
      const onError = (e: Error) => {
        cleanup();
        this.kill();
        reject(new Error(`parse worker died: ${e.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        this.worker = null;
        reject(new Error(`parse worker exited with code ${code}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(req);
    });
  }

  private kill(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  /**
   * Parses `req` and checks the rules; returns the result for further checks. `readBudget` is how
   * many bytes the parser may read in all (default: twice the input and side files, plus 64 KiB).
   */
  async check(req: ParseRequest, readBudget?: number): Promise<ParseResult> {
    this.cases++;
    const total = req.bytes.length + Object.values(req.sidecars ?? {}).reduce((a, b) => a + b.length, 0);
    const budget = readBudget ?? 2 * total + 65536;
    let r: ParseResult;
    try {
      r = await this.runRaw(req);
    } catch (e) {
      throw new Error(`${(e as Error).message}; input saved to ${save(req)}`);
    }
    const problem =
      r.kind === 'other'
        ? `not a LowbitError: ${r.message}`
        : r.kind !== 'ok' && (!r.message || /[\r\n]/.test(r.message))
          ? `error message is not one line: ${JSON.stringify(r.message)}`
          : r.overreach
            ? `read outside the file: ${r.overreach}`
            : (r.bytesRead ?? 0) > budget
              ? `read ${r.bytesRead} bytes from ${total} bytes of input`
              : null;
    if (problem) throw new Error(`${req.parser} fuzz case ${this.cases}: ${problem}; input saved to ${save(req)}`);
    this.outcomes[r.kind as 'ok' | 'format' | 'lowbit']++;
    return r;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}

function save(req: ParseRequest): string {
  const h = createHash('sha256').update(req.bytes).digest('hex').slice(0, 12);
  const p = join(tmpdir(), `lowbit-fuzz-${req.parser}-${h}.bin`);
  writeFileSync(p, req.bytes);
  for (const [loc, b] of Object.entries(req.sidecars ?? {})) writeFileSync(`${p}.${loc.replace(/[^\w.-]/g, '_')}`, b);
  return p;
}

// ---- mutations of real files ----

import fc from 'fast-check';

/** Values that break size arithmetic: zero, one, powers of two around 2^31/2^32/2^53/2^63, all-ones. */
export const INTERESTING_U64 = [
  0n,
  1n,
  2n,
  7n,
  8n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 53n) + 1n,
  1n << 62n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
];

export type Mutation = (x: Uint8Array) => Uint8Array;

/**
 * Byte-level mutations at positions in [lo, hi): bit flips, interesting little-endian u32/u64
 * values (inflated counts, lengths, offsets), bytes that are not UTF-8, inserted and deleted runs.
 */
export function byteMutations(lo: number, hi: number, fileSize: number): fc.Arbitrary<Mutation> {
  const pos = fc.integer({ min: lo, max: Math.max(lo, hi - 1) });
  const flip = fc.tuple(pos, fc.integer({ min: 0, max: 7 })).map(([p, b]): Mutation => (x) => {
    if (p < x.length) x[p]! ^= 1 << b;
    return x;
  });
  const u64 = fc
    .tuple(
      pos,
      fc.oneof(
        fc.constantFrom(...INTERESTING_U64),
        fc.constant(BigInt(fileSize)),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      ),
    )
    .map(([p, v]): Mutation => (x) => {
      for (let i = 0; i < 8 && p + i < x.length; i++) x[p + i] = Number((v >> BigInt(8 * i)) & 0xffn);
      return x;
    });
  const u32 = fc
    .tuple(
      pos,
      fc.oneof(
        fc.integer({ min: 0, max: 16 }),
        fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff, fileSize),
        fc.integer({ min: 0, max: 0xffffffff }),
      ),
    )
    .map(([p, v]): Mutation => (x) => {
      for (let i = 0; i < 4 && p + i < x.length; i++) x[p + i] = (v >>> (8 * i)) & 0xff;
      return x;
    });
  const notUtf8 = fc
    .tuple(pos, fc.constantFrom(0xff, 0xfe, 0xc0, 0xc1, 0x80, 0xed, 0xf5, 0x00))
    .map(([p, v]): Mutation => (x) => {
      if (p < x.length) x[p] = v;
      return x;
    });
  // (earlier mutations may have shortened the input: positions are clamped to it)
  const insert = fc.tuple(pos, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([p0, b]): Mutation => (x) => {
    const p = Math.min(p0, x.length);
    const y = new Uint8Array(x.length + b.length);
    y.set(x.subarray(0, p));
    y.set(b, p);
    y.set(x.subarray(p), p + b.length);
    return y;
  });
  const remove = fc.tuple(pos, fc.integer({ min: 1, max: 16 })).map(([p0, n]): Mutation => (x) => {
    const p = Math.min(p0, x.length);
    const y = new Uint8Array(x.length - Math.min(n, x.length - p));
    y.set(x.subarray(0, p));
    y.set(x.subarray(p + n), p);
    return y;
  });
  return fc.oneof(
    { arbitrary: flip, weight: 3 },
    { arbitrary: u64, weight: 2 },
    { arbitrary: u32, weight: 3 },
    { arbitrary: notUtf8, weight: 1 },
    { arbitrary: insert, weight: 1 },
    { arbitrary: remove, weight: 1 },
  );
}

export function applyAll(base: Uint8Array, ms: Mutation[]): Uint8Array {
  let x: Uint8Array = base.slice();
  for (const m of ms) x = m(x);
  return x;
}

/** Truncation points: every byte of the first `head` bytes, plus the given boundaries ±1. */
export function cutPoints(size: number, head: number, boundaries: number[] = []): number[] {
  const s = new Set<number>();
  for (let i = 0; i <= Math.min(head, size - 1); i++) s.add(i);
  for (const b of boundaries) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < size) s.add(b + d);
  return [...s].sort((a, b) => a - b);
}
