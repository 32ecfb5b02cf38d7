import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';

/** Issue 17: `state` mode over real HTTP (architecture invariant 14). */

let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close();
  hub = undefined;
});

const PRICES = 'https://example.com/prices/{symbol}';
const price = (symbol: string) => `https://example.com/prices/${symbol}`;

async function stateHub(store?: Store): Promise<TestHub> {
  hub = await startTestHub({
    config: { topics: { [PRICES]: { mode: 'state' } }, maxConnections: 0, heartbeatMs: 0 },
    ...(store && { store }),
  });
  return hub;
}

/**
 * Publishes ever newer versions of one state while `count` subscribers connect at random moments
 * over `spreadMs`; checks each one's first state (no older than at its connect), that every later
 * version follows once and in order (nothing missed between the state and the live updates, nothing
 * twice), and that it ends at the last state.
 */
async function raceSubscribers(test: TestHub, count: number, spreadMs: number): Promise<void> {
  const url = topicUrl(test.hubUrl, [price('ACME')]);
  let acknowledged = 0;
  let publishing = true;
  const publisher = (async () => {
    for (let version = 1; publishing; version++) {
      const answer = await publish(test.hubUrl, {
        topic: price('ACME'),
        data: String(version),
        version: String(version),
      });
      expect(answer.status).toBe(200);
      acknowledged = version;
      if (version % 4 === 0) await delay(1);
    }
  })();
  await delay(20);
  const subscribers = await Promise.all(
    Array.from({ length: count }, async () => {
      await delay(Math.random() * spreadMs);
      // The state current at connect: every publish acknowledged before the request was sent.
      const atConnect = acknowledged;
      return { atConnect, stream: await open(url) };
    }),
  );
  publishing = false;
  await publisher;
  const last = acknowledged;
  // The race was run: most subscribers connected while newer states were still to come.
  expect(subscribers.filter(({ atConnect }) => atConnect < last).length).toBeGreaterThan(count / 2);
  for (const { atConnect, stream } of subscribers) {
    await stream.waitFor(() => dataEvents(stream).at(-1)?.data === String(last), 15_000, `state ${last}`);
    const versions = dataEvents(stream).map((event) => Number(event.data));
    expect(versions[0]).toBeGreaterThanOrEqual(Math.max(atConnect, 1));
    // Forward only, and nothing missed after the first state: every later version, once each.
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBe((versions[i - 1] as number) + 1);
    expect(stream.events.some((event) => event.type === RESET_EVENT_TYPE)).toBe(false);
  }
}

async function open(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const stream = await openStream(url, headers);
  streams.push(stream);
  return stream;
}

const dataEvents = (stream: RawStream) => stream.events.filter((event) => event.type === 'message');

