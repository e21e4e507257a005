// One error policy. Every failure lowbit expects (bad input, hostile files, unsupported requests,
// a missing engine, the file system, Ctrl-C) is a LowbitError carrying one of the codes below: the
// CLI prints its one-line message (`lowbit: <message>`) and exits non-zero, with no stack trace.
// Anything else thrown is a bug in lowbit (the CLI prints it with its stack, exit 70). Like
// safetensors' SafeTensorError, the code says what kind of failure it is, the message says which.

/**
 * What went wrong:
 * - `EINPUT`: the data given is wrong (inconsistent shapes, a tensor missing, a value out of range);
 *   the default.
 * - `EFORMAT`: a file or buffer does not parse as the format it claims (see {@link FileFormatError}).
 * - `EUSAGE`: an option or argument is malformed or contradicts another one.
 * - `EUNSUPPORTED`: valid input that lowbit does not handle (an architecture, a dtype, an op).
 * - `EIO`: the file system refused (the system's code, e.g. `ENOENT`, is in `errno`).
 * - `EINTERRUPTED`: the run was interrupted (Ctrl-C) or aborted.
 * - `ENOENGINE`: an optional engine (node-llama-cpp, onnxruntime-node, koffi) is not installed.
 * - `ENONFINITE`: the model or data produced NaN/Inf where finite values are required.
 * - `EINTERNAL`: lowbit's own consistency check failed (a bug; report it).
 */
export type LowbitErrorCode =
  'EINPUT' | 'EFORMAT' | 'EUSAGE' | 'EUNSUPPORTED' | 'EIO' | 'EINTERRUPTED' | 'ENOENGINE' | 'ENONFINITE' | 'EINTERNAL';

export const LOWBIT_ERROR_CODES: readonly LowbitErrorCode[] = [
  'EINPUT',
  'EFORMAT',
  'EUSAGE',
  'EUNSUPPORTED',
  'EIO',
  'EINTERRUPTED',
  'ENOENGINE',
  'ENONFINITE',
  'EINTERNAL',
];

export class LowbitError extends Error {
  constructor(
    message: string,
    readonly code: LowbitErrorCode = 'EINPUT',
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'LowbitError';
  }
}

/** A file that does not parse: names the file and the problem. */
export class FileFormatError extends LowbitError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`, 'EFORMAT');
    this.name = 'FileFormatError';
  }
}

export function fail(message: string, code?: LowbitErrorCode): never {
  throw new LowbitError(message, code);
}
