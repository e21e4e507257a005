// `lowbit eval` for ONNX: runs a model and its reference in ONNX Runtime (onnxruntime-node, CPU) on
// the same inputs and measures how far the outputs moved: per output cosine, SQNR, max error; for
// classifiers top-1 agreement; with labels, the accuracy of each; and latency per run.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { loadEngine } from '../node/engines.js';
import { ErrorAccumulator, type ErrorStats } from '../analysis/error-stats.js';
import { LowbitError, FileFormatError } from '../errors.js';
import { readIdx } from './idx.js';
import { parseNpy } from './npy.js';
import { mulberry32 } from '../analysis/random.js';

export type PixelScaling = 'unit' | 'mnist' | 'raw';

export interface OnnxEvalOptions {
  model: string;
  ref: string;
  /** 'random' (seeded normal values), an IDX image file (.gz or not), or a directory of <input>.npy files */
  inputs?: string;
  /** IDX label file matching an IDX image input */
  labels?: string;
  /** how IDX bytes become floats: unit = x/255, mnist = (x/255 - 0.1307)/0.3081, raw = x */
  pixels?: PixelScaling;
  /** use at most this many samples */
  limit?: number;
  /** samples per run */
  batch?: number;
  /** random mode: batches to run, and the seed */
  randomBatches?: number;
  seed?: number;
  threads?: number;
}

export interface OnnxOutputStats extends ErrorStats {
  name: string;
  /** the output's shape over the whole evaluation: one run's shape with the batch axis (when its first
   *  dimension is the run's sample count) summed over all runs */
  shape: number[];
}

export interface OnnxEvalResult {
  model: string;
  ref: string;
  inputs: string;
  samples: number;
  batch: number;
  outputs: OnnxOutputStats[];
  /** when an output looks like class scores ([batch, classes]): share of samples with the same argmax */
  top1Agreement?: { output: string; agreement: number };
  /** with labels: share of samples whose argmax is the label */
  accuracy?: { model: number; ref: number };
  /** median milliseconds per run (one batch), after a warm-up run */
  latencyMs: { model: number; ref: number };
  sizeBytes: { model: number; ref: number };
  settings: { runtime: string; threads: number; pixels?: PixelScaling };
}

type Feed = Record<string, Ort.Tensor>;

async function loadOrt(): Promise<typeof Ort> {
  // loaded on demand (an optional peer dependency): a missing package is a one-line LowbitError
  const m = await loadEngine<typeof Ort & { default?: typeof Ort }>(
    'onnxruntime-node',
    'evaluating an ONNX model (lowbit evalOnnx)',
  );
  return (m.InferenceSession ? m : m.default) as typeof Ort;
}

async function openSession(ort: typeof Ort, path: string, threads: number): Promise<Ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw e;
    throw new FileFormatError(path, `ONNX Runtime cannot load it: ${String((e as Error).message).split('\n')[0]}`);
  }
}

function tensorMeta(s: Ort.InferenceSession, name: string): { type: string; shape: (number | string)[] } {
  const m = s.inputMetadata.find((x) => x.name === name);
  if (!m || !m.isTensor) throw new LowbitError(`input ${name} is not a tensor; only tensor inputs are supported`);
  return { type: m.type, shape: [...m.shape] };
}

/** A batch source: yields feeds of `batch` samples plus their labels when known. */
interface Batches {
  describe: string;
  samples: number;
  pixels?: PixelScaling;
  next(): Generator<{ feed: Feed; labels?: ArrayLike<number>; n: number }>;
}

function concreteShape(shape: (number | string)[], batch: number, name: string): number[] {
  return shape.map((d, i) => {
    if (typeof d === 'number' && d > 0) return d;
    if (i === 0) return batch;
    throw new LowbitError(
      `input ${name} has a symbolic dimension ${String(d)} past the batch axis; give --inputs DIR with ${name}.npy`,
    );
  });
}

function randomBatches(ort: typeof Ort, s: Ort.InferenceSession, batch: number, count: number, seed: number): Batches {
  const metas = s.inputNames.map((n) => ({ name: n, ...tensorMeta(s, n) }));
  for (const m of metas) {
    if (m.type !== 'float32')
      throw new LowbitError(
        `input ${m.name} is ${m.type}: random inputs are float32 only; give --inputs DIR with ${m.name}.npy`,
      );
  }
  const shapes = metas.map((m) => concreteShape(m.shape, batch, m.name));
  const b = typeof metas[0]?.shape[0] === 'number' ? (shapes[0]![0] ?? batch) : batch;
  return {
    describe: `random normal values, seed ${seed}`,
    samples: b * count,
    *next() {
      const r = mulberry32(seed);
      const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
      for (let k = 0; k < count; k++) {
        const feed: Feed = {};
        metas.forEach((m, i) => {
          const shape = shapes[i]!;
          const data = new Float32Array(shape.reduce((a, c) => a * c, 1));
          for (let j = 0; j < data.length; j++) data[j] = gauss();
          feed[m.name] = new ort.Tensor('float32', data, shape);
        });
        yield { feed, n: b };
      }
    },
  };
}

