/**
 * Headless Chromium for Web UI tests: Debian's /usr/bin/chromium (installed by scripts/setup) driven by
 * playwright-core, with no browser download, no background traffic and a fresh profile each time. Only
 * loopback URLs are visited.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.TRANSIT_CHROMIUM ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  /** Origins of requests that failed because they were not to loopback. */
  blocked: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'transit-chromium-'));
  // launchPersistentContext takes the profile directory (it is what --user-data-dir sets).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No name resolution at all (the UI references a few external assets): only loopback is reached.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
    viewport: { width: 1600, height: 1100 },
  });
  // Requests that failed because they left loopback (name resolution is off): for the tests to inspect.
  // (No request interception: with routes, Playwright answers CORS preflights itself.)
  const blocked: string[] = [];
  context.on('requestfailed', (r) => {
    const u = new URL(r.url());
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && !['data:', 'blob:'].includes(u.protocol))
      blocked.push(u.origin);
  });
  return {
    context,
    blocked,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