describe('state mode: the latest state first, then live, with no race (issue 17)', () => {
  it('500 subscribers connecting at random moments while the state changes: each starts no older than at its connect, only moves forward, ends at the last state', async () => {
    await raceSubscribers(await stateHub(), 500, 1500);
  }, 60_000);

  it('a new subscriber gets every matching state once, oldest first, then live updates', async () => {
    const test = await stateHub();
    for (const [symbol, value] of [
      ['A', 1],
      ['B', 1],
      ['A', 2],
      ['C', 1],
      ['B', 2],
    ] as const) {
      await publish(test.hubUrl, { topic: price(symbol), data: `${symbol}${value}` });
    }
    const stream = await open(topicUrl(test.hubUrl, [PRICES]));
    await stream.waitFor(() => dataEvents(stream).length === 3, 5000, 'three states');
    expect(dataEvents(stream).map((event) => event.data)).toEqual(['A2', 'C1', 'B2']);
    await publish(test.hubUrl, { topic: price('C'), data: 'C2' });
    await stream.waitFor(() => dataEvents(stream).length === 4, 5000, 'the live update');
    expect(dataEvents(stream).at(-1)?.data).toBe('C2');
  });

  it('a reconnect gets exactly the changed topics’ latest values', async () => {
    const test = await stateHub();
    for (const symbol of ['A', 'B', 'C'])
      await publish(test.hubUrl, { topic: price(symbol), data: `${symbol}0` });
    const url = topicUrl(test.hubUrl, [PRICES]);
    const first = await open(url);
    await first.waitFor(() => dataEvents(first).length === 3, 5000, 'the states');
    const lastSeen = first.lastEventId();
    first.destroy();
    await first.closed;
    for (let n = 1; n <= 3; n++) await publish(test.hubUrl, { topic: price('A'), data: `A${n}` });
    for (let n = 1; n <= 2; n++) await publish(test.hubUrl, { topic: price('C'), data: `C${n}` });
    const again = await open(url, { 'Last-Event-ID': lastSeen });
    await again.waitFor(() => dataEvents(again).length === 2, 5000, 'the changed states');
    await delay(50);
    expect(dataEvents(again).map((event) => event.data)).toEqual(['A3', 'C2']);
    expect(again.events.some((event) => event.type === RESET_EVENT_TYPE)).toBe(false);
  });

  it('a client dropping before its first state starts afresh, and one dropping after resumes past it', async () => {
    const test = await stateHub();
    await publish(test.hubUrl, { topic: price('A'), data: 'A1' });
    const stream = await open(topicUrl(test.hubUrl, [PRICES]));
    await stream.waitFor(() => dataEvents(stream).length === 1, 5000, 'the state');
    // The opening block sets no id (a drop before the state reconnects fresh); after the states
    // the cursor moves to where they were read.
    expect(stream.text().split('\n\n')[0]).not.toMatch(/^id:/m);
    expect(stream.response.headers['last-event-id']).toBe(stream.lastEventId());
  });

  it('refuses a stale version with 409 and a reason, and stores nothing', async () => {
    const test = await stateHub();
    expect((await publish(test.hubUrl, { topic: price('A'), data: 'new', version: '5' })).status).toBe(200);
    for (const version of ['5', '4']) {
      const stale = await publish(test.hubUrl, { topic: price('A'), data: 'old', version });
      expect(stale.status).toBe(409);
      expect(stale.body).toMatch(/^Stale state: version \d+ is not newer than the stored version 5\.\n$/);
    }
    for (const [version, reason] of [
      ['five', /"version" must be a number/],
      ['1e3', /"version" must be a number/],
    ] as const) {
      const bad = await publish(test.hubUrl, { topic: price('A'), data: 'x', version });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatch(reason);
    }
    const onStream = await publish(test.hubUrl, {
      topic: 'https://example.com/news',
      data: 'x',
      version: '1',
    });
    expect(onStream.status).toBe(400);
    expect(onStream.body).toMatch(/only for topics in state mode/);
    const stream = await open(topicUrl(test.hubUrl, [PRICES]));
    await stream.waitFor(() => dataEvents(stream).length === 1, 5000, 'the state');
    await delay(30);
    expect(dataEvents(stream).map((event) => event.data)).toEqual(['new']);
  });
});

describe.runIf(redisAvailable('state mode on Redis'))(
  'state mode on Redis (a feed that lags its history)',
  () => {
    let redis: RedisServer;
    let namespace = 0;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(async () => {
      await redis?.destroy();
    });
    const store = () => RedisStore.connect({ url: redis.url, prefix: `state-${process.pid}-${++namespace}` });

    it('100 subscribers connecting while the state changes: no older than at connect, forward only, last state', async () => {
      await raceSubscribers(await stateHub(await store()), 100, 800);
    }, 60_000);

    it('a reconnect gets exactly the changed topics’ latest values', async () => {
      const test = await stateHub(await store());
      for (const symbol of ['A', 'B'])
        await publish(test.hubUrl, { topic: price(symbol), data: `${symbol}0` });
      const url = topicUrl(test.hubUrl, [PRICES]);
      const first = await open(url);
      await first.waitFor(() => dataEvents(first).length === 2, 5000, 'the states');
      const lastSeen = first.lastEventId();
      first.destroy();
      for (let n = 1; n <= 3; n++) await publish(test.hubUrl, { topic: price('B'), data: `B${n}` });
      const again = await open(url, { 'Last-Event-ID': lastSeen });
      await again.waitFor(() => dataEvents(again).length === 1, 5000, 'the changed state');
      await delay(50);
      expect(dataEvents(again).map((event) => event.data)).toEqual(['B3']);
    });
  },
);
