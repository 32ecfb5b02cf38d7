/**
 * `ssehub/react` in a real page: test/browser/fixtures/react-page.ts is bundled by vite (React's
 * development build, where StrictMode mounts every effect twice) and served on the hub's origin.
 * Events render, two components and StrictMode's double mount hold one stream, and unmounting
 * closes it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import type { Rolldown } from 'vite';
import { hubSubscriptions, publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { ARTIFACTS, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { eventually } from '../helpers/wait.js';

const runnable = chromiumAvailable('browser test of the React hook');
const PAGE = '<!doctype html><div id="root"></div><script type="module" src="/react/page.js"></script>';

/** Bundles the page's script as an application's build would, in development mode. */
async function bundle(entry: string): Promise<string> {
  const result = await build({
    configFile: false,
    logLevel: 'error',
    mode: 'development',
    define: { 'process.env.NODE_ENV': JSON.stringify('development') },
    build: { write: false, minify: false, rollupOptions: { input: entry } },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[];
  const chunk = outputs.flatMap((output) => output.output).find((item) => item.type === 'chunk');
  if (!chunk || chunk.type !== 'chunk') throw new Error('vite produced no script');
  return chunk.code;
}

(runnable ? describe : describe.skip)('useEventStream in Chromium (ssehub/react)', () => {
  let browser: Browser;
  let hub: TestHub;
  let script: string;

  beforeAll(async () => {
    script = await bundle(join(import.meta.dirname, 'fixtures', 'react-page.ts'));
    hub = await startTestHub({ config: { port: 0, retryMs: 100 } });
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
  });

  it('renders events; StrictMode and two components open one stream; unmount closes it', async () => {
    const page = await browser.context.newPage();
    await page.route(`${hub.url}/react/**`, (route) =>
      route.fulfill(
        route.request().url().endsWith('.js')
          ? { contentType: 'text/javascript', body: script }
          : { contentType: 'text/html', body: PAGE },
      ),
    );
    const streamRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/.well-known/mercure')) streamRequests.push(request.url());
    });
    await page.goto(`${hub.url}/react/`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');

    const first = (await publish(hub.hubUrl, { topic: 'react', data: 'hello' })).body;
    const second = (await publish(hub.hubUrl, { topic: 'react', data: 'world' })).body;
    await page.waitForFunction(() => document.querySelectorAll('#lines li').length === 2);
    expect(await page.locator('#lines li').allTextContents()).toEqual([`${first} hello`, `${second} world`]);
    await page.waitForFunction(() => document.getElementById('last')?.textContent === 'world');
    await page.screenshot({ path: join(ARTIFACTS, 'react-hook.png') });

    expect(streamRequests).toHaveLength(1);
    expect(await page.evaluate(() => window.streamsOpen())).toBe(1);
    expect(await hubSubscriptions(hub)).toBe(1);

    await page.click('#toggle');
    await page.waitForFunction(() => window.streamsOpen() === 0);
    await eventually(async () => (await hubSubscriptions(hub)) === 0, 5000, 'the stream closed on the hub');
    expect(streamRequests).toHaveLength(1);
    await page.close();
  });

  it('passes the reset signal: the reset field and the onReset callback', async () => {
    const page = await browser.context.newPage();
    await page.route(`${hub.url}/react/**`, (route) =>
      route.fulfill(
        route.request().url().endsWith('.js')
          ? { contentType: 'text/javascript', body: script }
          : { contentType: 'text/html', body: PAGE },
      ),
    );
    await page.goto(`${hub.url}/react/#resume-unknown`);
    await page.waitForFunction(() => document.getElementById('resets')?.textContent === '1');
    expect(await page.textContent('#last')).toBe('(nothing yet) (reset: unknown)');
    const next = (await publish(hub.hubUrl, { topic: 'react', data: 'after the reset' })).body;
    await page.waitForFunction(() => document.querySelectorAll('#lines li').length === 1);
    expect(await page.locator('#lines li').allTextContents()).toEqual([`${next} after the reset`]);
    await page.close();
  });
});
