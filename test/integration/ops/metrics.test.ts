import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHubServer } from '../../../src/server/app.js';
import type { HubServer } from '../../../src/server/app.js';
import { openStream, publish } from '../../helpers/stream-reader.js';
import { scrape } from '../../helpers/metrics.js';
import { eventually } from '../../helpers/wait.js';
import type { StreamReader } from '../../helpers/stream-reader.js';

const SLOW_LIMIT = 256 * 1024;

describe('GET /metrics under a scripted scenario', () => {
  let hub: HubServer;
  let url: string;
  const streams: StreamReader[] = [];
  const sockets: Socket[] = [];
  const open = async (...args: Parameters<typeof openStream>) => {
    const stream = await openStream(...args);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    hub = createHubServer({
      config: { port: 0, demo: false, heartbeatMs: 200, maxBufferedBytes: SLOW_LIMIT },
    });
    url = await hub.listen();
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    for (const socket of sockets) socket.destroy();
    await hub.close(2000);
  });

  test('every counter and gauge moves as the scenario does', async () => {
    const start = await scrape(url);
    expect(start.get('ssehub_events_published_total')).toBe(0);
    expect(start.get('ssehub_subscriptions_open')).toBe(0);
    expect(start.get('ssehub_ready')).toBe(1);

    // Three subscribers: two on one topic, one on another.
    const newsA = await open(url, ['news']);
    const newsB = await open(url, ['news']);
    const sport = await open(url, ['sport']);
    let now = await scrape(url);
    expect(now.get('ssehub_subscriptions_open')).toBe(3);
    expect(now.get('ssehub_subscriptions_total')).toBe(3);
    expect(now.get('ssehub_connections_open')).toBeGreaterThanOrEqual(3);

    // Four events: three reach two subscribers, one reaches one subscriber.
    const ids: string[] = [];
    for (const data of ['n1', 'n2', 'n3']) {
      const answer = await publish(url, 'news', data);
      expect(answer.status).toBe(200);
      ids.push(answer.body);
    }
    expect((await publish(url, 'sport', 's1')).status).toBe(200);
    await newsA.waitFor((events) => events.length === 3);
    await newsB.waitFor((events) => events.length === 3);
    await sport.waitFor((events) => events.length === 1);
    now = await scrape(url);
    expect(now.get('ssehub_events_published_total')).toBe(4);
    expect(now.get('ssehub_events_delivered_total')).toBe(7);
    expect(now.get('ssehub_publish_duration_seconds_count')).toBe(4);
    expect(now.get('ssehub_publish_duration_seconds_sum')).toBeGreaterThan(0);

    // A resume after the first event replays the two after it.
    const resumed = await open(url, ['news'], { lastEventId: ids[0] });
    await resumed.waitFor((events) => events.length === 2);
    expect(resumed.events.map((e) => e.data)).toEqual(['n2', 'n3']);
    now = await scrape(url);
    expect(now.get('ssehub_events_replayed_total')).toBe(2);

    // Ids that cannot be resumed from are answered with a reset signal, counted by reason.
    const unknown = await open(url, ['news'], { lastEventId: 'not-an-id-of-this-hub' });
    const malformed = await open(url, ['news'], { lastEventId: 'x'.repeat(2000) });
    await unknown.waitFor((events) => events.some((e) => e.type === 'ssehub-reset'));
    await malformed.waitFor((events) => events.some((e) => e.type === 'ssehub-reset'));
    now = await scrape(url);
    expect(now.get('ssehub_resets_sent_total{reason="unknown"}')).toBe(1);
    expect(now.get('ssehub_resets_sent_total{reason="malformed"}')).toBe(1);
    expect(now.get('ssehub_resets_sent_total{reason="expired"}')).toBe(0);
    expect(now.get('ssehub_subscriptions_open')).toBe(6);

    // A client leaving is counted with its reason.
    newsA.close();
    await eventually(async () => (await scrape(url)).get('ssehub_disconnects_total{reason="client"}') === 1);
    now = await scrape(url);
    expect(now.get('ssehub_subscriptions_open')).toBe(5);

    // Idle streams get heartbeats.
    await eventually(async () => ((await scrape(url)).get('ssehub_heartbeats_total') ?? 0) > 0, 3000);

    // A subscriber that never reads is disconnected as slow once its backlog passes the limit.
    const slow = connect(Number(new URL(url).port), '127.0.0.1');
    sockets.push(slow);
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(
      `GET /.well-known/mercure?topic=slow HTTP/1.1\r\nHost: hub\r\nAccept: text/event-stream\r\n\r\n`,
    );
    slow.pause();
    await eventually(async () => (await scrape(url)).get('ssehub_subscriptions_open') === 6);
    const chunk = 'z'.repeat(16 * 1024);
    for (let i = 0; i < 2000; i++) {
      expect((await publish(url, 'slow', chunk)).status).toBe(200);
      if ((await scrape(url)).get('ssehub_disconnects_total{reason="slow"}') === 1) break;
    }
    now = await scrape(url);
    expect(now.get('ssehub_disconnects_total{reason="slow"}')).toBe(1);
    expect(now.get('ssehub_subscriptions_open')).toBe(5);
  });

  test('label cardinality does not grow with topics, subjects or ids', async () => {
    const seriesOf = async () => [...(await scrape(url)).keys()].filter((k) => k.startsWith('ssehub_'));
    const before = await seriesOf();
    for (let i = 0; i < 50; i++) {
      const stream = await open(url, [`topic-${i}`], { lastEventId: `unknown-${i}` });
      expect((await publish(url, `topic-${i}`, 'x')).status).toBe(200);
      await stream.waitFor((events) => events.some((e) => e.data === 'x'));
      stream.close();
    }
    const after = await seriesOf();
    expect(after.sort()).toEqual(before.sort());
  });

  test('Node process metrics are exported too', async () => {
    const now = await scrape(url);
    expect(now.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(now.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(now.get('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  test('/metrics refuses methods other than GET and HEAD with a one-line reason', async () => {
    const response = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(await response.text()).toMatch(/^Method POST not allowed here\.\n$/);
  });
});

describe('--no-metrics', () => {
  test('/metrics is not served', async () => {
    const hub = createHubServer({ config: { port: 0, demo: false, metrics: false } });
    const url = await hub.listen();
    try {
      const response = await fetch(`${url}/metrics`);
      expect(response.status).toBe(404);
    } finally {
      await hub.close(1000);
    }
  });
});
