// Real tiny GGUF models for eval tests: stories260K (committed llama2.c checkpoint) converted by
// `lowbit convert llama2c` to F32, Q8_0 and Q4_0, once per test process.
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string | undefined;

export function cli(args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Paths of stories260K as F32, Q8_0 and Q4_0 GGUFs. */
export function storiesModels(): { f32: string; q8: string; q4: string } {
  if (!dir) dir = mkdtempSync(join(tmpdir(), 'lowbit-eval-'));
  const out = {
    f32: join(dir, 'stories-f32.gguf'),
    q8: join(dir, 'stories-q8_0.gguf'),
    q4: join(dir, 'stories-q4_0.gguf'),
  };
  const bin = join(ROOT, 'fixtures/stories260K.bin');
  if (!existsSync(out.f32)) cli(['convert', 'llama2c', bin, out.f32]);
  if (!existsSync(out.q8)) cli(['quantize', out.f32, out.q8, '--type', 'Q8_0']);
  if (!existsSync(out.q4)) cli(['quantize', out.f32, out.q4, '--type', 'Q4_0']);
  return out;
}
