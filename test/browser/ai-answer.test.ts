/**
 * examples/ai-answer in Chromium: an answer streamed token by token survives a reload and a network
 * cut with exactly the generated text, Stop ends generation while a cut does not, and a page that
 * joins a finished answer receives one compacted final event instead of its tokens.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createApp } from '../../examples/ai-answer/server.js';
import { answerFor } from '../../examples/ai-answer/model.js';
import { ARTIFACTS, chromiumAvailable, ensureDemoBuilt, launchChromium } from '../helpers/browser.js';
import type { Browser } from '../helpers/browser.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

declare global {
  interface Window {
    answerView: {
      id: string;
      text: string;
      status: string;
      tokenEvents: number;
      finalEvents: number;
      textFromTokens: string;
    };
  }
}

const TOKENS = 300;
const QUESTION = 'Why should streams resume?';
const EXPECTED = answerFor(QUESTION, TOKENS).join('');
const runnable = chromiumAvailable('browser test of the AI answer example');

(runnable ? describe : describe.skip)('examples/ai-answer in Chromium', () => {
  let browser: Browser;
  let app: ReturnType<typeof createApp>;
  let proxy: TcpProxy;

  beforeAll(async () => {
    ensureDemoBuilt(); // the page loads the client from dist/
    app = createApp({ tokenCount: TOKENS, intervalMs: 10 });
    await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
    proxy = await TcpProxy.start((app.server.address() as AddressInfo).port);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await closeServer(app?.server);
    await app?.hub.close();
  });

  async function ask(): Promise<{ page: Page; id: string }> {
    const page = await browser.context.newPage();
    await page.goto(`${proxy.url}/`);
    await page.click('#ask-button');
    await page.waitForFunction(() => window.answerView.tokenEvents >= 40);
    return { page, id: await page.evaluate(() => window.answerView.id) };
  }

  const finished = (page: Page) =>
    page.waitForFunction(() => window.answerView.finalEvents === 1, undefined, { timeout: 20_000 });

  let doneAnswerId = '';

  it('a reload mid-answer resumes the text exactly', async () => {
    const { page, id } = await ask();
    await page.reload();
    // The page fetches its snapshot after load: wait for it rather than read the text at once.
    await page.waitForFunction(() => window.answerView.text.length > 0);
    const afterReload = await page.evaluate(() => window.answerView.text);
    expect(afterReload.length).toBeGreaterThan(0); // the snapshot's text, then the tokens after it
    await finished(page);
    const view = await page.evaluate(() => window.answerView);
    expect(view.textFromTokens).toBe(EXPECTED);
    expect(view.text).toBe(EXPECTED);
    expect(view.status).toBe('done');
    expect(view.tokenEvents).toBeLessThan(TOKENS); // not replayed from the start
    await page.screenshot({ path: join(ARTIFACTS, 'ai-answer-after-reload.png') });
    doneAnswerId = id;
    await page.close();
  });

  it('a network cut mid-answer neither stops generation nor loses or repeats a token', async () => {
    const { page, id } = await ask();
    await browser.context.setOffline(true);
    expect(proxy.dropAll()).toBeGreaterThanOrEqual(1);
    const tokensAtCut = app.answers.tokensPublished(id);
    await page.waitForTimeout(600);
    expect(app.answers.tokensPublished(id)).toBeGreaterThan(tokensAtCut); // the model goes on
    await browser.context.setOffline(false);
    await finished(page);
    const view = await page.evaluate(() => window.answerView);
    expect(view.textFromTokens).toBe(EXPECTED);
    expect(view.status).toBe('done');
    expect(app.answers.tokensPublished(id)).toBe(TOKENS);
    await page.close();
  });

  it('Stop ends generation through its own request', async () => {
    const { page, id } = await ask();
    await page.click('#stop');
    await finished(page);
    const view = await page.evaluate(() => window.answerView);
    const published = app.answers.tokensPublished(id);
    expect(view.status).toBe('stopped');
    expect(published).toBeLessThan(TOKENS);
    expect(view.text).toBe(answerFor(QUESTION, TOKENS).slice(0, published).join(''));
    expect(view.textFromTokens).toBe(view.text);
    await page.waitForTimeout(200);
    expect(app.answers.tokensPublished(id)).toBe(published); // nothing after the stop
    await page.screenshot({ path: join(ARTIFACTS, 'ai-answer-stopped.png') });
    await page.close();
  });

  it('a late joiner receives the finished answer as one compacted event', async () => {
    expect(doneAnswerId).not.toBe('');
    const page = await browser.context.newPage();
    await page.goto(`${proxy.url}/#${doneAnswerId}`);
    await finished(page);
    await page.waitForTimeout(200);
    const view = await page.evaluate(() => window.answerView);
    expect(view).toMatchObject({ tokenEvents: 0, finalEvents: 1, text: EXPECTED, status: 'done' });
    await page.screenshot({ path: join(ARTIFACTS, 'ai-answer-late-joiner.png') });
    await page.close();
  });
});

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
