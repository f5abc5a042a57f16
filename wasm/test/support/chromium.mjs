// Debian's Chromium, headless, driven by playwright-core, for
// the browser tests and benchmarks. Pages must come from 127.0.0.1 (IndexedDB needs a
// real origin): see server.mjs.
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

// `extraArgs`: more Chromium flags (the benchmarks add --js-flags=--expose-gc).
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}
