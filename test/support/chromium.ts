// Headless Chromium for the tests that need a real browser: Debian's package, driven by
// playwright-core. The flags keep it off this machine's closed network.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A `skip` value for node:test: false when Chromium is there, else the reason. */
export const needsChromium: false | string =
  !existsSync(CHROMIUM) && 'needs /usr/bin/chromium (Debian package chromium; .ci/run installs it)';

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs] });
}
