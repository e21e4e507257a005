// llama.cpp's own llama_model_quantize (through koffi) as the judge of converted models of the
// phi3 / gemma3 / gpt-oss architectures: per-tensor plans (dry runs, every file type, with and
// without an importance matrix) and `convert hf --type X` in one pass against converting to F32
// and quantizing with llama.cpp.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadLlamaOracle, type LlamaQuantizeOptions } from '../../../tools/llama-oracle.js';
import { FileSource } from '../../../src/node/file-io.js';
import { readGgufHeader } from '../../../src/io/gguf/reader.js';
import { planGguf } from '../../../src/plan/from-gguf.js';
import { FILE_TYPES, parseFileType } from '../../../src/plan/file-types.js';
import { typeName, type PlanOptions } from '../../../src/plan/plan.js';
import { convertHfDir } from '../../../src/node/convert-files.js';
import { assertSameGguf } from '../../pipeline/compare-gguf.js';

export function llamaOracle() {
  const llama = loadLlamaOracle();
  if (!llama) throw new Error('llama oracle (libllama from @node-llama-cpp/linux-x64) is not available');
  return llama;
}

function llamaDryRun(path: string, opts: LlamaQuantizeOptions): [string, string][] {
  const log = llamaOracle().quantize(path, '/dev/null', { ...opts, dryRun: true, nthread: 1 });
  const out: [string, string][] = [];
  const re =
    /\[\s*\d+\/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\S+), (?:[^\n]*?)size =\s*[\d.]+ MiB(?: ->\s*[\d.]+ MiB \((\S+)\))?/g;
  for (const m of log.matchAll(re)) out.push([m[1]!, m[3] ?? m[2]!]);
  if (out.length === 0) throw new Error(`no tensor lines in llama.cpp's log:\n${log}`);
  return out;
}

async function lowbitPlan(path: string, opts: PlanOptions): Promise<[string, string][]> {
  const src = await FileSource.open(path);
  try {
    return planGguf(await readGgufHeader(src), opts).tensors.map((t) => [t.name, typeName(t.dstType)]);
  } finally {
    await src.close();
  }
}

/** Every file type (with and without an imatrix): lowbit's plan equals llama.cpp's dry run, tensor for tensor. Returns how many were compared. */
export async function assertPlansLikeLlama(path: string, what: string): Promise<number> {
  let n = 0;
  for (const ft of FILE_TYPES) {
    for (const hasImatrix of [false, true]) {
      const imatrix = hasImatrix ? new Map([['unused.weight', new Float32Array(4).fill(1)]]) : undefined;
      const label = `${what} ${ft.name}${hasImatrix ? ' with imatrix' : ''}`;
      let expected: [string, string][] | Error;
      try {
        expected = llamaDryRun(path, { ftype: ft.id, imatrix });
      } catch (e) {
        expected = e as Error;
      }
      if (expected instanceof Error) {
        const why = /failed to quantize: ([^\n]*)/.exec(expected.message)?.[1] ?? expected.message;
        await assert.rejects(
          lowbitPlan(path, { fileType: ft, hasImatrix }),
          (e: Error) => e.message.startsWith(why),
          label,
        );
        continue;
      }
      assert.deepEqual(await lowbitPlan(path, { fileType: ft, hasImatrix }), expected, label);
      n++;
    }
  }
  return n;
}

/** `convert hf DIR --type T` (one streaming pass) equals converting to F32 then llama.cpp quantizing to T. */
export async function assertConvertTypeLikeLlama(
  hfDir: string,
  tmp: string,
  types: string[],
  what: string,
  o: { allowRequantize?: boolean } = {},
): Promise<void> {
  const f32 = join(tmp, `${what}.F32.gguf`);
  await convertHfDir(hfDir, f32, 'F32');
  for (const t of types) {
    const expected = join(tmp, `${what}.llama.${t}.gguf`),
      actual = join(tmp, `${what}.lowbit.${t}.gguf`);
    llamaOracle().quantize(f32, expected, {
      ftype: parseFileType(t).id,
      nthread: 1,
      allowRequantize: o.allowRequantize,
    });
    await convertHfDir(hfDir, actual, t, {}, undefined, { threads: 1, allowRequantize: o.allowRequantize });
    await assertSameGguf(actual, expected, `${what} --type ${t}`);
  }
}
