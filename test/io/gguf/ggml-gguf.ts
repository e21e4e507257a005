// ggml's own GGUF parser and writer (libggml-base.so through koffi), to check our files against
// the implementation llama.cpp loads them with. Test-only.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oracle } from '../../support/oracle.js';

interface GgufLib {
  init(data: Uint8Array, params: { no_alloc: boolean; ctx: unknown }): unknown;
  free(ctx: unknown): void;
  write(ctx: unknown, path: string, onlyMeta: boolean): boolean;
  nTensors(ctx: unknown): number | bigint;
  nKv(ctx: unknown): number | bigint;
  dataOffset(ctx: unknown): number | bigint;
  koffi: any;
}

let lib: GgufLib | undefined;

function load(): GgufLib {
  if (lib) return lib;
  const o = oracle();
  const koffi = o.koffi;
  const l = o.lib as any;
  koffi.struct('gguf_init_params_lb', { no_alloc: 'bool', ctx: 'void *' });
  // silence ggml's error log: hostile inputs make it talk
  const LogCb = koffi.proto('void ggml_log_cb_lb(int level, const char *text, void *user)');
  const setLog = l.func('void ggml_log_set(ggml_log_cb_lb *cb, void *user)');
  const cb = koffi.register(() => {}, koffi.pointer(LogCb));
  setLog(cb, null);
  lib = {
    init: l
      .func('void *gguf_init_from_buffer(const void *data, size_t size, gguf_init_params_lb params)')
      .bind(null) as any as GgufLib['init'],
    free: l.func('void gguf_free(void *ctx)'),
    write: l.func('bool gguf_write_to_file(void *ctx, const char *fname, bool only_meta)'),
    nTensors: l.func('int64_t gguf_get_n_tensors(void *ctx)'),
    nKv: l.func('int64_t gguf_get_n_kv(void *ctx)'),
    dataOffset: l.func('size_t gguf_get_data_offset(void *ctx)'),
    koffi,
  };
  const initRaw = lib.init as any;
  lib.init = (data, params) => initRaw(data, data.length, params);
  return lib;
}

/** Whether ggml's gguf_init_from_buffer accepts the bytes (header only). */
export function ggmlAccepts(bytes: Uint8Array): boolean {
  const g = load();
  const ctx = g.init(bytes, { no_alloc: true, ctx: null });
  if (!ctx) return false;
  g.free(ctx);
  return true;
}

/**
 * ggml parses the bytes and writes the header back with gguf_write_to_file(only_meta): what
 * llama.cpp would write for the same metadata and tensor infos, up to the data section.
 * (Writing data too would need gguf_set_tensor_data, which crashes through koffi in this build.)
 */
export function ggmlRewriteHeader(bytes: Uint8Array): Uint8Array {
  const g = load();
  const ctx = g.init(bytes, { no_alloc: true, ctx: null });
  if (!ctx) throw new Error('ggml rejected the file');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-ggml-'));
  try {
    const p = join(dir, 'out.gguf');
    if (!g.write(ctx, p, true)) throw new Error('gguf_write_to_file failed');
    return new Uint8Array(readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    g.free(ctx);
  }
}

/** ggml's data section offset for the bytes (gguf_get_data_offset). */
export function ggmlDataOffset(bytes: Uint8Array): number {
  const g = load();
  const ctx = g.init(bytes, { no_alloc: true, ctx: null });
  if (!ctx) throw new Error('ggml rejected the file');
  try {
    return Number(g.dataOffset(ctx));
  } finally {
    g.free(ctx);
  }
}
