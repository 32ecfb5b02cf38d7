/**
 * What Chromium's own EventSource does when the hub's open rate (--max-stream-opens-per-second)
 * refuses it: a 503 fails the connection for good (readyState CLOSED, no retry, Retry-After
 * unread), so a page using the native EventSource must reopen it itself. The reopening shown in
 * docs/operations.md is the one run here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { parseMetrics } from '../helpers/metrics.js';

declare global {
  interface Window {
    opens: number;
    errors: number;
    states: number[];
    source: EventSource;
    reopen(url: string): void;
  }
}

const runnable = chromiumAvailable('browser test of EventSource refused by the open rate');

async function refusedByRate(hub: TestHub): Promise<number> {
  const metrics = parseMetrics(await hub.metrics.render());
  return metrics.get('ssehub_streams_refused_total{refusal="rate"}') ?? 0;
}

(runnable ? describe : describe.skip)('native EventSource refused by the open rate', () => {
  let browser: Browser;
  let hub: TestHub;
  let holder: RawStream | undefined;

  beforeAll(async () => {
    hub = await startTestHub({ config: { maxStreamOpensPerSecond: 1, streamOpenBurst: 1 } });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    holder?.destroy();
    await browser?.close();
    await hub?.close();
  });

  it('a 503 closes a native EventSource for good; reopening it on error after a spread-out delay gets in', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${hub.url}/blank`);
    // The holder takes the bucket's one token, so the page's EventSource right after is refused;
    // on a machine slow enough for the bucket to refill in between, try again.
    for (let attempt = 0; ; attempt++) {
      holder = await openStream(topicUrl(hub.hubUrl, ['native']));
      await page.evaluate(() => {
        window.opens = 0;
        window.errors = 0;
        window.states = [];
        const source = new EventSource('/.well-known/mercure?topic=native');
        window.source = source;
        source.onopen = () => window.opens++;
        source.onerror = () => {
          window.errors++;
          window.states.push(source.readyState);
        };
      });
      await page.waitForFunction(() => window.errors + window.opens > 0);
      if ((await page.evaluate(() => window.errors)) === 1 || attempt === 4) break;
      await page.evaluate(() => window.source.close());
      holder.destroy();
      await page.waitForTimeout(1100);
    }
    const refusedOnce = await refusedByRate(hub);
    // Longer than the Retry-After it was sent: a native EventSource does not come back.
    await page.waitForTimeout(2500);
    expect(await page.evaluate(() => [window.opens, window.errors, window.states])).toEqual([0, 1, [2]]);
    expect(await refusedByRate(hub), 'no second attempt').toBe(refusedOnce);

    // The page's own reopening (docs/operations.md): on a CLOSED error, open a new one later.
    await page.evaluate(() => {
      window.reopen = (url: string) => {
        const source = new EventSource(url);
        source.onopen = () => window.opens++;
        source.onerror = () => {
          if (source.readyState === EventSource.CLOSED) {
            setTimeout(() => window.reopen(url), 1000 + Math.random() * 4000);
          }
        };
      };
      window.reopen('/.well-known/mercure?topic=native');
    });
    await page.waitForFunction(() => window.opens === 1, undefined, { timeout: 20_000 });
    await page.close();
  }, 40_000);
});
