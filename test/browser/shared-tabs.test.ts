/**
 * Cross-tab sharing (issue 18) in real Chromium: tabs are pages of one browser context, so they share
 * an origin, its Web Locks and its BroadcastChannels, as tabs of one browser window do.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { hubSubscriptions, publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { chromiumAvailable, ensureDemoBuilt, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { eventually } from '../helpers/wait.js';

declare global {
  interface Window {
    tab: {
      events: { id: string; data: string; type: string }[];
      states: string[];
      resets: { reason: string }[];
      leading(): boolean;
      close(): void;
    };
  }
}

const KEY = 'a-shared-tabs-test-secret-of-enough-length';
const runnable = chromiumAvailable('browser test of cross-tab sharing');

function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(KEY));
}

/** Opens a tab whose page creates a client with `options` (a JS object literal, as source). */
async function openTab(browser: Browser, origin: string, options: string): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${origin}/blank`);
  // A module script, as a page would load it (a function passed to evaluate would be rewritten by
  // the test runner's transform).
  await page.addScriptTag({
    type: 'module',
    content: `
      import { createClient } from '/client/index.js';
      const client = createClient('/.well-known/mercure', ${options});
      const tab = { events: [], states: [], resets: [] };
      tab.leading = () => client.leading === true;
      tab.close = () => client.close();
      client.onAny((event) => tab.events.push({ id: event.id, data: event.data, type: event.type }));
      client.onState((change) => tab.states.push(change.state));
      client.onReset((notice) => tab.resets.push(notice));
      window.tab = tab;
    `,
  });
  await page.waitForFunction(() => window.tab?.states.includes('open'), undefined, { timeout: 15_000 });
  return page;
}

async function leaderOf(pages: Page[]): Promise<Page[]> {
  const leading = await Promise.all(pages.map((page) => page.evaluate(() => window.tab.leading())));
  return pages.filter((_, index) => leading[index]);
}

(runnable ? describe : describe.skip)('cross-tab sharing in Chromium', () => {
  let browser: Browser;
  let hub: TestHub;
  /** A closed page's stream ends when the hub sees its connection close: the next test counts from 0. */
  const everyStreamClosed = () =>
    eventually(async () => (await hubSubscriptions(hub)) === 0, 5000, 'every stream closed');

  beforeAll(async () => {
    ensureDemoBuilt();
    hub = await startTestHub({
      config: { port: 0, retryMs: 100, demo: true, jwtKey: KEY, allowAnonymous: true },
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
  });

  it('five tabs hold one stream; closing the leader at 50 events/s loses and repeats nothing', async () => {
    const topic = 'five-tabs';
    const options = `{ topics: ['${topic}'], share: true, backoff: { initial: 100, jitter: 0 } }`;
    const pages: Page[] = [];
    for (let index = 0; index < 5; index++) pages.push(await openTab(browser, hub.url, options));
    expect(await hubSubscriptions(hub)).toBe(1);
    const [leader] = await leaderOf(pages);
    expect(leader).toBeDefined();
    expect(await leaderOf(pages)).toHaveLength(1);

    const publisherToken = await sign({ mercure: { publish: ['*'] } });
    const published: string[] = [];
    const total = 150; // three seconds at 50 events/s
    const publisher = (async () => {
      const started = Date.now();
      for (let index = 0; index < total; index++) {
        const wait = started + index * 20 - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const answer = await publish(
          hub.hubUrl,
          { topic, data: String(index) },
          { Authorization: `Bearer ${publisherToken}` },
        );
        expect(answer.status).toBe(200);
        published.push(answer.body);
      }
    })();
    // Let a second of events flow, then close the leader's tab mid-stream. The next leader's
    // request is held back for 400 ms, so about 20 events are published during the handover: only
    // resuming from the group's last id can bring them.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await browser.context.route('**/.well-known/mercure?*', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await route.continue();
    });
    await leader!.close();
    const remaining = pages.filter((page) => page !== leader);
    await publisher;

    for (const page of remaining) {
      await page.waitForFunction((count) => window.tab.events.length >= count, total, { timeout: 15_000 });
    }
    // Give any straggling duplicate the time to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const page of remaining) {
      const events = await page.evaluate(() => window.tab.events);
      expect(events.map((event) => event.id)).toEqual(published);
      expect(events.map((event) => event.data)).toEqual(published.map((_, index) => String(index)));
    }
    expect(await leaderOf(remaining)).toHaveLength(1);
    await eventually(async () => (await hubSubscriptions(hub)) === 1, 5000, 'one stream after the handover');
    await browser.context.unrouteAll();
    await Promise.all(remaining.map((page) => page.close()));
    await everyStreamClosed();
  });

  it('two tabs with different rights: the narrower one never receives a private update', async () => {
    const topic = 'https://example.com/accounts/42';
    const wide = await sign({ sub: 'alice', mercure: { subscribe: [topic] } });
    const narrow = await sign({ sub: 'alice', mercure: { subscribe: [] } });
    const options = (token: string) => `{ topics: ['${topic}'], share: true, token: '${token}' }`;
    const widePage = await openTab(browser, hub.url, options(wide));
    const narrowPage = await openTab(browser, hub.url, options(narrow));
    // Different rights, different groups: each tab leads its own connection.
    expect(await hubSubscriptions(hub)).toBe(2);
    expect(await leaderOf([widePage, narrowPage])).toHaveLength(2);

    const auth = { Authorization: `Bearer ${await sign({ mercure: { publish: ['*'] } })}` };
    const secret = await publish(hub.hubUrl, { topic, data: 'private balance', private: 'on' }, auth);
    const announcement = await publish(hub.hubUrl, { topic, data: 'public notice' }, auth);
    await widePage.waitForFunction(() => window.tab.events.length === 2);
    await narrowPage.waitForFunction(() => window.tab.events.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await widePage.evaluate(() => window.tab.events.map((event) => event.id))).toEqual([
      secret.body,
      announcement.body,
    ]);
    expect(await narrowPage.evaluate(() => window.tab.events)).toEqual([
      { id: announcement.body, data: 'public notice', type: 'message' },
    ]);
    await widePage.close();
    await narrowPage.close();
    await everyStreamClosed();
  });

  it('a leader whose page freezes hands over; resumed, it rejoins and is told what it missed', async () => {
    const topic = 'freeze';
    const options = `{ topics: ['${topic}'], share: 'freezing', backoff: { initial: 100, jitter: 0 } }`;
    const first = await openTab(browser, hub.url, options);
    const second = await openTab(browser, hub.url, options);
    expect(await first.evaluate(() => window.tab.leading())).toBe(true);
    const auth = { Authorization: `Bearer ${await sign({ mercure: { publish: ['*'] } })}` };
    const ids = [(await publish(hub.hubUrl, { topic, data: 'before' }, auth)).body];
    await second.waitForFunction(() => window.tab.events.length === 1);

    // Page Lifecycle's freeze and resume events, as Chromium fires them on a hidden tab it freezes
    // (DevTools' Page.setWebLifecycleState does not freeze a visible headless page).
    await first.evaluate(() => document.dispatchEvent(new Event('freeze')));
    await second.waitForFunction(() => window.tab.leading());
    ids.push((await publish(hub.hubUrl, { topic, data: 'while frozen' }, auth)).body);
    await second.waitForFunction(() => window.tab.events.length === 2);
    expect(await second.evaluate(() => window.tab.events.map((event) => event.id))).toEqual(ids);
    await eventually(async () => (await hubSubscriptions(hub)) === 1, 5000, 'one stream while frozen');

    await first.evaluate(() => document.dispatchEvent(new Event('resume')));
    await first.waitForFunction(() => window.tab.resets.length === 1);
    expect(await first.evaluate(() => window.tab.resets[0]!.reason)).toBe('joined-shared-stream');
    ids.push((await publish(hub.hubUrl, { topic, data: 'after' }, auth)).body);
    await first.waitForFunction(() => window.tab.events.length === 2);
    expect(await first.evaluate(() => window.tab.events.map((event) => event.data))).toEqual([
      'before',
      'after',
    ]);
    await second.waitForFunction(() => window.tab.events.length === 3);
    expect(await second.evaluate(() => window.tab.events.map((event) => event.id))).toEqual(ids);
    await first.close();
    await second.close();
    await everyStreamClosed();
  });
});
