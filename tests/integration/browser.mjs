// Real-browser helpers: Debian's Chromium (installed by scripts/setup.sh) driven headless by
// playwright-core. Playwright's own browser download does not work here, so the browser is
// always /usr/bin/chromium, started with flags that keep it off the network: without the
// background-networking ones it keeps trying (and failing) to reach its vendor's services.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { ROOT } from './harness.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.join(ROOT, 'tests', 'artifacts');

const FLAGS = [
  '--headless',
  '--no-sandbox', // the tests run as root, where Chromium's sandbox cannot start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium. Resolves to a Playwright `Browser`; close it when done.
 *
 * Every launch gets a fresh, empty profile: Playwright passes its own new `--user-data-dir`
 * (under the temp directory, removed on close) and refuses one in `args`.
 */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
  });
}

/** Saves a full-page screenshot of `page` to tests/artifacts/<name>.png; resolves to its path. */
export async function saveScreenshot(page, name) {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
