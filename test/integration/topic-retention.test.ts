import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubOptions } from '../../src/hub/hub.js';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store, StoredEvent } from '../../src/store/types.js';
import { TempDirs } from '../helpers/data-dir.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

/**
 * Issue 17, per-topic retention: a topic's retained count and age, `since` older than what is
 * retained, and rewinds that read from the end. Run on every store, through the hub.
 */

const NEWS = 'https://example.com/news';
const OTHER = 'https://example.org/other';
/** Where the live markers go: a topic without a policy, so they retire nothing. */
const LIVE = 'https://example.net/live';

interface StoreOptions {
  historySize?: number;
}

const dirs = new TempDirs();
let redis: RedisServer | undefined;
let namespace = 0;
const withRedis = redisAvailable('per-topic retention on Redis');

beforeAll(async () => {
  if (withRedis) redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.destroy();
  dirs.removeAll();
});

const stores: [string, (options?: StoreOptions) => Promise<Store>][] = [
  ['memory', (options) => Promise.resolve(new MemoryStore(options))],
  ['sqlite', (options) => Promise.resolve(SqliteStore.open({ dataDir: dirs.make('retention'), ...options }))],
  ...(withRedis
    ? [
        [
          'redis',
          (options?: StoreOptions): Promise<Store> =>
            RedisStore.connect({ url: redis?.url, prefix: `retention-${++namespace}`, ...options }),
        ] as [string, (options?: StoreOptions) => Promise<Store>],
      ]
    : []),
];

const open: { hub: Hub; store: Store }[] = [];
afterEach(async () => {
  for (const { hub, store } of open.splice(0)) {
    await hub.close();
    await store.close();
  }
});

async function hubOn(create: (options?: StoreOptions) => Promise<Store>, options: HubOptions & StoreOptions) {
  const { historySize, ...hubOptions } = options;
  const store = await create(historySize === undefined ? {} : { historySize });
  const hub = new Hub({ ...hubOptions, store, heartbeatIntervalMs: 0 });
  open.push({ hub, store });
  return hub;
}

/** Counts the events a store hands out through its history reads (pages forward and backward). */
function countingReads(store: Store): { store: Store; eventsRead: () => number } {
  let read = 0;
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'readPage') {
        return async (...args: Parameters<Store['readPage']>) => {
          const page = await target.readPage(...args);
          if (page.ok) read += page.events.length;
          return page;
        };
      }
      if (property === 'readLatest' && target.readLatest !== undefined) {
        return async (...args: Parameters<NonNullable<Store['readLatest']>>) => {
          const page = await (target.readLatest as NonNullable<Store['readLatest']>)(...args);
          read += page.events.length;
          return page;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: counted, eventsRead: () => read };
}

async function subscribed(hub: Hub, options: Omit<Parameters<Hub['subscribe']>[0], 'sink'>) {
  const sink = new MemorySink();
  await hub.subscribe({ ...options, sink });
  return sink;
}

/** Waits until `marker` (a live event) arrived; returns what came before it, as [type, data, id]. */
async function until(sink: MemorySink, hub: Hub, topic = LIVE): Promise<string[][]> {
  const marker = `live-${Math.random()}`;
  await hub.publish({ topics: [topic], data: marker });
  await eventually(() => sink.events.some((event) => event.data === marker), 5000, 'the live event');
  const index = sink.events.findIndex((event) => event.data === marker);
  return sink.events.slice(0, index).map((event) => [event.type, event.data, event.lastEventId]);
}

