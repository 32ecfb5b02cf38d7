import { afterEach, describe, expect, test } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createWebhooks } from '../../src/webhooks/webhooks.js';
import type { Webhooks, WebhooksOptions } from '../../src/webhooks/webhooks.js';
import type { WebhookObserver } from '../../src/webhooks/delivery.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { eventually } from '../helpers/wait.js';
import { WebhookReceiver, bodyOf, newSecret, verifyWebhook } from '../helpers/webhook-receiver.js';

const TOPIC = 'https://example.com/rooms/1';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function receiver(): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start();
  cleanup.push(() => started.stop());
  return started;
}

function hubWithPresence(): Hub {
  const hub = new Hub({ store: new MemoryStore(), presence: { graceMs: 0 }, heartbeatIntervalMs: 0 });
  cleanup.push(() => hub.close());
  return hub;
}

function attach(hub: Hub, options: WebhooksOptions): Webhooks {
  const webhooks = createWebhooks(hub, options);
  cleanup.push(() => webhooks.close());
  return webhooks;
}

/** Counts of what the observer heard. */
function counting(): WebhookObserver & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const add = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);
  return {
    counts,
    delivered: () => add('delivered'),
    attemptFailed: (_endpoint, reason) => add(`failed:${reason}`),
    dropped: (_endpoint, reason) => add(`dropped:${reason}`),
  };
}

