/**
 * examples/whos-here in Chromium: every page lists everyone in the room; a page that closes leaves
 * the others' lists only once the grace period is over; a page whose connection is cut and comes
 * back within it never leaves anyone's list (a MutationObserver in each page records every removal
 * from the list, so a flap of even one frame would show), and catches up with who joined meanwhile.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createApp, roomTopic } from '../../examples/whos-here/server.js';
import { ARTIFACTS, chromiumAvailable, ensureDemoBuilt, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { openStream, rawRequest } from '../helpers/hub.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

declare global {
  interface Window {
    whosHere: { names(): string[] };
    listChanges: { change: 'added' | 'removed'; name: string; at: number }[];
  }
}

/** Long enough for a reconnect (the client's first retry is within a second) on a loaded machine. */
const GRACE_MS = 4000;
const ROOM = 'standup';
const runnable = chromiumAvailable("browser test of the who's-here example");

/** Records every change of the list, from before the page's own script runs. */
const RECORD_LIST_CHANGES = `
  window.listChanges = [];
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) window.listChanges.push({ change: 'added', name: node.textContent, at: Date.now() });
        for (const node of record.removedNodes) window.listChanges.push({ change: 'removed', name: node.textContent, at: Date.now() });
      }
    }).observe(document.getElementById('people'), { childList: true });
  });
`;

(runnable ? describe : describe.skip)('examples/whos-here in Chromium', () => {
  let browser: Browser;
  let app: ReturnType<typeof createApp>;
  let appUrl: string;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    ensureDemoBuilt(); // the page loads the client from dist/
    app = createApp({ graceMs: GRACE_MS });
    await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
    appUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const proxy of proxies) await proxy.close();
    await app?.hub.close();
    await new Promise((resolve) => app?.server.close(resolve));
  });

  /** A page for one person, through a proxy of its own so that its connection alone can be cut. */
  async function person(name: string): Promise<{ page: Page; proxy: TcpProxy }> {
    const proxy = await TcpProxy.start((app.server.address() as AddressInfo).port);
    proxies.push(proxy);
    const page = await browser.context.newPage();
    await page.addInitScript({ content: RECORD_LIST_CHANGES });
    await page.goto(`${proxy.url}/?name=${name}&room=${ROOM}`);
    return { page, proxy };
  }

  async function shows(page: Page, names: string[]): Promise<void> {
    const expected = [...names].sort();
    await page.waitForFunction(
      (wanted) => JSON.stringify(window.whosHere?.names().sort()) === wanted,
      JSON.stringify(expected),
      { timeout: GRACE_MS + 10_000 },
    );
  }

  const removals = (page: Page) =>
    page.evaluate(() => window.listChanges.filter((change) => change.change === 'removed'));

  it('lists everyone, survives a cut within the grace period without a flap, and drops a closed page after it', async () => {
    const everyone = ['Ann', 'Bob', 'Cat', 'Dan'];
    const pages = new Map<string, { page: Page; proxy: TcpProxy }>();
    for (const name of everyone) pages.set(name, await person(name));
    for (const { page } of pages.values()) await shows(page, everyone);
    await pages.get('Bob')!.page.screenshot({ path: join(ARTIFACTS, 'whos-here-everyone.png') });

    // Ann's connection is cut; Eve joins (from Node) while Ann reconnects.
    const ann = pages.get('Ann')!;
    const annConnections = ann.proxy.connections;
    expect(ann.proxy.dropAll()).toBeGreaterThan(0);
    const joined = await rawRequest(`${appUrl}/join`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Eve', room: ROOM }),
    });
    const { token, topic } = JSON.parse(joined.body) as { token: string; topic: string };
    expect(topic).toBe(roomTopic(ROOM));
    const eve = await openStream(`${appUrl}/.well-known/mercure?topic=${encodeURIComponent(topic)}`, {
      Authorization: `Bearer ${token}`,
    });
    const withEve = [...everyone, 'Eve'];
    for (const { page } of pages.values()) await shows(page, withEve);
    // Ann reconnected (a new connection resuming after her last event), and nobody left any list.
    expect(ann.proxy.connections).toBeGreaterThan(annConnections);
    expect(ann.proxy.requestHeads.at(-1)).toMatch(/^last-event-id: /im);

    // Dan closes his page: he stays listed through the grace period, then leaves every list. The
    // events are in one order, so had Ann's cut been announced, it would have come before Dan's.
    const dan = pages.get('Dan')!;
    pages.delete('Dan');
    const closedAt = Date.now();
    await dan.page.close();
    const remaining = withEve.filter((name) => name !== 'Dan');
    for (const { page } of pages.values()) await shows(page, remaining);
    await pages.get('Ann')!.page.screenshot({ path: join(ARTIFACTS, 'whos-here-after-leave.png') });
    for (const [name, { page }] of pages) {
      const removed = await removals(page);
      expect(
        removed.map((change) => change.name),
        `removals seen by ${name}`,
      ).toEqual(['Dan']);
      expect(
        removed[0]!.at - closedAt,
        `Dan left ${name}'s list before the grace period`,
      ).toBeGreaterThanOrEqual(GRACE_MS - 50);
    }
    eve.destroy();
    for (const { page } of pages.values()) await page.close();
  }, 90_000);
});
