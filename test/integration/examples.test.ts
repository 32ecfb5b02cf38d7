import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp as createNodeApp } from '../../examples/node-http.js';
import { createApp as createExpressApp } from '../../examples/express.js';
import { openStream, publish, rawRequest, topicUrl } from '../helpers/hub.js';

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

async function listen(app: Server): Promise<string> {
  server = app;
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
}

async function exercise(base: string): Promise<void> {
  const hubUrl = `${base}/.well-known/mercure`;
  const stream = await openStream(topicUrl(hubUrl, ['https://example.com/orders']));
  const published = await publish(hubUrl, { topic: 'https://example.com/orders', data: 'via form' });
  expect(published.status).toBe(200);
  const fromAppCode = await rawRequest(`${base}/orders`, { method: 'POST' });
  expect(fromAppCode.status).toBe(201);
  await stream.waitFor(() => stream.events.length === 2);
  expect(stream.events.map((e) => e.lastEventId)).toEqual([published.body, fromAppCode.body]);
  expect(stream.events[1]?.data).toBe('{"status":"created"}');
  stream.destroy();
}

describe('README examples', () => {
  it('node:http example serves subscribe, publish and application publishes', async () => {
    const { server: app } = createNodeApp();
    await exercise(await listen(app));
  });

  it('Express example serves subscribe, publish (through express.urlencoded) and application publishes', async () => {
    const { app } = createExpressApp();
    const { createServer } = await import('node:http');
    await exercise(await listen(createServer(app)));
  });

  it('the README shows the examples exactly as tested', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const file of ['node-http.ts', 'express.ts']) {
      const source = readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8').trim();
      expect(readme, file).toContain(source);
    }
  });
});
