// Screenshots of a `lowbit report` HTML file as a reader sees it at laptop width (1280 px): one PNG
// per section (size/quality, worst tensors, histograms), for the README. Needs Debian's chromium.
//   node --import tsx tools/report-screenshots.ts report.html docs/ [prefix]
import { join } from 'node:path';
import { resolve } from 'node:path';
import { launchChromium } from '../test/support/chromium.js';

const [file, outDir, prefix = 'report'] = process.argv.slice(2);
if (!file || !outDir) {
  console.error('usage: tools/report-screenshots.ts <report.html> <out dir> [prefix]');
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto('file://' + resolve(file));
  await page.waitForSelector('body[data-charts-rendered]', { timeout: 60000 });
  if (errors.length) throw new Error(`the page logged errors: ${errors.join('; ')}`);
  for (const id of ['size-quality', 'tensors', 'histograms']) {
    const s = page.locator(`section#${id}`);
    if (!(await s.count())) continue;
    const path = join(outDir, `${prefix}-${id}.png`);
    await s.screenshot({ path });
    console.log(path);
  }
} finally {
  await browser.close();
}