describe('webhooks (library mode, a real receiver on loopback)', () => {
  test('every request is signed the Standard Webhooks way, verified by an independent implementation', async () => {
    const target = await receiver();
    const secret = newSecret();
    const hub = hubWithPresence();
    attach(hub, {
      endpoints: [
        {
          url: target.url,
          secret,
          events: [
            'topic.occupied',
            'topic.vacant',
            'subscription.active',
            'subscription.inactive',
            'update.published',
          ],
        },
      ],
    });
    const subscription = await hub.subscribe({
      topics: [TOPIC],
      sink: new MemorySink(),
      subscriberId: 'urn:example:alice',
      payload: { name: 'Alice' },
    });
    await hub.publish({ topics: [TOPIC], data: 'hello' });
    subscription.close();
    await eventually(() => target.delivered.length === 5, 10_000, 'five webhooks');

    // One topic, one line: the receiver sees the changes in the order they happened.
    expect(target.requests.map((r) => bodyOf(r).type)).toEqual([
      'subscription.active',
      'topic.occupied',
      'update.published',
      'subscription.inactive',
      'topic.vacant',
    ]);
    for (const request of target.requests) {
      expect(verifyWebhook(secret, request.headers, request.body)).toBeUndefined();
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['webhook-id']).toMatch(/^msg_[A-Za-z0-9_-]+$/);
      // A changed byte, another secret or an old timestamp each fail verification.
      expect(verifyWebhook(secret, request.headers, request.body.replace('}', ' }'))).toBe(
        'no signature matches',
      );
      expect(verifyWebhook(newSecret(), request.headers, request.body)).toBe('no signature matches');
      const old = { ...request.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) };
      expect(verifyWebhook(secret, old, request.body)).toBe('timestamp out of tolerance');
    }
    const [active, occupied, update] = target.requests.map(bodyOf);
    expect(active?.data).toMatchObject({
      type: 'Subscription',
      topic: TOPIC,
      subscriber: 'urn:example:alice',
      active: true,
      payload: { name: 'Alice' },
    });
    expect(occupied?.data).toEqual({ topic: TOPIC });
    expect(update?.data).toMatchObject({ topics: [TOPIC], data: 'hello', private: false });
    expect(new Set(target.requests.map((r) => r.headers['webhook-id'])).size).toBe(5);
  });

  test('a receiver down for a while, then failing, then back gets every event once, in order per topic', async () => {
    const target = await receiver();
    await target.stop(); // down: connections refused
    const hub = hubWithPresence();
    const observer = counting();
    const webhooks = attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'], name: 'backend' }],
      retryBaseMs: 20,
      retryMaxMs: 200,
      observer,
    });
    const topics = ['https://example.com/a', 'https://example.com/b', 'https://example.com/c'];
    for (let n = 0; n < 60; n++) await hub.publish({ topics: [topics[n % 3] as string], data: String(n) });
    await eventually(() => (observer.counts['failed:network'] ?? 0) >= 6, 10_000, 'refused attempts');
    // Up, but failing: 503 (with Retry-After: 0), 500 and 408 before it recovers.
    let answered = 0;
    target.answer = () => {
      answered++;
      if (answered <= 10) return { status: 503, headers: { 'Retry-After': '0' } };
      if (answered <= 15) return { status: answered % 2 ? 500 : 408 };
      return { status: 200 };
    };
    await target.listen();
    await eventually(() => target.delivered.length === 60, 30_000, 'all 60 delivered');
    await eventually(async () => (await webhooks.depth('backend')) === 0, 5000, 'an empty queue');

    const ids = target.delivered.map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(60);
    const delivered = target.delivered.map(bodyOf);
    expect(delivered.map((b) => Number(b.data.data)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 60 }, (_, n) => n),
    );
    for (const topic of topics) {
      const line = delivered
        .filter((b) => (b.data.topics as string[])[0] === topic)
        .map((b) => Number(b.data.data));
      expect(line).toEqual([...line].sort((a, b) => a - b));
    }
    expect(observer.counts['failed:503']).toBeGreaterThanOrEqual(1);
    expect(observer.counts.delivered).toBe(60);
    // A retried message carries the same idempotency key: every 503'd id was delivered later.
    const retried = target.requests.filter((r) => r.status === 503).map((r) => r.headers['webhook-id']);
    for (const id of retried) expect(ids).toContain(id);
  });

  test('a 4xx other than 408 and 429 is given up at once, counted, and the topic moves on', async () => {
    const target = await receiver();
    target.answer = (request) => (bodyOf(request).data.data === 'bad' ? { status: 422 } : { status: 200 });
    const hub = hubWithPresence();
    const observer = counting();
    attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'] }],
      retryBaseMs: 20,
      observer,
    });
    for (const data of ['one', 'bad', 'two']) await hub.publish({ topics: [TOPIC], data });
    // The hub counts a delivery once it has the answer, after the receiver sent it.
    await eventually(() => observer.counts['delivered'] === 2, 10_000, 'the good ones');
    expect(target.requests.map((r) => bodyOf(r).data.data)).toEqual(['one', 'bad', 'two']);
    expect(observer.counts).toMatchObject({ delivered: 2, 'failed:422': 1, 'dropped:rejected': 1 });
  });

  test('a message still failing maxAgeMs after it was queued is given up, and the topic moves on', async () => {
    const target = await receiver();
    target.answer = (request) => (bodyOf(request).data.data === 'doomed' ? { status: 503 } : { status: 200 });
    const hub = hubWithPresence();
    const observer = counting();
    attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'] }],
      retryBaseMs: 50,
      retryMaxMs: 100,
      maxAgeMs: 600,
      observer,
    });
    const queuedAt = Date.now();
    await hub.publish({ topics: [TOPIC], data: 'doomed' });
    await hub.publish({ topics: [TOPIC], data: 'next' });
    await eventually(() => target.delivered.length === 1, 10_000, 'the next one');
    expect(observer.counts['dropped:expired']).toBe(1);
    expect(Date.now() - queuedAt).toBeGreaterThanOrEqual(500);
    expect(target.requests.filter((r) => bodyOf(r).data.data === 'doomed').length).toBeGreaterThan(2);
  });

  test('a redirect is not followed and counts as a refusal', async () => {
    const target = await receiver();
    target.answer = () => ({ status: 307, headers: { Location: 'http://127.0.0.1:1/elsewhere' } });
    const hub = hubWithPresence();
    const observer = counting();
    attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'] }],
      observer,
    });
    await hub.publish({ topics: [TOPIC], data: 'x' });
    await eventually(() => observer.counts['dropped:rejected'] === 1, 10_000, 'the refusal');
    expect(target.requests).toHaveLength(1);
  });

  test('Retry-After on 429 is waited for, however short the backoff', async () => {
    const target = await receiver();
    target.answer = () =>
      target.requests.length === 1 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 200 };
    const hub = hubWithPresence();
    attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'] }],
      retryBaseMs: 10,
    });
    await hub.publish({ topics: [TOPIC], data: 'x' });
    await eventually(() => target.delivered.length === 1, 10_000, 'the retry');
    const [first, second] = target.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(second?.headers['webhook-id']).toBe(first?.headers['webhook-id']);
  });

  test('only the selected topics are sent, and presence events need a hub tracking presence', async () => {
    const target = await receiver();
    const hub = hubWithPresence();
    attach(hub, {
      endpoints: [
        {
          url: target.url,
          secret: newSecret(),
          events: ['update.published'],
          topics: ['https://example.com/books/{id}'],
        },
      ],
    });
    await hub.publish({ topics: ['https://example.com/authors/1'], data: 'no' });
    await hub.publish({ topics: ['https://example.com/books/1'], data: 'yes' });
    await eventually(() => target.delivered.length === 1, 10_000, 'the selected update');
    expect(bodyOf(target.requests[0]!).data.data).toBe('yes');

    const plain = new Hub({ store: new MemoryStore() });
    cleanup.push(() => plain.close());
    expect(() =>
      createWebhooks(plain, {
        endpoints: [{ url: target.url, secret: newSecret(), events: ['topic.vacant'] }],
      }),
    ).toThrow(/need a hub that tracks presence/);
  });
});

