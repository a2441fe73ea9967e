import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

/** What the console's browser tests share: Debian's Chromium, the screenshot folder, widths, waiting for text. */

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = path.join(__dirname, '..', '..', '.screenshots', 'console');
export const LAPTOP = { width: 1366, height: 860 };
export const PHONE = { width: 390, height: 844 };

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The console's browser tests need Chromium at ${CHROMIUM}: apt-get update && apt-get install -y chromium`,
    );
  }
}

/**
 * Waits until the locator's text contains `text`, or matches it (the console renders
 * asynchronously: a text read once may be the one before the redraw).
 */
export async function expectText(
  locator: ReturnType<Page['locator']>,
  text: string | RegExp,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last =
      (await locator
        .first()
        .textContent()
        .catch(() => '')) ?? '';
    if (typeof text === 'string' ? last.includes(text) : text.test(last)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `expected ${typeof text === 'string' ? `"${text}"` : text} in "${last.slice(0, 300)}"`,
  );
}

/**
 * Records on `problems` every script error and every error the page logs, so a CSP violation or a
 * script error fails the test at its end. Chromium also logs each 4xx as "Failed to load resource":
 * those are answers the console shows in words, not problems.
 */
export function recordPageProblems(page: Page, problems: string[]): void {
  page.on('console', (message) => {
    if (
      message.type() === 'error' &&
      !message.text().startsWith('Failed to load resource: the server responded with a status of 4')
    ) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(error.message));
}