const PIXELS: Record<PixelScaling, (v: number) => number> = {
  unit: (v) => v / 255,
  mnist: (v) => (v / 255 - 0.1307) / 0.3081,
  raw: (v) => v,
};

async function idxBatches(
  ort: typeof Ort,
  s: Ort.InferenceSession,
  file: string,
  labelsFile: string | undefined,
  batch: number,
  limit: number,
  pixels: PixelScaling,
): Promise<Batches> {
  if (s.inputNames.length !== 1)
    throw new LowbitError(`an IDX image file feeds models with one input; this one has ${s.inputNames.length}`);
  const name = s.inputNames[0]!;
  const meta = tensorMeta(s, name);
  if (meta.type !== 'float32') throw new LowbitError(`input ${name} is ${meta.type}; IDX images feed float32 inputs`);
  const images = await readIdx(file);
  const nAll = images.dims[0]!;
  const per = images.dims.slice(1).reduce((a, b) => a * b, 1);
  let labels: ArrayLike<number> | undefined;
  if (labelsFile) {
    const l = await readIdx(labelsFile);
    if (l.dims.length !== 1 || l.dims[0] !== nAll)
      throw new LowbitError(
        `${labelsFile}: labels of shape ${l.dims.join('×')} for ${nAll} images (expected ${nAll} labels in one dimension)`,
      );
    labels = l.data as ArrayLike<number>;
  }
  const fixedBatch = typeof meta.shape[0] === 'number' && meta.shape[0] > 0 ? meta.shape[0] : undefined;
  const b = fixedBatch ?? batch;
  const shape = concreteShape(meta.shape, b, name);
  const want = shape.slice(1).reduce((a, c) => a * c, 1);
  if (want !== per) {
    const sample =
      images.dims.length > 1
        ? `samples of ${images.dims.slice(1).join('×')} = ${per} values`
        : 'one value per sample (a rank-1 IDX array: labels, not images?)';
    throw new LowbitError(
      `${file}: ${sample} cannot feed input ${name} [${meta.shape.join(', ')}], which takes ${want} values per sample`,
    );
  }
  const n = Math.min(nAll, limit);
  const scale = PIXELS[pixels];
  return {
    describe: `${file} (${n} samples${labels ? ', labelled' : ''}, pixels ${pixels})`,
    pixels,
    // a model with a fixed batch size gets whole batches only; others also get the remainder
    samples: fixedBatch ? n - (n % b) : n,
    *next() {
      for (let at = 0; at < n; at += b) {
        const k = Math.min(b, n - at);
        if (k < b && fixedBatch) break;
        const data = new Float32Array(k * per);
        for (let j = 0; j < data.length; j++) data[j] = scale(images.data[at * per + j] as number);
        yield {
          feed: { [name]: new ort.Tensor('float32', data, [k, ...shape.slice(1)]) },
          labels: labels ? Array.from({ length: k }, (_, i) => labels![at + i]!) : undefined,
          n: k,
        };
      }
    },
  };
}

async function npyBatches(ort: typeof Ort, s: Ort.InferenceSession, dir: string): Promise<Batches> {
  const files = new Set(await readdir(dir));
  const feed: Feed = {};
  let n = 0;
  for (const name of s.inputNames) {
    const f = `${name}.npy`;
    if (!files.has(f)) throw new LowbitError(`${dir}: no ${f} for model input ${name}`);
    const a = parseNpy(new Uint8Array(await readFile(join(dir, f))), join(dir, f));
    const type = a.dtype === 'bool' ? 'bool' : a.dtype;
    feed[name] = new ort.Tensor(type as 'float32', a.data as Float32Array, a.shape);
    n = a.shape[0] ?? 1;
  }
  return {
    describe: `${dir} (${s.inputNames.map((x) => `${x}.npy`).join(', ')})`,
    samples: n,
    *next() {
      yield { feed, n };
    },
  };
}

function argmaxRows(data: ArrayLike<number>, rows: number, cols: number, out: number[]): void {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c]! > data[r * cols + best]!) best = c;
    out.push(best);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length ? (s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2) : 0;
}

