// Quantizing Qwen3, Qwen3-MoE and SmolLM3 as llama.cpp does:
//  - plans: for every file type (with and without an imatrix), lowbit's per-tensor types on the
//    converted models equal llama_model_quantize's dry run (through koffi), tensor for tensor —
//    expert tensors ffn_{gate,up,down}_exps, the router ffn_gate_inp, attn_q_norm / attn_k_norm,
//    tied and untied outputs; 8 experts for the rules that count them;
//  - `convert hf --type T` (one streaming pass) writes the same file as llama_model_quantize on the
//    F32 GGUF llama.cpp's own converter wrote (test/fixtures/arch-golden), and on the wide models
//    the same as llama_model_quantize on lowbit's F32 conversion — including MXFP4_MOE for qwen3moe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaOracle, type LlamaQuantizeOptions } from '../../tools/llama-oracle.js';
import { convertHfDir } from '../../src/node/convert-files.js';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/io/gguf/reader.js';
import { BufferSource } from '../../src/io/source.js';
import { planGguf } from '../../src/plan/from-gguf.js';
import { FILE_TYPES, parseFileType } from '../../src/plan/file-types.js';
import { typeName, type PlanOptions } from '../../src/plan/plan.js';
import { codecByTypeId } from '../../src/formats/registry.js';
import { assertSameGguf } from '../pipeline/compare-gguf.js';
import { writeArchFixture, type ArchKind } from './support/arch-fixture.js';

const llama = loadLlamaOracle();
if (!llama) throw new Error('llama oracle (libllama from @node-llama-cpp/linux-x64) is not available');

