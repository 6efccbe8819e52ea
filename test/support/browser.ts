import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page, type Route } from 'playwright-core';

// Debian's Chromium driven by playwright-core: nothing is downloaded, and
// each launch gets a fresh profile that is removed again on close.

export const CHROMIUM = process.env.MESHMON_CHROMIUM ?? '/usr/bin/chromium';

export interface TestBrowser {
  context: BrowserContext;
  /** Requests the page tried to send off this machine (blocked). */
  outside: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Headless Chromium whose pages may reach only loopback: any other request
 * is aborted and recorded in `outside`, so a test can assert that nothing
 * the collector serves loads anything from the internet.
 */
export async function launchBrowser(opts: { viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'meshmon-chromium-'));
  let context: BrowserContext;
  try {
    // A persistent context is how Playwright takes a profile directory of our own (a fresh one per launch).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: opts.viewport ?? { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const outside: string[] = [];
  await context.route('**/*', (route: Route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK.has(url.hostname)) return route.continue();
    outside.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  return {
    context,
    outside,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
