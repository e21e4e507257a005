// The few bytes around a hand-assembled WebAssembly function: the module of one exported function
// `(i32 × params) → ()` and an exported memory `m`, and its instance, for the imatrix kernels
// (sumsq.ts, syrk.ts). Browser-safe.

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];

/** A module exporting memory `m` (one page to start) and function `fn` of `params` i32 parameters with this body (locals included). */
export function oneFunctionModule(fn: string, params: number, body: number[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, params, ...new Array<number>(params).fill(0x7f), 0]), // type: (i32 × params) → ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, 1]), // memory: min 1 page
    ...section(7, [2, ...name('m'), 2, 0, ...name(fn), 0, 0]), // exports
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/** The module's function and memory, or null where this runtime has no WebAssembly (SIMD) to run it. */
export function instantiateOne<F>(
  module: Uint8Array<ArrayBuffer>,
  fn: string,
): { fn: F; mem: WebAssembly.Memory } | null {
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(module)) return null;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(module));
  return { fn: inst.exports[fn] as F, mem: inst.exports.m as WebAssembly.Memory };
}
