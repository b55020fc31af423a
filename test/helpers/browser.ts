import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium: playwright-core downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`${CHROMIUM} not found: the HTML report's browser tests are skipped (apt-get install -y chromium; .ci/run installs it)`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium on a fresh profile, with every background connection it would make turned off. */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'sockstat-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What a page did besides showing itself: every request, console message, page error and dialog. */
export interface PageEvents {
  requests: string[];
  console: Array<{ type: string; text: string }>;
  errors: string[];
  dialogs: string[];
}

/** Opens a local file in a new page, recording its events from before the navigation on. */
export async function openFile(b: Browser, file: string, width = 1240): Promise<{ page: Page; url: string; events: PageEvents }> {
  const page = await b.context.newPage();
  await page.setViewportSize({ width, height: 900 });
  const events: PageEvents = { requests: [], console: [], errors: [], dialogs: [] };
  page.on('request', (r) => events.requests.push(r.url()));
  page.on('console', (m) => events.console.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => events.errors.push(e.message));
  page.on('dialog', (d) => {
    events.dialogs.push(d.message());
    void d.dismiss();
  });
  const url = pathToFileURL(file).href;
  await page.goto(url, { waitUntil: 'load' });
  return { page, url, events };
}
