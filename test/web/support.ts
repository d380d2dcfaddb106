import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { DEFAULT_INBOX_DIR } from '../../src/api/inbox.ts';

// The inbox in a real browser: Debian's Chromium (/usr/bin/chromium; .ci/run installs it), driven
// by playwright-core, which downloads nothing. The closed network makes Chromium slow unless it is
// told not to reach Google's services. Playwright starts it with a fresh profile of its own (a new
// --user-data-dir) each time. Screenshots go to a temporary folder (SCREENSHOTS).

export const CHROMIUM = process.env['IGDM_CHROMIUM'] ?? '/usr/bin/chromium';

export const SCREENSHOTS = process.env['IGDM_SCREENSHOTS'] ?? join(tmpdir(), 'igdm-inbox-screenshots');

/** The browser tests need the built inbox (`npm test` builds it first): without it they fail, naming the fix. */
export function requireInboxBuilt(): void {
  if (!existsSync(join(DEFAULT_INBOX_DIR, 'index.html')))
    throw new Error('The inbox is not built: run `npm run build:web` (npm install and npm test build it)');
}

export interface Chromium {
  browser: Browser;
  /** A fresh profile's page (no key stored), at the given viewport. */
  page(options?: { width?: number; height?: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Each new context (a window) also loaded the address bar's pop-up, a web page of its own,
      // while the inbox loaded: CPU a browser someone already runs has spent long before. The
      // features Playwright disables are repeated: a second --disable-features replaces the first.
      `--disable-features=${[
        'WebUIOmniboxPopup',
        'PreloadTopChromeWebUI',
        'AvoidUnnecessaryBeforeUnloadCheckSync',
        'DestroyProfileOnBrowserClose',
        'HttpsUpgrades',
        'HttpsFirstBalancedModeAutoEnable',
        'LensOverlay',
        'MediaRouter',
        'PaintHolding',
        'ThirdPartyStoragePartitioning',
        'AvoidCorsURLLoaderRestartOnRedirect',
        'OptimizationHints',
        'NetworkTimeServiceQuerying',
        'AimEnabled',
        'PreconnectToSearch',
      ].join(',')}`,
    ],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async page({ width = 1280, height = 800 } = {}) {
      const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
    },
  };
}

/** Saves a screenshot of the page as SCREENSHOTS/NAME.png. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** Signs in with a key and waits for the inbox. */
export async function signIn(page: Page, url: string, key: string) {
  await page.goto(url);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.app').waitFor();
}

/** The list's row of a conversation. */
export const row = (page: Page, conversationId: string) =>
  page.locator(`.row[data-conversation-id="${conversationId}"]`);

/** The aria-label of the element that has the focus. */
export const focused = (page: Page) =>
  page.evaluate<string | null>("document.activeElement?.getAttribute('aria-label') ?? null");
