import { mkdirSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

// Debian's chromium (package chromium, installed by .ci/run), driven by playwright-core: the
// browser tests use it rather than a browser build of playwright's own.

const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };

function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: LAUNCH_ARGS, headless: true });
}

/** Chromium for one test file: started before its tests (with their artifacts directory made), closed after. */
export function useChromium(artifactsDir: string): { readonly browser: Browser } {
  const held = { browser: undefined as unknown as Browser };
  beforeAll(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    held.browser = await launchChromium();
  });
  afterAll(async () => {
    await held.browser?.close();
  });
  return held;
}
