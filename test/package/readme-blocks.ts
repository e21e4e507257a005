// The README's runnable examples: the ```ts blocks whose info string is `ts runnable`, and the
// folder they run in (stories260K.bin and a Hugging Face-layout copy of it, hf-stories260K/).
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { REPO } from '../support/cli.js';

export function runnableBlocks(readmePath = join(REPO, 'README.md')): string[] {
  const text = readFileSync(readmePath, 'utf8');
  const blocks: string[] = [];
  const re = /^```ts runnable\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) blocks.push(m[1]!);
  return blocks;
}

/** Copies the files the examples read into `dir`. */
export function stageExampleFiles(dir: string): void {
  cpSync(join(REPO, 'fixtures/stories260K.bin'), join(dir, 'stories260K.bin'));
  cpSync(join(REPO, 'test/fixtures/hf-stories260K'), join(dir, 'hf-stories260K'), { recursive: true });
}

/** A block as a plain ES module (types stripped), its `lowbit` imports pointed at `resolve(spec)`. */
export function blockAsModule(block: string, resolve?: (spec: 'lowbit' | 'lowbit/node') => string): string {
  let code = transformSync(block, { loader: 'ts', format: 'esm', target: 'node20' }).code;
  if (resolve)
    code = code.replace(
      /from\s+["'](lowbit(?:\/node)?)["']/g,
      (_, spec: 'lowbit' | 'lowbit/node') => `from ${JSON.stringify(resolve(spec))}`,
    );
  return code;
}