const dir = mkdtempSync(join(tmpdir(), 'lowbit-archq-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const KINDS: ArchKind[] = ['qwen3', 'qwen3moe', 'smollm3'];

function llamaDryRun(path: string, opts: LlamaQuantizeOptions): [string, string][] {
  const log = llama!.quantize(path, '/dev/null', { ...opts, dryRun: true, nthread: 1 });
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

const wide = new Map<ArchKind, Promise<{ ck: string; f32: string; f16: string }>>();
function wideModel(kind: ArchKind) {
  if (!wide.has(kind)) {
    wide.set(
      kind,
      (async () => {
        const ck = join(dir, `${kind}-wide`);
        await writeArchFixture(ck, kind, { wide: true });
        const f32 = join(dir, `${kind}-wide-f32.gguf`),
          f16 = join(dir, `${kind}-wide-f16.gguf`);
        await convertHfDir(ck, f32, 'F32');
        await convertHfDir(ck, f16, 'F16');
        return { ck, f32, f16 };
      })(),
    );
  }
  return wide.get(kind)!;
}

for (const kind of KINDS) {
  test(`${kind}: every file type plans like llama.cpp`, async () => {
    const { f16 } = await wideModel(kind);
    const names = (await lowbitPlan(f16, { fileType: parseFileType('Q8_0') })).map(([n]) => n);
    if (kind === 'qwen3moe')
      for (const t of [
        'blk.0.ffn_gate_exps.weight',
        'blk.0.ffn_down_exps.weight',
        'blk.0.ffn_gate_inp.weight',
        'blk.1.attn_k_norm.weight',
        'output.weight',
      ])
        assert.ok(names.includes(t), t);
    if (kind === 'qwen3') assert.ok(names.includes('blk.0.attn_q_norm.weight') && !names.includes('output.weight'));
    let compared = 0;
    for (const ft of FILE_TYPES) {
      for (const hasImatrix of [false, true]) {
        const imatrix = hasImatrix ? new Map([['unused.weight', new Float32Array(4).fill(1)]]) : undefined;
        const what = `${kind} ${ft.name}${hasImatrix ? ' with imatrix' : ''}`;
        let expected: [string, string][] | Error;
        try {
          expected = llamaDryRun(f16, { ftype: ft.id, imatrix });
        } catch (e) {
          expected = e as Error;
        }
        if (expected instanceof Error) {
          const why = /failed to quantize: ([^\n]*)/.exec(expected.message)?.[1] ?? expected.message;
          await assert.rejects(
            lowbitPlan(f16, { fileType: ft, hasImatrix }),
            (e: Error) => e.message.startsWith(why),
            what,
          );
          continue;
        }
        assert.deepEqual(await lowbitPlan(f16, { fileType: ft, hasImatrix }), expected, what);
        compared++;
      }
    }
    assert.ok(compared >= FILE_TYPES.length, `${compared} plans compared`);
  });
}

/** file types whose planned tensor types all have codecs and need no imatrix */
async function producible(path: string): Promise<string[]> {
  const src = await FileSource.open(path);
  try {
    const h = await readGgufHeader(src);
    return FILE_TYPES.filter((ft) => {
      try {
        const p = planGguf(h, { fileType: ft });
        return p.tensors.every(
          (t) => (!t.convert || codecByTypeId(t.dstType)) && !(t.requiresImatrix && t.quantizable),
        );
      } catch {
        return false;
      }
    }).map((ft) => ft.name);
  } finally {
    await src.close();
  }
}

for (const kind of KINDS) {
  test(`${kind}: convert hf --type T equals llama_model_quantize on llama.cpp's own F32 conversion, every producible type`, async (t) => {
    const ck = join(dir, `${kind}-narrow`);
    await writeArchFixture(ck, kind);
    const golden = join('test/fixtures/arch-golden', `${kind}-f32.gguf`);
    // F32 / F16 / BF16 are the converter's own output types (arch-golden.test.ts): equal to convert_hf_to_gguf.py --outtype
    const types = (await producible(golden)).filter((t) => !['F32', 'F16', 'BF16'].includes(t));
    for (const must of ['Q8_0', 'Q4_0', 'Q4_K_M', 'Q6_K', ...(kind === 'qwen3moe' ? ['MXFP4_MOE'] : [])])
      assert.ok(types.includes(must), must);
    for (const type of types) {
      const expected = join(dir, `${kind}-llama-${type}.gguf`),
        actual = join(dir, `${kind}-lowbit-${type}.gguf`);
      llama!.quantize(golden, expected, { ftype: parseFileType(type).id, nthread: 1 });
      await convertHfDir(ck, actual, type, {}, undefined, { threads: 1 });
      // general.name differs (provenance): compare against llama's output with lowbit's name
      await assertSameGgufExceptName(actual, expected, `${kind} ${type}`);
    }
    t.diagnostic(`${types.length} types: ${types.join(' ')}`);
  });

  test(`${kind} (rows of 256${kind === 'qwen3moe' ? ', 8 experts' : ''}): convert hf --type equals convert then llama_model_quantize`, async () => {
    const { ck, f32 } = await wideModel(kind);
    for (const type of [
      'Q8_0',
      'Q6_K',
      'Q5_K_M',
      'Q4_K_M',
      'Q3_K_S',
      'Q2_K',
      'IQ4_XS',
      ...(kind === 'qwen3moe' ? ['MXFP4_MOE'] : []),
    ]) {
      const expected = join(dir, `${kind}-wide-llama-${type}.gguf`),
        actual = join(dir, `${kind}-wide-lowbit-${type}.gguf`);
      llama!.quantize(f32, expected, { ftype: parseFileType(type).id, nthread: 1 });
      await convertHfDir(ck, actual, type, {}, undefined, { threads: 1 });
      await assertSameGguf(actual, expected, `${kind} wide ${type}`);
    }
  });
}

/** the golden's general.name is "Qwen3" (from the directory name) and it has general.size_label: provenance */
async function assertSameGgufExceptName(actual: string, expected: string, what: string): Promise<void> {
  const PROV = new Set(['general.name', 'general.size_label']);
  const a = new Uint8Array(readFileSync(actual)),
    e = new Uint8Array(readFileSync(expected));
  const fa = await readGgufHeader(new BufferSource(a, actual)),
    fe = await readGgufHeader(new BufferSource(e, expected));
  const keys = (f: typeof fa) => [...f.metadata.keys()].filter((k) => !PROV.has(k));
  assert.deepEqual(keys(fa), keys(fe), `${what}: keys`);
  for (const k of keys(fe)) assert.deepEqual(fa.metadata.get(k), fe.metadata.get(k), `${what}: ${k}`);
  const sig = (f: typeof fa) =>
    f.tensors.map((t) => `${t.name} ${t.type.ggmlName} [${t.dims.join(',')}] @${t.relOffset}`);
  assert.deepEqual(sig(fa), sig(fe), `${what}: tensor infos`);
  for (let i = 0; i < fe.tensors.length; i++) {
    const ta = fa.tensors[i]!,
      te = fe.tensors[i]!;
    assert.ok(
      Buffer.compare(a.subarray(ta.offset, ta.offset + ta.byteSize), e.subarray(te.offset, te.offset + te.byteSize)) ===
        0,
      `${what}: ${te.name} bytes`,
    );
  }
}
