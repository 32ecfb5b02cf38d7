import { afterEach, describe, expect, test } from 'vitest';
import { createHubServer } from '../../../src/server/app.js';
import type { HubServer } from '../../../src/server/app.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { StoreUnavailableError } from '../../../src/store/errors.js';
import type { EventInput, ResumePoint, StoredEvent } from '../../../src/store/types.js';
import { openStream, publish } from '../../helpers/stream-reader.js';
import { scrape } from '../../helpers/metrics.js';

/** A real memory store whose backend can be switched off, as a network store's would go away. */
class SwitchableStore extends MemoryStore {
  down = false;

  override append(input: EventInput): Promise<StoredEvent> {
    if (this.down) return Promise.reject(new StoreUnavailableError('store connection lost'));
    return super.append(input);
  }

  override locate(lastEventId: string): Promise<ResumePoint> {
    if (this.down) return Promise.reject(new StoreUnavailableError('store connection lost'));
    return super.locate(lastEventId);
  }

  override isReady(): boolean {
    return !this.down && super.isReady();
  }
}

async function probe(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

describe('health endpoints', () => {
  let hub: HubServer | undefined;
  afterEach(async () => {
    await hub?.close(1000);
    hub = undefined;
  });

  test('/healthz and /readyz answer 200 with one line when the hub is up', async () => {
    hub = createHubServer({ config: { port: 0, demo: false } });
    const url = await hub.listen();
    expect(await probe(`${url}/healthz`)).toEqual({ status: 200, body: 'ok: process alive\n' });
    expect(await probe(`${url}/readyz`)).toEqual({ status: 200, body: 'ready: memory store reachable\n' });
    const head = await fetch(`${url}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  test('readiness follows the store; failures are 503 with a reason and counted', async () => {
    const store = new SwitchableStore();
    hub = createHubServer({ config: { port: 0, demo: false }, store });
    const url = await hub.listen();
    const first = await publish(url, 'orders', 'before');
    expect(first.status).toBe(200);

    store.down = true;
    expect(await probe(`${url}/readyz`)).toEqual({
      status: 503,
      body: 'not ready: memory store unreachable\n',
    });
    expect((await probe(`${url}/healthz`)).status).toBe(200);
    const refused = await publish(url, 'orders', 'while down');
    expect(refused.status).toBe(503);
    expect(refused.body).toBe('Event not stored: store connection lost\n');
    const resume = await openStream(url, ['orders'], { lastEventId: first.body });
    expect(resume.status).toBe(503);
    let metrics = await scrape(url);
    expect(metrics.get('ssehub_store_errors_total{operation="append"}')).toBe(1);
    expect(metrics.get('ssehub_store_errors_total{operation="locate"}')).toBe(1);
    expect(metrics.get('ssehub_ready')).toBe(0);
    expect(metrics.get('ssehub_events_published_total')).toBe(1);

    // Nothing was stored while down: a resume from the first event finds nothing after it.
    store.down = false;
    expect(await probe(`${url}/readyz`)).toEqual({ status: 200, body: 'ready: memory store reachable\n' });
    const after = await openStream(url, ['orders'], { lastEventId: first.body });
    expect(after.status).toBe(200);
    expect((await publish(url, 'orders', 'after')).status).toBe(200);
    await after.waitFor((events) => events.length === 1);
    expect(after.events.map((e) => e.data)).toEqual(['after']);
    after.close();
    metrics = await scrape(url);
    expect(metrics.get('ssehub_ready')).toBe(1);
  });

  test('readiness turns 503 as soon as shutdown starts, while the hub still serves', async () => {
    hub = createHubServer({ config: { port: 0, demo: false, drainDelayMs: 500 } });
    const url = await hub.listen();
    const stream = await openStream(url, ['news']);
    const closing = hub.close(5000);
    expect(hub.draining).toBe(true);
    expect(await probe(`${url}/readyz`)).toEqual({
      status: 503,
      body: 'not ready: shutting down, reconnect to another instance\n',
    });
    expect((await probe(`${url}/healthz`)).status).toBe(200);
    // During the drain delay publishes are still taken and delivered.
    const late = await publish(url, 'news', 'during drain delay');
    expect(late.status).toBe(200);
    await stream.waitFor((events) => events.length === 1);
    await closing;
    expect(await stream.ended).toEqual({ clean: true });
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  test('/status reports connections, rates, store and readiness', async () => {
    hub = createHubServer({ config: { port: 0, demo: false } });
    const url = await hub.listen();
    const stream = await openStream(url, ['news']);
    for (let i = 0; i < 5; i++) expect((await publish(url, 'news', `e${i}`)).status).toBe(200);
    await stream.waitFor((events) => events.length === 5);
    const response = await fetch(`${url}/status`);
    expect(response.headers.get('content-type')).toBe('application/json');
    const status = (await response.json()) as Record<string, unknown>;
    expect(status).toMatchObject({
      subscriptions: 1,
      eventsPublished: 5,
      store: { kind: 'memory', ready: true },
      ready: true,
      draining: false,
    });
    expect(status.connections).toBeGreaterThanOrEqual(1);
    expect(typeof status.eventsPerSecond).toBe('number');
    stream.close();
  });
});
