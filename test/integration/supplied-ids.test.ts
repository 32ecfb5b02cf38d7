import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { RedisServer, findRedisServer } from '../helpers/redis.js';

// Issue 11, item 5: a publisher must not be able to give its event an id that another topic's
// subscriber holds, nor reuse one, so every resume lands on the event the subscriber saw.
describe('publisher-supplied ids over HTTP', () => {
  let redis: RedisServer | undefined;
  let namespace = 0;
  let hub: TestHub | undefined;
  const streams: RawStream[] = [];

  beforeAll(async () => {
    if (findRedisServer()) redis = await RedisServer.start();
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.destroy();
    await hub?.close();
    hub = undefined;
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  const stores: [string, () => Promise<Store>][] = [
    ['memory', () => Promise.resolve(new MemoryStore())],
    [
      'redis',
      () => {
        if (!redis) throw new Error('redis-server not found (install the redis-server package)');
        return RedisStore.connect({ url: redis.url, prefix: `supplied-${process.pid}-${++namespace}` });
      },
    ],
  ];

  describe.each(stores)('on the %s store', (_name, createStore) => {
    async function subscribe(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
      const stream = await openStream(url, headers);
      streams.push(stream);
      return stream;
    }

    it('refuses an id shaped like a generated one with 400; a resume from the generated id misses nothing', async () => {
      hub = await startTestHub({ store: await createStore() });
      const seen = await publish(hub.hubUrl, { topic: 'urn:a', data: 'seen' });
      expect(seen.status).toBe(200);
      const shadow = await publish(hub.hubUrl, { topic: 'urn:b', data: 'shadow', id: seen.body });
      expect(shadow.status).toBe(400);
      expect(shadow.body.trim().split('\n')).toHaveLength(1);
      expect(shadow.body).toMatch(/shape of this hub's own ids/);
      const missed = [];
      for (const data of ['one', 'two', 'three']) {
        missed.push((await publish(hub.hubUrl, { topic: 'urn:a', data })).body);
      }
      const stream = await subscribe(topicUrl(hub.hubUrl, ['urn:a']), { 'Last-Event-ID': seen.body });
      await stream.waitFor(() => stream.events.length === 3, 5000, 'the three missed events');
      expect(stream.events.map((event) => event.lastEventId)).toEqual(missed);
      expect(stream.events.map((event) => event.data)).toEqual(['one', 'two', 'three']);
    });

    it('a repeated id: 200 with the original id, delivered once; a different event under it: 409', async () => {
      hub = await startTestHub({ store: await createStore() });
      const live = await subscribe(topicUrl(hub.hubUrl, ['urn:orders']));
      const fields = { topic: 'urn:orders', data: 'placed', id: 'order-9912' };
      const first = await publish(hub.hubUrl, fields);
      const retry = await publish(hub.hubUrl, fields);
      expect([first.status, first.body, retry.status, retry.body]).toEqual([
        200,
        'order-9912',
        200,
        'order-9912',
      ]);
      const other = await publish(hub.hubUrl, { ...fields, data: 'cancelled' });
      expect(other.status).toBe(409);
      expect(other.body.trim().split('\n')).toHaveLength(1);
      expect(other.body).toMatch(/already used/);
      const marker = await publish(hub.hubUrl, { topic: 'urn:orders', data: 'marker' });
      await live.waitFor(() => live.events.some((event) => event.lastEventId === marker.body));
      expect(live.events.map((event) => event.data)).toEqual(['placed', 'marker']);
    });
  });
});