/** Delivers `count` events to `subscribers` memory sinks; the time until every sink has them all (ms). */
async function fanOutTime(hub: Hub, subscribers: number, count: number, round: number): Promise<number> {
  const sinks: MemorySink[] = [];
  const subscriptions = [];
  const topic = `https://example.com/fan-out/${round}`;
  for (let i = 0; i < subscribers; i++) {
    const sink = new MemorySink();
    sinks.push(sink);
    subscriptions.push(await hub.subscribe({ topics: [topic], sink }));
  }
  const started = performance.now();
  for (let n = 0; n < count; n++) void hub.publish({ topics: [topic], data: String(n) });
  await eventually(
    () => sinks.every((sink) => sink.events.length === count),
    30_000,
    'every subscriber has every event',
  );
  const elapsed = performance.now() - started;
  for (const subscription of subscriptions) subscription.close();
  return elapsed;
}

describe('a receiver that hangs never slows fan-out', () => {
  test('fan-out with the receiver hung takes about as long as with it answering', async () => {
    const target = await receiver();
    const hub = new Hub({ store: new MemoryStore({ historySize: 10_000 }), heartbeatIntervalMs: 0 });
    cleanup.push(() => hub.close());
    const webhooks = attach(hub, {
      endpoints: [{ url: target.url, secret: newSecret(), events: ['update.published'], name: 'slow' }],
      timeoutMs: 60_000,
      concurrency: 8,
    });
    // Warm-up, then the baseline with the receiver answering at once.
    await fanOutTime(hub, 50, 200, 0);
    await eventually(async () => (await webhooks.depth('slow')) === 0, 20_000, 'warm-up delivered');
    const answering = await fanOutTime(hub, 200, 1000, 1);
    await eventually(async () => (await webhooks.depth('slow')) === 0, 30_000, 'baseline delivered');

    target.answer = () => 'hang';
    const hungRequestsBefore = target.requests.length;
    const hung = await fanOutTime(hub, 200, 1000, 2);
    // The receiver really was hung: the topic's first request open, the rest waiting behind it.
    await eventually(() => target.requests.length - hungRequestsBefore === 1, 5000, 'the hung request');
    expect(await webhooks.depth('slow')).toBe(1000);
    // Generous: the point is that a hung receiver does not stall fan-out (which would take minutes).
    expect(hung).toBeLessThan(Math.max(answering * 3, answering + 2000));
  });
});
