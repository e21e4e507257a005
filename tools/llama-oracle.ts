// llama.cpp's own llama_model_quantize, from the libllama.so node-llama-cpp ships, through koffi.
// The oracle for `lowbit quantize`: same input, same options, and the two output files must be equal
// tensor for tensor. Node-only, dev-only: never imported by the library.
//
// llama_model_quantize_params is built exactly per include/llama.h of this build, starting from
// llama_model_quantize_default_params(); the kv overrides carry the quantize.imatrix.* keys the way
// tools/quantize/quantize.cpp adds them.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GGML_LIB_DIR } from './ggml-oracle.js';

const require = createRequire(import.meta.url);

export interface LlamaQuantizeOptions {
  /** LLAMA_FTYPE_* */
  ftype: number;
  nthread?: number;
  /** ggml type ids */
  outputTensorType?: number;
  tokenEmbeddingType?: number;
  allowRequantize?: boolean;
  leaveOutputTensor?: boolean;
  pure?: boolean;
  dryRun?: boolean;
  /** per-tensor importances (already divided by counts, as llama-quantize's load_imatrix does) */
  imatrix?: Map<string, Float32Array>;
  /** the quantize.imatrix.* provenance llama-quantize writes when an imatrix is used */
  imatrixFile?: string;
  imatrixDataset?: string;
  imatrixChunks?: number;
  /** --override-kv, before the imatrix keys (as llama-quantize orders them) */
  kvOverrides?: { key: string; type: 'int' | 'float' | 'bool' | 'str'; value: bigint | number | boolean | string }[];
  /** --keep-split (output is then the prefix of the shard names) */
  keepSplit?: boolean;
  /** --prune-layers (sorted, unique) */
  pruneLayers?: readonly number[];
  /** --tensor-type, patterns as given (llama-quantize lower-cases them; so do we here) */
  tensorTypes?: { pattern: string; type: number }[];
}

export interface LlamaOracle {
  /** Runs llama_model_quantize; resolves with its log. Throws with the log when it returns non-zero. */
  quantize(input: string, output: string, opts: LlamaQuantizeOptions): string;
}

let cached: LlamaOracle | null | undefined;

// enum llama_model_kv_override_type
const LLAMA_KV_OVERRIDE_TYPE_INT = 0;
const LLAMA_KV_OVERRIDE_TYPE_FLOAT = 1;
const LLAMA_KV_OVERRIDE_TYPE_BOOL = 2;
const LLAMA_KV_OVERRIDE_TYPE_STR = 3;
const GGML_TYPE_COUNT = 43;
const KV_OVERRIDE_SIZE = 264; // tag(4) + key[128] + pad(4) + union(128)

