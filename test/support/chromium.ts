/**
 * Headless Chromium for the browser tests, through playwright-core. Never skipped: `npm test`
 * refuses to start without Chromium and sets CHROMIUM_PATH; a test file run by hand fails here,
 * saying what to install.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import type { Browser } from 'playwright-core';

/** Starts Chromium at CHROMIUM_PATH (default `/usr/bin/chromium`); the caller closes it. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  assert.ok(existsSync(executablePath), `no Chromium at ${executablePath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    // No sandbox (containers, root), and no traffic of its own: updates, sync, QUIC probes.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
