// Node: the minified ECharts build (Apache-2.0) that reports inline, read from the installed package.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

let cached: string | undefined;

export async function loadEchartsSource(): Promise<string> {
  if (cached === undefined) {
    const require = createRequire(import.meta.url);
    cached = await readFile(require.resolve('echarts/dist/echarts.min.js'), 'utf8');
  }
  return cached;
}
