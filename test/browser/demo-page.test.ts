/**
 * The demo page in real headless Chromium, subscribed with ssehub's client: it receives every event
 * across a hub restart (the hub runs on Redis, so history outlives the process) and across a page
 * reload (the last id is kept in sessionStorage), and shows the state transitions.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { RedisStore } from '../../src/store/redis.js';
import { publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { ARTIFACTS, chromiumAvailable, ensureDemoBuilt, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';

const suite = 'browser test of the demo page';
const runnable = chromiumAvailable(suite) && redisAvailable(suite);

/** Event ids shown on the page, oldest first (the table shows the newest on top). */
function shownIds(page: Page): Promise<string[]> {
  return page.$$eval('#events tr', (rows) =>
    rows.map((row) => (row as HTMLElement).dataset.id ?? '').reverse(),
  );
}

async function waitForRows(page: Page, count: number): Promise<void> {
  await page.waitForFunction((n) => document.querySelectorAll('#events tr').length >= n, count, {
    timeout: 15_000,
  });
}

async function waitForState(page: Page, state: string): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('state')?.textContent === s, state, {
    timeout: 15_000,
  });
}

(runnable ? describe : describe.skip)('demo page with the ssehub client (Chromium)', () => {
  let browser: Browser;
  let redis: RedisServer;
  const hubs: TestHub[] = [];

  beforeAll(async () => {
    ensureDemoBuilt();
    redis = await RedisServer.start();
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    for (const hub of hubs) await hub.close().catch(() => undefined);
    await browser?.close();
    await redis?.destroy();
  });

  const store = () => RedisStore.connect({ url: redis.url, prefix: 'demo-browser' });

  async function startHub(port = 0): Promise<TestHub> {
    const hub = await startTestHub({ store: await store(), config: { port, retryMs: 200, demo: true } });
    hubs.push(hub);
    return hub;
  }

  async function publishDemo(hub: TestHub, count: number, label: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const result = await publish(hub.hubUrl, { topic: 'demo', data: `${label} ${i}` });
      expect(result.status).toBe(200);
      ids.push(result.body);
    }
    return ids;
  }

  it('receives every event across a hub restart and a page reload, showing each state', async () => {
    const first = await startHub();
    const port = Number(new URL(first.url).port);
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${first.url}/`);
    await waitForState(page, 'open');

    // 1. Live events.
    const live = await publishDemo(first, 5, 'live');
    await waitForRows(page, 5);

    // 2. Hub restart: events published while no hub runs (by another instance on the same Redis)
    //    and after the restart all arrive, in order, once.
    await first.close();
    await waitForState(page, 'retrying');
    const writer = await store();
    const whileDown: string[] = [];
    for (let i = 0; i < 5; i++)
      whileDown.push((await writer.append({ topics: ['demo'], data: `down ${i}` })).id);
    await writer.close();
    const second = await startHub(port);
    const afterRestart = await publishDemo(second, 5, 'restarted');
    await waitForRows(page, 15);
    await page.waitForTimeout(100); // a duplicate would show up now
    expect(await shownIds(page)).toEqual([...live, ...whileDown, ...afterRestart]);
    const transitions = await page.$$eval('#state-log li', (items) =>
      items.map((item) => (item as HTMLElement).dataset.state).reverse(),
    );
    expect(transitions.slice(0, 2)).toEqual(['connecting', 'open']);
    expect(transitions).toContain('retrying');
    expect(transitions.at(-1)).toBe('open');
    expect(Number(await page.textContent('#reconnects'))).toBeGreaterThanOrEqual(1);
    expect(await page.isHidden('#notice')).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo-after-hub-restart.png'), fullPage: true });

    // 3. Page reload: events published while the new page loads are replayed from the stored id.
    await page.reload({ waitUntil: 'commit' });
    const duringReload = await publishDemo(second, 5, 'reloading');
    await waitForState(page, 'open');
    const afterReload = await publishDemo(second, 5, 'reloaded');
    await waitForRows(page, 10);
    await page.waitForTimeout(100);
    expect(await shownIds(page)).toEqual([...duringReload, ...afterReload]);
    expect(await page.isHidden('#notice')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-after-reload.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('publishes from the page form and shows the hub’s reset signal for an unknown id', async () => {
    const hub = await startHub();
    const page = await browser.context.newPage();
    // A stale id from an earlier hub process: the hub cannot resume from it and says so.
    await page.goto(`${hub.url}/`);
    await waitForState(page, 'open');
    await page.evaluate(() => {
      for (const key of Object.keys(sessionStorage)) sessionStorage.setItem(key, '1-1');
    });
    await page.reload();
    await waitForState(page, 'open');
    await page.waitForSelector('#notice:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('#notice')).toContain('could not resume after 1-1');

    await page.fill('#publish-data', 'from the form');
    await page.click('#publish-form button');
    await page.waitForFunction(
      () => document.querySelector('#events tr td:nth-child(3)')?.textContent === 'from the form',
    );
    expect(await page.textContent('#publish-result')).toMatch(/^published /);
    await page.close();
  });
});