export async function evalOnnx(opts: OnnxEvalOptions): Promise<OnnxEvalResult> {
  const ort = await loadOrt();
  const threads = opts.threads ?? 1;
  const [sm, sr] = [await openSession(ort, opts.model, threads), await openSession(ort, opts.ref, threads)];
  try {
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    const names = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '(none)');
    if (!same(sm.inputNames, sr.inputNames))
      throw new LowbitError(`the models take different inputs: ${names(sm.inputNames)} vs ${names(sr.inputNames)}`);
    if (!same(sm.outputNames, sr.outputNames))
      throw new LowbitError(`the models give different outputs: ${names(sm.outputNames)} vs ${names(sr.outputNames)}`);

    const inputs = opts.inputs ?? 'random';
    const batch = opts.batch ?? 32;
    if (!Number.isInteger(batch) || batch < 1)
      throw new LowbitError(`--batch must be a positive integer, got ${batch}`, 'EUSAGE');
    let src: Batches;
    if (inputs === 'random') {
      if (opts.labels) throw new LowbitError('--labels needs --inputs with the matching images', 'EUSAGE');
      src = randomBatches(ort, sm, batch, opts.randomBatches ?? 8, opts.seed ?? 1);
    } else if ((await stat(inputs)).isDirectory()) {
      src = await npyBatches(ort, sm, inputs);
    } else {
      src = await idxBatches(ort, sm, inputs, opts.labels, batch, opts.limit ?? Infinity, opts.pixels ?? 'unit');
    }

    const acc = new Map(sm.outputNames.map((n) => [n, new ErrorAccumulator()]));
    // each output's shape over the whole evaluation: one run's shape, with the batch axis (when the
    // output has one: its first dimension equals the run's sample count) summed over the runs
    const shapes = new Map<string, { dims: number[]; batchLed: boolean; rows: number }>();
    const top: { m: number[]; r: number[] } = { m: [], r: [] };
    const labels: number[] = [];
    const classOut = sm.outputNames[0];
    let isClassifier = true;
    const tm: number[] = [],
      tr: number[] = [];
    let samples = 0,
      first = true;
    for (const { feed, labels: lab, n } of src.next()) {
      if (first) {
        await sm.run(feed);
        await sr.run(feed);
        first = false;
      } // warm-up, not timed
      let t0 = performance.now();
      const om = await sm.run(feed);
      tm.push(performance.now() - t0);
      t0 = performance.now();
      const or = await sr.run(feed);
      tr.push(performance.now() - t0);
      for (const name of sm.outputNames) {
        const a = om[name]!,
          b = or[name]!;
        if (a.dims.join() !== b.dims.join())
          throw new LowbitError(
            `output ${name}: shape [${a.dims.join(', ')}] vs [${b.dims.join(', ')}] in the reference`,
          );
        if (typeof a.data[0] === 'bigint' || typeof a.data === 'string') continue;
        acc.get(name)!.add(b.data as ArrayLike<number>, a.data as ArrayLike<number>);
        const sh = shapes.get(name);
        const led = a.dims.length > 0 && a.dims[0] === n;
        if (!sh) shapes.set(name, { dims: [...a.dims], batchLed: led, rows: led ? n : 0 });
        else if (sh.batchLed && led && a.dims.slice(1).join() === sh.dims.slice(1).join()) sh.rows += n;
        else sh.batchLed = false;
        if (name === classOut) {
          if (a.dims.length !== 2 || a.dims[0] !== n || (a.dims[1] ?? 0) < 2) isClassifier = false;
          else {
            argmaxRows(a.data as ArrayLike<number>, n, a.dims[1]!, top.m);
            argmaxRows(b.data as ArrayLike<number>, n, a.dims[1]!, top.r);
          }
        }
      }
      if (lab) labels.push(...Array.from(lab));
      samples += n;
    }
    if (samples === 0) throw new LowbitError(`no complete batch of inputs in ${src.describe}`);

    const result: OnnxEvalResult = {
      model: opts.model,
      ref: opts.ref,
      inputs: src.describe,
      samples,
      batch: Math.ceil(samples / tm.length),
      outputs: [...acc]
        .filter(([n]) => shapes.has(n))
        .map(([name, a]) => {
          const sh = shapes.get(name)!;
          return { name, shape: sh.batchLed ? [sh.rows, ...sh.dims.slice(1)] : sh.dims, ...a.result() };
        }),
      latencyMs: { model: median(tm), ref: median(tr) },
      sizeBytes: { model: (await stat(opts.model)).size, ref: (await stat(opts.ref)).size },
      settings: {
        runtime: `onnxruntime-node ${ort.env.versions?.node ?? '?'}, CPU execution provider`,
        threads,
        ...(src.pixels ? { pixels: src.pixels } : {}),
      },
    };
    if (isClassifier && classOut && top.m.length) {
      result.top1Agreement = {
        output: classOut,
        agreement: top.m.filter((c, i) => c === top.r[i]).length / top.m.length,
      };
      if (labels.length === top.m.length) {
        result.accuracy = {
          model: top.m.filter((c, i) => c === labels[i]).length / labels.length,
          ref: top.r.filter((c, i) => c === labels[i]).length / labels.length,
        };
      }
    }
    return result;
  } finally {
    await sm.release();
    await sr.release();
  }
}
