/**
 * Operations features in real headless Chromium: the demo page's status panel follows the hub
 * (rates, store, readiness, draining, gone), and over HTTP/2 a page holds more than six event
 * streams to one origin on one connection, where HTTP/1.1 stalls the seventh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubServer } from '../../src/server/app.js';
import type { HubServer } from '../../src/server/app.js';
import { chromiumAvailable, ensureDemoBuilt } from '../helpers/browser.js';
import { publish } from '../helpers/stream-reader.js';
import { scrape } from '../helpers/metrics.js';
import { ensureBuilt } from '../helpers/hub-process.js';
import { selfSignedCertificate } from '../helpers/tls.js';

const suite = 'browser tests of operations features';
const certDir = mkdtempSync(join(tmpdir(), 'ssehub-browser-tls-'));
const runnable = chromiumAvailable(suite);
const tls = runnable ? selfSignedCertificate(certDir, suite) : undefined;

async function text(page: Page, id: string): Promise<string> {
  return (await page.textContent(`#${id}`)) ?? '';
}

(runnable && tls ? describe : describe.skip)('operations in Chromium', () => {
  let context: BrowserContext;
  let profile: string;
  const hubs: HubServer[] = [];

  beforeAll(async () => {
    ensureDemoBuilt();
    ensureBuilt();
    profile = mkdtempSync(join(tmpdir(), 'ssehub-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      // The test's certificate is self-signed.
      ignoreHTTPSErrors: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    for (const hub of hubs) await hub.close(1000).catch(() => undefined);
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(certDir, { recursive: true, force: true });
  });

  async function startHub(config: Parameters<typeof createHubServer>[0] = {}): Promise<[HubServer, string]> {
    const hub = createHubServer({ ...config, config: { port: 0, demo: true, ...config.config } });
    hubs.push(hub);
    return [hub, await hub.listen()];
  }

  it('the status panel shows connections, events/s, the store and readiness, then draining', async () => {
    const [hub, url] = await startHub({ config: { drainDelayMs: 3000 } });
    const page = await context.newPage();
    try {
      await page.goto(url);
      await page.waitForFunction(() => document.getElementById('status-ready')?.textContent === 'ready');
      expect(await text(page, 'status-store')).toBe('memory');
      expect(Number(await text(page, 'status-connections'))).toBeGreaterThanOrEqual(1);
      // Publish steadily for a little over two seconds, bounded in count.
      for (let i = 0; i < 50; i++) {
        expect((await publish(url, 'demo', `event ${i}`)).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 45));
      }
      await page.waitForFunction(
        () => Number(document.getElementById('status-rate')?.textContent) > 0,
        undefined,
        { timeout: 5000 },
      );
      await page.waitForFunction(
        () => document.getElementById('status-published')?.textContent === '50',
        undefined,
        { timeout: 5000 },
      );
      const closing = hub.close(6000);
      await page.waitForFunction(
        () => document.getElementById('status-ready')?.textContent === 'draining',
        undefined,
        { timeout: 5000 },
      );
      expect(await page.getAttribute('#hub-status', 'data-state')).toBe('not-ready');
      await closing;
      await page.waitForFunction(
        () => document.getElementById('status-ready')?.textContent === 'unreachable',
        undefined,
        { timeout: 10_000 },
      );
    } finally {
      await page.close();
    }
  });

  it('over HTTP/2 ten EventSources to one origin are all open on one connection', async () => {
    const [, url] = await startHub({ config: { tlsCert: tls!.cert, tlsKey: tls!.key } });
    const page = await context.newPage();
    try {
      await page.goto(`${url}/status`);
      const protocol = await page.evaluate(
        () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
      );
      expect(protocol).toBe('h2');
      await page.evaluate(() => {
        const w = window as unknown as { received: string[]; sources: EventSource[] };
        w.received = [];
        w.sources = Array.from({ length: 10 }, (_, i) => {
          const source = new EventSource(`/.well-known/mercure?topic=urn:tab:${i}`);
          source.onmessage = (event: MessageEvent<string>) => w.received.push(event.data);
          return source;
        });
      });
      await page.waitForFunction(
        () =>
          (window as unknown as { sources: EventSource[] }).sources.every(
            (source) => source.readyState === EventSource.OPEN,
          ),
        undefined,
        { timeout: 10_000 },
      );
      const status = await scrapeTls(url);
      expect(status.subscriptions).toBe(10);
      // The page's connection, and the one this test just opened to ask.
      expect(status.connections).toBe(2);
      for (let i = 0; i < 10; i++)
        expect((await publishTls(url, `urn:tab:${i}`, `to ${i}`)).status).toBe(200);
      await page.waitForFunction(() => (window as unknown as { received: string[] }).received.length === 10);
      const received = await page.evaluate(() => (window as unknown as { received: string[] }).received);
      expect(received.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `to ${i}`).sort());
    } finally {
      await page.close();
    }
  });

  it('over HTTP/1.1 the same page gets only six of them open (why HTTP/2 matters)', async () => {
    const [hub, url] = await startHub();
    const page = await context.newPage();
    try {
      await page.goto(`${url}/status`);
      await page.evaluate(() => {
        const w = window as unknown as { sources: EventSource[] };
        w.sources = Array.from(
          { length: 8 },
          (_, i) => new EventSource(`/.well-known/mercure?topic=urn:tab:${i}`),
        );
      });
      const open = () =>
        page.evaluate(
          () =>
            (window as unknown as { sources: EventSource[] }).sources.filter(
              (source) => source.readyState === EventSource.OPEN,
            ).length,
        );
      await page.waitForFunction(
        () =>
          (window as unknown as { sources: EventSource[] }).sources.filter(
            (source) => source.readyState === EventSource.OPEN,
          ).length === 6,
        undefined,
        { timeout: 10_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await open()).toBe(6);
      expect((await scrape(url)).get('ssehub_subscriptions_open')).toBe(hub.hub.stats().subscribers);
      expect(hub.hub.stats().subscribers).toBe(6);
    } finally {
      await page.close();
    }
  });
});

/** Publishes over HTTPS with the self-signed certificate (Node's fetch would refuse it). */
async function publishTls(url: string, topic: string, data: string): Promise<{ status: number }> {
  const { connect } = await import('node:http2');
  const { readFileSync } = await import('node:fs');
  const session = connect(url, { ca: readFileSync(tls!.cert) });
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/.well-known/mercure',
        'content-type': 'application/x-www-form-urlencoded',
      });
      stream.on('response', (headers) => resolve({ status: Number(headers[':status']) }));
      stream.on('error', reject);
      stream.resume();
      stream.end(new URLSearchParams({ topic, data }).toString());
    });
  } finally {
    session.close();
  }
}

async function scrapeTls(url: string): Promise<{ subscriptions: number; connections: number }> {
  const { connect } = await import('node:http2');
  const { readFileSync } = await import('node:fs');
  const session = connect(url, { ca: readFileSync(tls!.cert) });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/status' });
      let text = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
    });
    const status = JSON.parse(body) as { subscriptions: number; connections: number };
    return status;
  } finally {
    session.close();
  }
}
