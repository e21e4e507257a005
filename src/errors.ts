// Every failure lowbit expects (bad input, hostile files, unsupported requests) is a LowbitError:
// the CLI prints its one-line message and exits non-zero, with no stack trace.
export class LowbitError extends Error {
  constructor(message: string, readonly code: string = 'ELOWBIT') {
    super(message);
    this.name = 'LowbitError';
  }
}

/** A file that does not parse: names the file and the problem. */
export class FileFormatError extends LowbitError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`, 'EFORMAT');
    this.name = 'FileFormatError';
  }
}

export function fail(message: string, code?: string): never {
  throw new LowbitError(message, code);
}
