import sparticuz from '@sparticuz/chromium';
import { type Browser, chromium } from 'playwright-core';

/**
 * Headless Chromium from npm on every machine, one path: @sparticuz/chromium is a self-contained
 * build (its own libraries and fonts, unpacked into the temp directory on first use), driven by
 * playwright-core. Nothing comes from the system, so no path is assumed; when it cannot start, the
 * test fails with the reason, it never skips.
 */
export async function launchChromium(): Promise<Browser> {
  // No WebGL needed to decode images: saves unpacking the software GL stack.
  sparticuz.setGraphicsMode = false;
  return chromium.launch({ executablePath: await sparticuz.executablePath(), args: sparticuz.args });
}