describe.each(stores)('per-topic retention on the %s store', (_, create) => {
  it("a resume across events beyond a topic's retained count gets the reset signal with the exact resumeFrom", async () => {
    const hub = await hubOn(create, { topics: { [NEWS]: { retainCount: 2 } } });
    const start = await hub.publish({ topics: [OTHER], data: 'start' });
    const news: StoredEvent[] = [];
    for (let n = 1; n <= 4; n++) news.push(await hub.publish({ topics: [NEWS], data: `news ${n}` }));
    const after = await hub.publish({ topics: [OTHER], data: 'after' });
    const sink = await subscribed(hub, { topics: [NEWS, OTHER, LIVE], lastEventId: start.id });
    const received = await until(sink, hub);
    const [reset, ...rest] = received;
    expect(reset?.[0]).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.[1] ?? '')).toEqual({
      reason: 'expired',
      lastEventId: start.id,
      resumeFrom: news[1]?.id,
    });
    expect(rest).toEqual([
      ['message', 'news 3', news[2]?.id],
      ['message', 'news 4', news[3]?.id],
      ['message', 'after', after.id],
    ]);
    // A resume from the newest retired event misses nothing: no reset.
    const exact = await subscribed(hub, { topics: [NEWS, OTHER, LIVE], lastEventId: news[1]?.id });
    const exactly = (await until(exact, hub)).filter((event) => !event[1]?.startsWith('live-'));
    expect(exactly.map((event) => event[1])).toEqual(['news 3', 'news 4', 'after']);
    // rewind asks for the last N retained: fewer is what there is.
    const rewound = await subscribed(hub, { topics: [NEWS, LIVE], rewind: 10 });
    const rewind = (await until(rewound, hub)).filter((event) => event[1]?.startsWith('news'));
    expect(rewind.map((event) => event[1])).toEqual(['news 3', 'news 4']);
  });

  it("a retained count of 1: a subscriber of only other topics is never told of the topic's gaps", async () => {
    const hub = await hubOn(create, { topics: { [NEWS]: { retainCount: 1 } } });
    const start = await hub.publish({ topics: [OTHER], data: 'start' });
    for (let n = 1; n <= 3; n++) {
      await hub.publish({ topics: [NEWS], data: `news ${n}` });
      await hub.publish({ topics: [OTHER], data: `other ${n}` });
    }
    const others = await subscribed(hub, { topics: [OTHER, LIVE], lastEventId: start.id });
    expect((await until(others, hub)).map((event) => event[1])).toEqual(['other 1', 'other 2', 'other 3']);
    const news = await subscribed(hub, { topics: [NEWS, LIVE], lastEventId: start.id });
    const received = (await until(news, hub)).filter((event) => !event[1]?.startsWith('live-'));
    expect(received.map((event) => event[0])).toEqual([RESET_EVENT_TYPE, 'message']);
    expect(received[1]?.[1]).toBe('news 3');
  });

  it("an event older than its topic's retained age is never replayed; a resume across it is told", async () => {
    const hub = await hubOn(create, {
      topics: { [NEWS]: { retainAgeMs: 100 }, [OTHER]: { retainAgeMs: 60_000 } },
    });
    const start = await hub.publish({ topics: [OTHER], data: 'start' });
    const old = await hub.publish({ topics: [NEWS], data: 'old news' });
    await hub.publish({ topics: [OTHER], data: 'other' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const fresh = await hub.publish({ topics: [NEWS], data: 'fresh news' });
    const sink = await subscribed(hub, { topics: [NEWS, OTHER, LIVE], lastEventId: start.id });
    const received = await until(sink, hub);
    expect(
      received.map((event) => (event[0] === RESET_EVENT_TYPE ? JSON.parse(event[1] ?? '') : event[1])),
    ).toEqual([{ reason: 'expired', lastEventId: start.id, resumeFrom: old.id }, 'other', 'fresh news']);
    expect(received[2]?.[2]).toBe(fresh.id);
  });

  it('since= earlier than the oldest retained event is told before the retained events; later is not', async () => {
    const hub = await hubOn(create, { historySize: 5 });
    const published: StoredEvent[] = [];
    const before = Date.now() - 1000;
    for (let n = 1; n <= 300; n++) published.push(await hub.publish({ topics: [NEWS], data: `news ${n}` }));
    const sink = await subscribed(hub, { topics: [NEWS, LIVE], since: before });
    const received = await until(sink, hub);
    const [reset, ...rest] = received;
    expect(reset?.[0]).toBe(RESET_EVENT_TYPE);
    // Redis trims whole nodes, so it may keep more than 5: the replay is a suffix of what was published.
    const firstKept = published.findIndex((event) => event.id === rest[0]?.[2]);
    expect(firstKept).toBeGreaterThan(0);
    expect(rest.map((event) => event[2])).toEqual(published.slice(firstKept).map((event) => event.id));
    expect(JSON.parse(reset?.[1] ?? '')).toEqual({
      reason: 'expired',
      lastEventId: '',
      resumeFrom: published[firstKept - 1]?.id,
    });
    // A time after the oldest retained event: nothing it asked for can be gone.
    const later = await subscribed(hub, {
      topics: [NEWS, LIVE],
      since: (published[299] as StoredEvent).time + 1,
    });
    expect((await until(later, hub)).filter((event) => event[0] === RESET_EVENT_TYPE)).toEqual([]);
  });

  it('rewind reads from the end: a few events of a long history cost a page, not the whole log', async () => {
    const counting = countingReads(await create({ historySize: 20_000 }));
    const hub = new Hub({ store: counting.store, heartbeatIntervalMs: 0, maxRewind: 100 });
    open.push({ hub, store: counting.store });
    const news: StoredEvent[] = [];
    for (let batch = 0; batch < 30; batch++) {
      // Concurrent within a batch (one commit on SQLite), in order: each append starts synchronously.
      const numbers = Array.from({ length: 200 }, (_, i) => batch * 200 + i);
      const events = await Promise.all(
        numbers.map((n) => hub.publish({ topics: [n % 10 === 0 ? NEWS : OTHER], data: `${n}` })),
      );
      news.push(...events.filter((event) => event.topics[0] === NEWS));
    }
    const readBefore = counting.eventsRead();
    // A template: no store can use a topic index, so a forward scan would read all 6000 events.
    const sink = await subscribed(hub, { topics: ['https://example.com/{section}', LIVE], rewind: 5 });
    const received = (await until(sink, hub)).filter((event) => event[0] === 'message');
    expect(received.map((event) => event[1])).toEqual(['5950', '5960', '5970', '5980', '5990']);
    expect(received.map((event) => event[2])).toEqual(news.slice(-5).map((event) => event.id));
    expect(counting.eventsRead() - readBefore).toBeLessThanOrEqual(512);
    // Exact topics: the stores with a topic index read just those.
    const exact = await subscribed(hub, { topics: [NEWS], rewind: 5 });
    const exactly = (await until(exact, hub, NEWS)).filter((event) => event[0] === 'message');
    expect(exactly.map((event) => event[1])).toEqual(['5950', '5960', '5970', '5980', '5990']);
  }, 60_000);
});

describe('since after the clock went backwards', () => {
  it('an event published after the step back is never older than those before it, so a trim is still told', async () => {
    let clock = 1_000_000;
    const store = new MemoryStore({ historySize: 3, now: () => clock });
    const hub = new Hub({ store, heartbeatIntervalMs: 0, now: () => clock });
    open.push({ hub, store });
    await hub.publish({ topics: [NEWS], data: 'before the step' });
    clock = 2_000_000;
    const lost = await hub.publish({ topics: [NEWS], data: 'trimmed, at or after since' });
    clock = 1_500_000; // the clock steps back (NTP)
    for (let n = 1; n <= 3; n++) await hub.publish({ topics: [NEWS], data: `after the step ${n}` });
    // The three retained events are those after the step: `lost` was trimmed.
    const sink = await subscribed(hub, { topics: [NEWS, LIVE], since: 1_750_000 });
    const received = await until(sink, hub);
    expect(received[0]?.[0]).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(received[0]?.[1] ?? '')).toMatchObject({ reason: 'expired', resumeFrom: lost.id });
    // What was published after the step is after `since` too: it is replayed.
    expect(received.slice(1).map((event) => event[1])).toEqual([
      'after the step 1',
      'after the step 2',
      'after the step 3',
    ]);
  });
});
