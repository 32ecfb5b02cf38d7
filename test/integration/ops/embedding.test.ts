import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { expect, test } from 'vitest';
import { createApp } from '../../../examples/metrics.js';
import { openStream, publish } from '../../helpers/stream-reader.js';
import { scrape } from '../../helpers/metrics.js';

test('examples/metrics.ts: a hub in your own server exports the same metrics', async () => {
  const { server, hub } = createApp();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const stream = await openStream(url, ['orders']);
    expect((await publish(url, 'orders', 'one')).status).toBe(200);
    await stream.waitFor((events) => events.length === 1);
    const metrics = await scrape(url);
    expect(metrics.get('ssehub_events_published_total')).toBe(1);
    expect(metrics.get('ssehub_events_delivered_total')).toBe(1);
    expect(metrics.get('ssehub_subscriptions_open')).toBe(1);
    expect(metrics.get('ssehub_connections_open')).toBeGreaterThanOrEqual(1);
    expect(metrics.get('ssehub_ready')).toBe(1);
    stream.close();
  } finally {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('docs/operations.md shows examples/metrics.ts as it is', () => {
  const source = readFileSync(new URL('../../../examples/metrics.ts', import.meta.url), 'utf8').trim();
  const docs = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  expect(docs).toContain(source);
});
