/**
 * Plain-browser compatibility: Chromium's own EventSource against the hub, with no ssehub code in
 * the page. It must receive events with their ids, resume after a dropped connection by sending
 * Last-Event-ID itself, and resume from the `lastEventID` query parameter on a first connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

declare global {
  interface Window {
    received: [string, string][];
    opens: number;
    errors: number;
  }
}

const runnable = chromiumAvailable('browser test of native EventSource');

/** Opens a native EventSource in the page that records what it receives. */
async function openNative(page: Page, url: string): Promise<void> {
  await page.evaluate((streamUrl) => {
    window.received = [];
    window.opens = 0;
    window.errors = 0;
    const source = new EventSource(streamUrl);
    source.onopen = () => window.opens++;
    source.onerror = () => window.errors++;
    source.onmessage = (event) => window.received.push([event.lastEventId, String(event.data)]);
  }, url);
}

(runnable ? describe : describe.skip)('native EventSource in Chromium against the hub', () => {
  let browser: Browser;
  let hub: TestHub;
  let proxy: TcpProxy;

  beforeAll(async () => {
    hub = await startTestHub({ config: { port: 0, retryMs: 100 } });
    proxy = await TcpProxy.start(Number(new URL(hub.url).port));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await hub?.close();
  });

  async function publishNative(count: number, label: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++)
      ids.push((await publish(hub.hubUrl, { topic: 'native', data: `${label} ${i}` })).body);
    return ids;
  }

  it('receives events, and resumes with Last-Event-ID after its connection drops', async () => {
    const page = await browser.context.newPage();
    // Any same-origin page will do: the hub's 404 page has no script of ours.
    await page.goto(`${proxy.url}/blank`);
    await openNative(page, '/.well-known/mercure?topic=native');
    await page.waitForFunction(() => window.opens === 1);
    const before = await publishNative(3, 'before');
    await page.waitForFunction(() => window.received.length === 3);

    expect(proxy.dropAll()).toBeGreaterThanOrEqual(1);
    const whileAway = await publishNative(3, 'away'); // published while the browser reconnects
    await page.waitForFunction(() => window.opens === 2, undefined, { timeout: 10_000 });
    const after = await publishNative(2, 'after');
    await page.waitForFunction(() => window.received.length >= 8, undefined, { timeout: 10_000 });
    await page.waitForTimeout(100);

    const all = [...before, ...whileAway, ...after];
    const labels = [
      ...['before 0', 'before 1', 'before 2'],
      ...['away 0', 'away 1', 'away 2'],
      ...['after 0', 'after 1'],
    ];
    expect(await page.evaluate(() => window.received)).toEqual(all.map((id, i) => [id, labels[i]]));
    // The browser itself sent the id of the last event it saw when it reconnected.
    const reconnectHead = proxy.requestHeads.filter((head) => head.includes('topic=native')).at(-1) ?? '';
    expect(reconnectHead).toMatch(new RegExp(`\\r\\nlast-event-id: ${before.at(-1)}\\r\\n`, 'i'));
    expect(await page.evaluate(() => window.errors)).toBe(1);
    await page.close();
  });

  it('resumes from the lastEventID query parameter on its first connection', async () => {
    const ids = await publishNative(4, 'history');
    const page = await browser.context.newPage();
    await page.goto(`${hub.url}/blank`);
    await openNative(page, `/.well-known/mercure?topic=native&lastEventID=${encodeURIComponent(ids[1]!)}`);
    await page.waitForFunction(() => window.received.length >= 2);
    await page.waitForTimeout(100);
    expect(await page.evaluate(() => window.received)).toEqual([
      [ids[2], 'history 2'],
      [ids[3], 'history 3'],
    ]);
    await page.close();
  });
});