export function loadLlamaOracle(): LlamaOracle | null {
  if (cached !== undefined) return cached;
  const dir = GGML_LIB_DIR;
  const llamaPath = join(dir, 'libllama.v0.4.0.so');
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync(llamaPath)) return (cached = null);
  const koffi = require('koffi');
  // load dependencies first so the loader finds them by soname
  koffi.load(join(dir, 'libggml-base.so'));
  const ggml = koffi.load(join(dir, 'libggml.v0.4.0.so'));
  const lib = koffi.load(llamaPath);

  const Params = koffi.struct('llama_model_quantize_params_lb', {
    nthread: 'int32_t',
    ftype: 'int',
    output_tensor_type: 'int',
    token_embedding_type: 'int',
    allow_requantize: 'bool',
    quantize_output_tensor: 'bool',
    only_copy: 'bool',
    pure: 'bool',
    keep_split: 'bool',
    dry_run: 'bool',
    imatrix: 'void *',
    kv_overrides: 'void *',
    tt_overrides: 'void *',
    prune_layers: 'void *',
    max_buf_size: 'size_t',
  });
  const ImatrixData = koffi.struct('llama_model_imatrix_data_lb', {
    name: 'const char *',
    data: 'const float *',
    size: 'size_t',
  });
  const TensorOverride = koffi.struct('llama_model_tensor_override_lb', { pattern: 'const char *', type: 'int' });
  if (koffi.sizeof(Params) !== 64)
    throw new Error(`llama_model_quantize_params layout: ${koffi.sizeof(Params)} bytes, expected 64`);

  const LogCb = koffi.proto('void llama_log_cb_lb(int level, const char *text, void *user_data)');
  const logSet = lib.func('void llama_log_set(llama_log_cb_lb *cb, void *user_data)');
  const ggmlLogSet = ggml.func('void ggml_log_set(llama_log_cb_lb *cb, void *user_data)');
  const backendLoadAll = ggml.func('void ggml_backend_load_all_from_path(const char *dir)');
  const backendInit = lib.func('void llama_backend_init(void)');
  const defaults = lib.func('llama_model_quantize_params_lb llama_model_quantize_default_params(void)');
  const quantizeF = lib.func(
    'uint32_t llama_model_quantize(const char *inp, const char *out, const llama_model_quantize_params_lb *params)',
  );

  let log = '';
  const cb = koffi.register((_level: number, text: string) => {
    log += text;
  }, koffi.pointer(LogCb));
  logSet(cb, null);
  ggmlLogSet(cb, null);
  backendLoadAll(dir);
  backendInit();

  const keep: unknown[] = []; // buffers koffi must not see collected while a call runs

  function encodeStructArray(type: unknown, items: Record<string, unknown>[]): Buffer {
    const size = koffi.sizeof(type);
    const buf = Buffer.alloc(size * items.length);
    items.forEach((it, i) => koffi.encode(buf, i * size, type, it));
    return buf;
  }

  function kvOverrides(opts: LlamaQuantizeOptions): Buffer | null {
    const TAG = {
      int: LLAMA_KV_OVERRIDE_TYPE_INT,
      float: LLAMA_KV_OVERRIDE_TYPE_FLOAT,
      bool: LLAMA_KV_OVERRIDE_TYPE_BOOL,
      str: LLAMA_KV_OVERRIDE_TYPE_STR,
    };
    const list: [string, number, string | number | bigint | boolean][] = (opts.kvOverrides ?? []).map((o) => [
      o.key,
      TAG[o.type],
      o.value,
    ]);
    if (opts.imatrix && opts.imatrix.size > 0) {
      list.push(['quantize.imatrix.file', LLAMA_KV_OVERRIDE_TYPE_STR, opts.imatrixFile ?? '']);
      if (opts.imatrixDataset !== undefined)
        list.push(['quantize.imatrix.dataset', LLAMA_KV_OVERRIDE_TYPE_STR, opts.imatrixDataset]);
      list.push(['quantize.imatrix.entries_count', LLAMA_KV_OVERRIDE_TYPE_INT, opts.imatrix.size]);
      if ((opts.imatrixChunks ?? 0) > 0)
        list.push(['quantize.imatrix.chunks_count', LLAMA_KV_OVERRIDE_TYPE_INT, opts.imatrixChunks!]);
    }
    if (!list.length) return null;
    const buf = Buffer.alloc(KV_OVERRIDE_SIZE * (list.length + 1)); // zeroed terminator: key[0] == 0
    list.forEach(([key, tag, val], i) => {
      const o = i * KV_OVERRIDE_SIZE;
      buf.writeInt32LE(tag, o);
      buf.write(key, o + 4, 127, 'utf8');
      if (tag === LLAMA_KV_OVERRIDE_TYPE_STR) {
        const b = Buffer.from(String(val), 'utf8').subarray(0, 127); // strncpy(.., 127)
        b.copy(buf, o + 136);
      } else if (tag === LLAMA_KV_OVERRIDE_TYPE_FLOAT) buf.writeDoubleLE(val as number, o + 136);
      else if (tag === LLAMA_KV_OVERRIDE_TYPE_BOOL) buf.writeUInt8(val ? 1 : 0, o + 136);
      else buf.writeBigInt64LE(BigInt(val as number | bigint), o + 136);
    });
    return buf;
  }

  cached = {
    quantize(input, output, opts) {
      const p = defaults();
      p.ftype = opts.ftype;
      p.nthread = opts.nthread ?? 0;
      p.output_tensor_type = opts.outputTensorType ?? GGML_TYPE_COUNT;
      p.token_embedding_type = opts.tokenEmbeddingType ?? GGML_TYPE_COUNT;
      p.allow_requantize = !!opts.allowRequantize;
      p.quantize_output_tensor = !opts.leaveOutputTensor;
      p.pure = !!opts.pure;
      p.dry_run = !!opts.dryRun;
      p.keep_split = !!opts.keepSplit;
      const hold: unknown[] = [];
      if (opts.imatrix && opts.imatrix.size > 0) {
        const entries = [...opts.imatrix].map(([name, data]) => {
          const nameBuf = Buffer.from(name + '\0', 'utf8');
          hold.push(nameBuf, data);
          return { name: nameBuf, data, size: data.length };
        });
        entries.push({
          name: null as unknown as (typeof entries)[number]['name'],
          data: null as unknown as Float32Array,
          size: 0,
        });
        const arr = encodeStructArray(ImatrixData, entries);
        hold.push(arr);
        p.imatrix = arr;
      }
      const kv = kvOverrides(opts);
      if (kv) {
        hold.push(kv);
        p.kv_overrides = kv;
      }
      if (opts.tensorTypes?.length) {
        const items = opts.tensorTypes.map((t) => {
          const pat = Buffer.from(t.pattern.toLowerCase() + '\0', 'utf8');
          hold.push(pat);
          return { pattern: pat, type: t.type };
        });
        items.push({ pattern: null as unknown as (typeof items)[number]['pattern'], type: GGML_TYPE_COUNT });
        const arr = encodeStructArray(TensorOverride, items);
        hold.push(arr);
        p.tt_overrides = arr;
      }
      if (opts.pruneLayers?.length) {
        const arr = Buffer.from(Int32Array.from([...opts.pruneLayers, -1]).buffer); // -1 terminates
        hold.push(arr);
        p.prune_layers = arr;
      }
      keep.push(hold);
      log = '';
      try {
        const rc = quantizeF(input, output, p);
        if (rc !== 0) throw new Error(`llama_model_quantize failed (${rc}):\n${log}`);
        return log;
      } finally {
        keep.pop();
      }
    },
  };
  return cached;
}
