import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { EARLIEST } from '../../src/store/types.js';
import { readAfter } from '../helpers/history.js';
import { publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';

/** Issue 17: `Idempotency-Key` on publish, on memory, on Redis, and across two hubs. */

const TOPIC = 'https://example.com/orders/1';
const hubs: TestHub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});

async function hubOn(store?: Store): Promise<TestHub> {
  const hub = await startTestHub(store ? { store } : {});
  hubs.push(hub);
  return hub;
}

async function retainedData(store: Store): Promise<string[]> {
  const history = await readAfter(store, EARLIEST);
  return history.ok ? history.events.map((event) => event.data) : [];
}

/** 100 concurrent retries of one key on `first` (and `second`, when given): one event, one id. */
async function concurrentRetries(first: TestHub, second = first): Promise<void> {
  const key = { 'Idempotency-Key': 'order-1-attempt' };
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      publish((i % 2 ? second : first).hubUrl, { topic: TOPIC, data: 'paid' }, key),
    ),
  );
  expect(answers.map((answer) => answer.status)).toEqual(Array(100).fill(200));
  expect(new Set(answers.map((answer) => answer.body)).size).toBe(1);
  expect(await retainedData(first.hub.store)).toEqual(['paid']);
  const different = await publish(second.hubUrl, { topic: TOPIC, data: 'refunded' }, key);
  expect(different.status).toBe(422);
  expect(different.body).toMatch(/^This Idempotency-Key was already used for a different request/);
  expect(await retainedData(first.hub.store)).toEqual(['paid']);
}

describe('Idempotency-Key (issue 17)', () => {
  it('on memory: 100 concurrent retries give one event and one id; a different body gives 422', async () => {
    await concurrentRetries(await hubOn());
  });

  it('a new key is a new publish, and the key covers every field of the request', async () => {
    const hub = await hubOn();
    const a = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, { 'Idempotency-Key': 'a' });
    const b = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, { 'Idempotency-Key': 'b' });
    expect(a.body).not.toBe(b.body);
    // The structured-field string form of the draft names the same key.
    const quoted = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, { 'Idempotency-Key': '"a"' });
    expect(quoted.body).toBe(a.body);
    const changes: Record<string, string>[] = [
      { type: 'paid' },
      { id: 'order-1' },
      { private: 'on' },
      { retry: '10' },
    ];
    for (const changed of changes) {
      const answer = await publish(
        hub.hubUrl,
        { topic: TOPIC, data: 'x', ...changed },
        { 'Idempotency-Key': 'a' },
      );
      expect(answer.status, JSON.stringify(changed)).toBe(422);
    }
  });

  it('refuses a malformed key with 400, storing nothing', async () => {
    const hub = await hubOn();
    for (const key of ['has space', 'x'.repeat(256), 'ünicode', '""']) {
      const answer = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, { 'Idempotency-Key': key });
      expect(answer.status, key).toBe(400);
      expect(answer.body).toMatch(/"Idempotency-Key" must be 1-255 printable ASCII/);
    }
    expect(await retainedData(hub.hub.store)).toEqual([]);
  });

  describe.runIf(redisAvailable('Idempotency-Key on Redis'))('on Redis', () => {
    let redis: RedisServer;
    let namespace = 0;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(async () => {
      await redis?.destroy();
    });
    const connect = (prefix: string) => RedisStore.connect({ url: redis.url, prefix });

    it('100 concurrent retries give one event and one id; a different body gives 422', async () => {
      await concurrentRetries(await hubOn(await connect(`idempotency-${++namespace}`)));
    });

    it('holds across two hubs sharing Redis', async () => {
      const prefix = `idempotency-${++namespace}`;
      await concurrentRetries(await hubOn(await connect(prefix)), await hubOn(await connect(prefix)));
    });
  });
});
