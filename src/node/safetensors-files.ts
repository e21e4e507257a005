// Opens a model directory's safetensors from disk: model.safetensors.index.json when present
// (sharded), else model.safetensors, else the only *.safetensors file.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { LowbitError } from '../errors.js';
import { FileSource } from './file-io.js';
import { readSafetensorsHeader } from '../io/safetensors/reader.js';
import { openSafetensorsSet, openShardedSafetensors, type SafetensorsSet } from '../io/safetensors/sharded.js';

export async function openSafetensorsDir(dir: string): Promise<SafetensorsSet> {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index))
    return openShardedSafetensors(index, await readFile(index, 'utf8'), (name) => FileSource.open(join(dir, name)));
  let file = join(dir, 'model.safetensors');
  if (!existsSync(file)) {
    const all = (await readdir(dir)).filter((n) => n.endsWith('.safetensors'));
    if (all.length !== 1) {
      throw new LowbitError(
        `${dir}: no model.safetensors or model.safetensors.index.json${all.length ? ` (found ${all.length} other .safetensors files)` : ''}`,
      );
    }
    file = join(dir, all[0]!);
  }
  const src = await FileSource.open(file);
  try {
    return await openSafetensorsSet([await readSafetensorsHeader(src)]);
  } catch (e) {
    await src.close();
    throw e;
  }
}
