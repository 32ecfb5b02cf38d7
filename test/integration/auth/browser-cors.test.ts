/**
 * CORS and cookie authorization in a real browser: Chromium's EventSource and fetch against the hub
 * from a page on an allowed origin and from one on a foreign origin (same site, other port, so the
 * browser does attach the SameSite cookie: only the hub's Origin check stands between that page and
 * a cookie-authorized publish).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.js';
import type { Browser } from '../../helpers/browser.js';
import { HS_SECRET, bearer, hmacKey, mint } from '../../helpers/tokens.js';

declare global {
  interface Window {
    corsReceived: string[];
    corsOpened: boolean;
    corsFailed: boolean;
  }
}

const runnable = chromiumAvailable('auth: CORS and cookie authorization in Chromium');
const TOPIC = 'https://example.com/browser/private';
const key = hmacKey();

async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>page</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

(runnable ? describe : describe.skip)('CORS and cookie authorization in Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let allowed: { server: Server; origin: string };
  let foreign: { server: Server; origin: string };
  let allowedPage: Page;
  let foreignPage: Page;

  beforeAll(async () => {
    allowed = await pageServer();
    foreign = await pageServer();
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, corsOrigins: [allowed.origin], demo: false } });
    browser = await launchChromium();
    const cookieToken = await mint(
      key,
      { sub: 'browser', mercure: { subscribe: [TOPIC], publish: [TOPIC] } },
      { expiresIn: 600 },
    );
    await browser.context.addCookies([
      {
        name: 'mercureAuthorization',
        value: cookieToken,
        domain: '127.0.0.1',
        path: '/.well-known/mercure',
        httpOnly: true,
        sameSite: 'Strict',
      },
    ]);
    allowedPage = await browser.context.newPage();
    await allowedPage.goto(allowed.origin);
    foreignPage = await browser.context.newPage();
    await foreignPage.goto(foreign.origin);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    allowed?.server.close();
    foreign?.server.close();
  });

  function openEventSource(page: Page, url: string) {
    return page.evaluate((streamUrl) => {
      window.corsReceived = [];
      window.corsOpened = false;
      window.corsFailed = false;
      const source = new EventSource(streamUrl, { withCredentials: true });
      source.onopen = () => (window.corsOpened = true);
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) window.corsFailed = true;
      };
      source.onmessage = (event) => window.corsReceived.push(String(event.data));
    }, url);
  }

  it('an allowed page subscribes with the HttpOnly cookie and receives private updates', async () => {
    await openEventSource(allowedPage, topicUrl(hub.hubUrl, [TOPIC]));
    await allowedPage.waitForFunction(() => window.corsOpened, undefined, { timeout: 10_000 });
    const sent = await publish(
      hub.hubUrl,
      { topic: TOPIC, data: 'for the cookie holder', private: 'on' },
      bearer(await mint(key, { mercure: { publish: [TOPIC] } })),
    );
    expect(sent.status).toBe(200);
    await allowedPage.waitForFunction(() => window.corsReceived.length === 1, undefined, { timeout: 10_000 });
    expect(await allowedPage.evaluate(() => window.corsReceived)).toEqual(['for the cookie holder']);
  });

  it('a foreign page cannot open the stream at all', async () => {
    await openEventSource(foreignPage, topicUrl(hub.hubUrl, [TOPIC]));
    await foreignPage.waitForFunction(() => window.corsFailed, undefined, { timeout: 10_000 });
    expect(await foreignPage.evaluate(() => window.corsOpened)).toBe(false);
  });

  it('fetch with an Authorization header passes the preflight and reads Last-Event-ID from an allowed page only', async () => {
    const earlier = await publish(
      hub.hubUrl,
      { topic: TOPIC, data: 'earlier' },
      bearer(await mint(key, { mercure: { publish: [TOPIC] } })),
    );
    const token = await mint(key, { mercure: { subscribe: [TOPIC] } }, { expiresIn: 600 });
    const read = (page: Page) =>
      page.evaluate(
        async ({ url, token, lastEventId }) => {
          const controller = new AbortController();
          try {
            const response = await fetch(url, {
              headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': lastEventId },
              signal: controller.signal,
            });
            const header = response.headers.get('Last-Event-ID');
            controller.abort();
            return { status: response.status, header };
          } catch (error) {
            return { error: String(error) };
          }
        },
        { url: topicUrl(hub.hubUrl, [TOPIC]), token, lastEventId: earlier.body },
      );
    expect(await read(allowedPage)).toEqual({ status: 200, header: earlier.body });
    expect(await read(foreignPage)).toMatchObject({ error: expect.stringMatching(/TypeError/) });
  });

  it('a cookie-authorized publish works from the allowed page and is refused from the foreign one (CSRF)', async () => {
    const watcher = await openStream(
      topicUrl(hub.hubUrl, [TOPIC]),
      bearer(await mint(key, { mercure: { subscribe: [TOPIC] } }, { expiresIn: 600 })),
    );
    const post = (page: Page, data: string, mode: RequestMode) =>
      page.evaluate(
        async ({ url, data, mode }) => {
          const body = new URLSearchParams({ topic: 'https://example.com/browser/private', data });
          const response = await fetch(url, { method: 'POST', body, credentials: 'include', mode });
          return { status: response.status, body: mode === 'no-cors' ? '' : await response.text() };
        },
        { url: hub.hubUrl, data, mode },
      );
    const before = await hub.hub.store.head();
    // The browser sends the cookie (same site), the hub refuses; the page only gets an opaque answer.
    const seen = foreignPage.waitForResponse((response) => response.url() === hub.hubUrl);
    expect(await post(foreignPage, 'forged', 'no-cors')).toEqual({ status: 0, body: '' });
    const refused = await seen;
    expect(refused.status()).toBe(403);
    expect(await refused.request().headerValue('cookie')).toMatch(/mercureAuthorization=/);
    expect(await hub.hub.store.head()).toBe(before);
    const ok = await post(allowedPage, 'from the app', 'cors');
    expect(ok.status).toBe(200);
    await watcher.waitFor(() => watcher.events.length === 1, 5000, 'published update');
    expect(watcher.events.map((event) => [event.data, event.lastEventId])).toEqual([
      ['from the app', ok.body],
    ]);
    watcher.destroy();
  });
});
