// No command may write over a file it reads. Every command that writes calls
// refuseOutputOverInputs(outputs, inputs) with all its output paths (temp-renamed targets, side
// files, --keep-split shards, quantize-dir's generated variants) and every file it will read
// (each shard of a split GGUF or sharded safetensors, the index json, config and tokenizer files,
// imatrix and tensor-type files, ...), before it reads any of them. Two paths are the same file
// when they resolve to the same path (`./x` and `x`), have the same real path (symlinks, also of a
// folder on the way) or the same device and inode (hard links). Also: missing inputs are named in
// one friendly line (`<file>: no such file`) before anything else happens.
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { LowbitError } from '../errors.js';

/** The real path of `p`; for a path that does not exist yet, its folder's real path joined with its name. */
function realish(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    /* not there (yet) */
  }
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function identity(p: string): string | undefined {
  try {
    const st = statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether two paths name the same file (same resolved path, real path, or device+inode). */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b) || realish(a) === realish(b)) return true;
  const ia = identity(a);
  return ia !== undefined && ia === identity(b);
}

/**
 * Throws `output X is the input file Y; choose another output path` (a LowbitError: one line,
 * exit 1) when any output names any input, and `outputs X and Y are the same file` when two outputs
 * collide. Reads no file contents; call it before opening anything.
 */
export function refuseOutputOverInputs(outputs: readonly string[], inputs: readonly string[]): void {
  const ins = inputs.filter((p) => p !== undefined && p !== '').map((p) => ({ p, real: realish(p), id: identity(p) }));
  const outs = outputs
    .filter((p) => p !== undefined && p !== '')
    .map((p) => ({ p, real: realish(p), id: identity(p) }));
  for (const o of outs) {
    for (const i of ins) {
      if (resolve(o.p) === resolve(i.p) || o.real === i.real || (o.id !== undefined && o.id === i.id)) {
        throw new LowbitError(`output ${o.p} is the input file ${i.p}; choose another output path`);
      }
    }
  }
  for (let a = 0; a < outs.length; a++) {
    for (let b = a + 1; b < outs.length; b++) {
      const x = outs[a]!,
        y = outs[b]!;
      if (x.real === y.real || (x.id !== undefined && x.id === y.id))
        throw new LowbitError(`outputs ${x.p} and ${y.p} are the same file; choose different output paths`);
    }
  }
}

/** `<file>: no such file` (or `not a file` for a folder where a file is needed) for the first input that is not there. */
export function requireInputFiles(paths: readonly (string | undefined)[], opts: { allowDirs?: boolean } = {}): void {
  for (const p of paths) {
    if (p === undefined) continue;
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new LowbitError(describeMissing(p, e), 'EIO', (e as NodeJS.ErrnoException).code);
    }
    if (!opts.allowDirs && st.isDirectory()) throw new LowbitError(`${p}: is a folder, not a file`);
  }
}

/** The one-line text for a file that cannot be opened: `<file>: no such file`, `<file>: permission denied`, ... */
export function describeMissing(p: string, e: unknown): string {
  // a LowbitError from FileSource.open carries the system's code in errno (its own code is EIO)
  const code = e instanceof LowbitError ? e.errno : (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return `${p}: no such file`;
    case 'ENOTDIR':
      return `${p}: no such file (a part of the path is not a folder)`;
    case 'EACCES':
    case 'EPERM':
      return `${p}: permission denied`;
    case 'ELOOP':
      return `${p}: too many levels of symbolic links`;
    case 'EISDIR':
      return `${p}: is a folder, not a file`;
    default:
      return `${p}: cannot open (${code ?? (e as Error)?.message ?? String(e)})`;
  }
}

/**
 * The files a GGUF path stands for before its header is read: a first shard named
 * `<prefix>-00001-of-0000N.gguf` stands for all N shards (llama.cpp's naming), any other path for itself.
 */
export function ggufInputFiles(path: string): string[] {
  const m = /^(.*)-00001-of-(\d{5})\.gguf$/.exec(path);
  const n = m ? Number(m[2]) : 0;
  if (!m || n < 2) return [path];
  return Array.from({ length: n }, (_, i) => `${m[1]}-${String(i + 1).padStart(5, '0')}-of-${m[2]}.gguf`);
}
