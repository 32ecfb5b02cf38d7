/**
 * The draft-08 cookie in a real browser, set the way Mercure 1.0 says to: the application's page
 * answers with `Set-Cookie: __Secure-mercure_access_token=…; Secure; HttpOnly; SameSite=Strict;
 * Path=/.well-known/mercure`, and Chromium's native EventSource, opened cross-origin with
 * credentials, carries it to the hub (configured for RFC 9068 access tokens). `http://127.0.0.1` is
 * a secure context for Chromium, so it keeps a `__Secure-` cookie set over plain HTTP there (over
 * https in production). A page of another origin on the same site gets the cookie attached too:
 * only the hub's Origin check stops its publish.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { publish, startTestHub } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.js';
import type { Browser } from '../../helpers/browser.js';
import { HS_SECRET, bearer, detail, hmacKey, mint } from '../../helpers/tokens.js';

declare global {
  interface Window {
    cookieReceived: string[];
    cookieOpened: boolean;
  }
}

const runnable = chromiumAvailable('auth: the __Secure-mercure_access_token cookie in Chromium');
const COOKIE = '__Secure-mercure_access_token';
const ISSUER = 'https://app.example';
const AUDIENCE = 'https://hub.example/.well-known/mercure';
const INBOX = 'https://example.com/users/ann/inbox';
const key = hmacKey();

const accessToken = (details: unknown[]) =>
  mint(
    key,
    { iss: ISSUER, aud: AUDIENCE, sub: 'ann', authorization_details: details },
    { typ: 'at+jwt', expiresIn: 600 },
  );

/** A page server; with a token, its page sets the draft-08 cookie, as an application does at discovery. */
async function pageServer(token?: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/html',
      ...(token === undefined
        ? {}
        : {
            'Set-Cookie': `${COOKIE}=${token}; Path=/.well-known/mercure; Secure; HttpOnly; SameSite=Strict`,
          }),
    });
    res.end('<!doctype html><title>page</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

(runnable ? describe : describe.skip)('the __Secure-mercure_access_token cookie in Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let app: { server: Server; origin: string };
  let foreign: { server: Server; origin: string };
  let appPage: Page;
  let foreignPage: Page;
  let publisher: Record<string, string>;

  beforeAll(async () => {
    const cookieToken = await accessToken([
      detail(['subscribe'], [{ match: 'https://example.com/users/ann/:box', match_type: 'urlpattern' }]),
      detail(['publish'], [{ match: INBOX }]),
    ]);
    app = await pageServer(cookieToken);
    foreign = await pageServer();
    hub = await startTestHub({
      config: {
        jwtKey: HS_SECRET,
        jwtIssuer: [ISSUER],
        jwtAudience: [AUDIENCE],
        corsOrigins: [app.origin],
        demo: false,
      },
    });
    publisher = bearer(await accessToken([detail(['publish'], [{ match: '*' }])]));
    browser = await launchChromium();
    appPage = await browser.context.newPage();
    await appPage.goto(app.origin);
    foreignPage = await browser.context.newPage();
    await foreignPage.goto(foreign.origin);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    app?.server.close();
    foreign?.server.close();
  });

  it('the browser keeps the cookie the page set: Secure, HttpOnly, scoped to the hub path', async () => {
    const cookies = await browser.context.cookies(hub.hubUrl);
    expect(
      cookies.map(({ name, secure, httpOnly, sameSite, path }) => ({
        name,
        secure,
        httpOnly,
        sameSite,
        path,
      })),
    ).toEqual([
      { name: COOKIE, secure: true, httpOnly: true, sameSite: 'Strict', path: '/.well-known/mercure' },
    ]);
    expect(await appPage.evaluate(() => document.cookie)).toBe('');
  });

  it("a native EventSource carries it: private updates the grant's URL Pattern matches arrive, others do not", async () => {
    const url = `${hub.hubUrl}?match_urlpattern=${encodeURIComponent('https://example.com/users/:name/:box')}&match=urn%3Asentinel`;
    await appPage.evaluate((streamUrl) => {
      window.cookieReceived = [];
      window.cookieOpened = false;
      const source = new EventSource(streamUrl, { withCredentials: true });
      source.onopen = () => (window.cookieOpened = true);
      source.onmessage = (event) => window.cookieReceived.push(String(event.data));
    }, url);
    await appPage.waitForFunction(() => window.cookieOpened, undefined, { timeout: 10_000 });
    for (const [topic, data, isPrivate] of [
      [INBOX, 'ann inbox', true],
      ['https://example.com/users/bob/inbox', 'bob inbox', true],
      ['https://example.com/users/bob/profile', 'bob public', false],
      ['urn:sentinel', 'sentinel', false],
    ] as const) {
      const sent = await publish(
        hub.hubUrl,
        { topic, data, ...(isPrivate ? { private: 'on' } : {}) },
        publisher,
      );
      expect(sent.status, sent.body).toBe(200);
    }
    await appPage.waitForFunction(() => window.cookieReceived.includes('sentinel'), undefined, {
      timeout: 10_000,
    });
    expect(await appPage.evaluate(() => window.cookieReceived)).toEqual([
      'ann inbox',
      'bob public',
      'sentinel',
    ]);
  });

  it('a cookie-authorized publish works from the app and is refused from a foreign page (CSRF)', async () => {
    const post = (page: Page, mode: RequestMode) =>
      page.evaluate(
        async ({ url, topic, mode }) => {
          const body = new URLSearchParams({ topic, data: `from ${location.origin}` });
          const response = await fetch(url, { method: 'POST', body, credentials: 'include', mode });
          return { status: response.status, body: mode === 'no-cors' ? '' : await response.text() };
        },
        { url: hub.hubUrl, topic: INBOX, mode },
      );
    const before = await hub.hub.store.head();
    const seen = foreignPage.waitForResponse((response) => response.url() === hub.hubUrl);
    expect(await post(foreignPage, 'no-cors')).toEqual({ status: 0, body: '' });
    const refused = await seen;
    expect(refused.status()).toBe(403);
    expect(await refused.request().headerValue('cookie')).toMatch(/^__Secure-mercure_access_token=/);
    expect(await hub.hub.store.head()).toBe(before);
    const ok = await post(appPage, 'cors');
    expect(ok.status, ok.body).toBe(200);
  });
});
