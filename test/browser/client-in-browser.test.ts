/**
 * ssehub's client loaded as an ES module in Chromium (as the demo page does): the browser's
 * `online` event ends a long backoff wait at once, and the client resumes after its last id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { chromiumAvailable, ensureDemoBuilt, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

declare global {
  interface Window {
    log: { states: { state: string; delay?: number; at: number }[]; events: [string, string][] };
  }
}

const runnable = chromiumAvailable('browser test of the client module');

(runnable ? describe : describe.skip)('ssehub client in Chromium', () => {
  let browser: Browser;
  let hub: TestHub;
  let proxy: TcpProxy;

  beforeAll(async () => {
    ensureDemoBuilt();
    // A one-minute server retry: only the online event can explain a quick reconnect.
    hub = await startTestHub({ config: { port: 0, retryMs: 60_000, demo: true } });
    proxy = await TcpProxy.start(Number(new URL(hub.url).port));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await hub?.close();
  });

  it('reconnects at once when the browser comes back online, resuming after its last id', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${proxy.url}/blank`);
    // A module script, as a page would load it (a function passed to evaluate would be rewritten
    // by the test runner's transform).
    await page.addScriptTag({
      type: 'module',
      content: `
        import { createClient } from '/client/index.js';
        window.log = { states: [], events: [] };
        const client = createClient('/.well-known/mercure', { topics: ['online'] });
        client.onState((change) => window.log.states.push({
          state: change.state,
          delay: change.state === 'retrying' ? change.delay : undefined,
          at: Date.now(),
        }));
        client.onAny((event) => window.log.events.push([event.id, event.data]));
      `,
    });
    await page.waitForFunction(() => window.log?.states.some((change) => change.state === 'open'));
    const first = (await publish(hub.hubUrl, { topic: 'online', data: 'before' })).body;
    await page.waitForFunction(() => window.log.events.length === 1);

    await browser.context.setOffline(true);
    proxy.dropAll();
    await page.waitForFunction(() => window.log.states.at(-1)?.state === 'retrying');
    const missed = (await publish(hub.hubUrl, { topic: 'online', data: 'while offline' })).body;
    const wentOnlineAt = await page.evaluate(() => Date.now());
    await browser.context.setOffline(false);
    await page.waitForFunction(() => window.log.events.length === 2, undefined, { timeout: 10_000 });

    const { states, events } = await page.evaluate(() => window.log);
    const retrying = states.filter((change) => change.state === 'retrying');
    expect(retrying[0]!.delay).toBeGreaterThanOrEqual(30_000);
    const reopened = states.filter((change) => change.state === 'open').at(-1)!;
    expect(reopened.at - wentOnlineAt).toBeLessThan(5000);
    expect(events).toEqual([
      [first, 'before'],
      [missed, 'while offline'],
    ]);
    await page.close();
  });
  it('works cross-origin with credentials: preflighted Last-Event-ID on reconnect, nothing missed', async () => {
    // The page comes from one origin; the hub is reached on another port (through a proxy that
    // can drop the connection), and allows the page's origin.
    const cross = await startTestHub({ config: { port: 0, retryMs: 50, demo: true } });
    const pageOrigin = cross.url;
    await cross.close();
    const port = Number(new URL(pageOrigin).port);
    const hubWithCors = await startTestHub({
      config: { port, retryMs: 50, demo: true, corsOrigins: [pageOrigin] },
    });
    const hubProxy = await TcpProxy.start(port);
    try {
      const page = await browser.context.newPage();
      await page.goto(`${pageOrigin}/blank`);
      await page.addScriptTag({
        type: 'module',
        content: `
          import { createClient } from '/client/index.js';
          window.log = { states: [], events: [] };
          const client = createClient('${hubProxy.url}/.well-known/mercure', {
            topics: ['cross'],
            credentials: 'include',
            backoff: { initial: 50, jitter: 0 },
          });
          client.onState((change) => window.log.states.push({ state: change.state, at: Date.now() }));
          client.onAny((event) => window.log.events.push([event.id, event.data]));
        `,
      });
      await page.waitForFunction(() => window.log?.states.some((change) => change.state === 'open'));
      const first = (await publish(hubWithCors.hubUrl, { topic: 'cross', data: 'one' })).body;
      await page.waitForFunction(() => window.log.events.length === 1);
      expect(hubProxy.dropAll()).toBeGreaterThanOrEqual(1);
      const missed = (await publish(hubWithCors.hubUrl, { topic: 'cross', data: 'two' })).body;
      await page.waitForFunction(() => window.log.events.length === 2, undefined, { timeout: 10_000 });
      expect(await page.evaluate(() => window.log.events)).toEqual([
        [first, 'one'],
        [missed, 'two'],
      ]);
      const heads = hubProxy.requestHeads;
      expect(heads.some((head) => head.startsWith('OPTIONS ') && /last-event-id/i.test(head))).toBe(true);
      const reconnect = heads.filter((head) => head.startsWith('GET ')).at(-1) ?? '';
      expect(reconnect).toMatch(new RegExp(`\\r\\nlast-event-id: ${first}\\r\\n`, 'i'));
      expect(reconnect).toMatch(new RegExp(`\\r\\norigin: ${pageOrigin}\\r\\n`, 'i'));
      await page.close();
    } finally {
      await hubProxy.close();
      await hubWithCors.close();
    }
  });
});
