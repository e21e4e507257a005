// The heavy engines are optional peer dependencies: the core and the file commands (quantize,
// convert, inspect, compare, explain, levels) never load them. Commands that run a model load
// their engine here on first use; when it is missing, the user gets one line naming the package
// to install.
import { LowbitError } from '../errors.js';

/**
 * The engines lowbit can use, with the exact version it is tested with. `install`: the command to
 * give when it differs from `npm install NAME@VERSION` (onnxruntime-node's install script downloads
 * CUDA libraries from outside the npm registry; lowbit uses the CPU runtime the package ships).
 */
export const ENGINES: Readonly<
  Record<'node-llama-cpp' | 'onnxruntime-node' | 'koffi', { version: string; purpose: string; install?: string }>
> = {
  'node-llama-cpp': { version: '3.21.1', purpose: 'running GGUF models in llama.cpp' },
  'onnxruntime-node': {
    version: '1.30.0',
    purpose: 'running ONNX models in ONNX Runtime',
    install: 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0',
  },
  koffi: { version: '3.3.4', purpose: "reaching llama.cpp's C library (importance matrices)" },
};

export type EngineName = keyof typeof ENGINES;

function isMissing(e: unknown, name: string): boolean {
  const err = e as { code?: string; message?: string };
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') return false;
  return typeof err.message === 'string' && err.message.includes(name);
}

/** The message for a missing engine: what needs it and the command that installs it. */
export function missingEngineMessage(name: EngineName, forWhat: string): string {
  const e = ENGINES[name];
  return `${forWhat} needs ${name} (${e.purpose}), which is not installed: run ${e.install ?? `npm install ${name}@${e.version}`}`;
}

/**
 * Imports an engine. `forWhat` names what needs it ("lowbit eval"). A missing package becomes a
 * LowbitError (code ENOENGINE) with the install command; any other failure is rethrown as is.
 */
export async function loadEngine<T = unknown>(name: EngineName, forWhat: string): Promise<T> {
  try {
    const m = (await import(name)) as T & { default?: T };
    return m;
  } catch (e) {
    if (isMissing(e, name)) throw new LowbitError(missingEngineMessage(name, forWhat), 'ENOENGINE');
    throw e;
  }
}
