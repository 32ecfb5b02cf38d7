import { readAfter } from '../../helpers/history.js';
import { Redis } from 'ioredis';
import { Hub } from '../../../src/hub/hub.js';
import { EventStreamParser } from '../../../src/protocol/parse.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../../src/store/errors.js';
import { RedisStore } from '../../../src/store/redis.js';
import { APPEND_SCRIPT } from '../../../src/store/redis-scripts.js';
import type { StoredEvent } from '../../../src/store/types.js';
import { EARLIEST } from '../../../src/store/types.js';
import { RedisServer, freePort, redisAvailable } from '../../helpers/redis.js';
import { eventually } from '../../helpers/wait.js';
import { MemorySink } from '../../helpers/memory-sink.js';

const topic = 'urn:test';

describe.runIf(redisAvailable('RedisStore behaviour'))('RedisStore', () => {
  let server: RedisServer;
  let admin: Redis;
  let namespace = 0;
  const open: RedisStore[] = [];

  async function connect(prefix: string, options: Parameters<typeof RedisStore.connect>[0] = {}) {
    const store = await RedisStore.connect({ url: server.url, prefix, ...options });
    open.push(store);
    return store;
  }

  beforeAll(async () => {
    server = await RedisServer.start({ appendOnly: true });
    admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  it('shares one history and one live feed between stores on the same prefix', async () => {
    const prefix = `shared-${++namespace}`;
    const a = await connect(prefix);
    const b = await connect(prefix);
    const seenByB: StoredEvent[] = [];
    b.onEvent((event) => seenByB.push(event));
    const fromA = await a.append({ topics: [topic], data: 'from A' });
    const fromB = await b.append({ topics: [topic], data: 'from B', id: 'b-1' });
    await eventually(() => seenByB.length === 2, 5000, 'both events on B');
    expect(seenByB).toEqual([fromA, fromB]);
    expect(await readAfter(b, fromA.id)).toEqual({ ok: true, after: fromA.cursor, events: [fromB] });
    expect(await readAfter(a, 'b-1')).toEqual({ ok: true, after: fromB.cursor, events: [] });
    // A store that starts later begins its live feed at the stream's end.
    const c = await connect(prefix);
    expect(await c.head()).toBe(fromB.cursor);
  });

  it('bounds its bookkeeping: idempotency records and retained-count indexes stay within the history size', async () => {
    const prefix = `bounded-${++namespace}`;
    const store = await connect(prefix, { historySize: 20 });
    // A flood of distinct keys with a long window: only the newest `historySize` are kept.
    for (let n = 0; n < 300; n++) {
      const idempotency = { key: `key-${n}`, fingerprint: `f${n}`, windowMs: 3_600_000 };
      await store.append({ topics: [`${topic}/${n % 7}`], data: `${n}`, idempotency, retainCount: 3 });
    }
    expect(await admin.hlen(`{${prefix}}:idempotency`)).toBe(20);
    expect(await admin.zcard(`{${prefix}}:idempotency-expiry`)).toBe(20);
    // Stream trimming (MAXLEN ~) keeps more than 20; the indexes follow the stream, not the flood.
    const streamLength = await admin.xlen(`{${prefix}}:events`);
    expect(streamLength).toBeLessThan(300);
    expect(await admin.zcard(`{${prefix}}:retain-index`)).toBeLessThanOrEqual(7 * 3);
    expect(await admin.zcard(`{${prefix}}:retired`)).toBeLessThanOrEqual(streamLength);
    // The old per-key layout is gone: nothing else grows with the number of keys.
    expect(await admin.keys(`{${prefix}}:idempotency:*`)).toEqual([]);
  });

  it('keeps the retained-count index within the stream when every batch is full', async () => {
    const prefix = `bounded-batches-${++namespace}`;
    const store = await connect(prefix, { historySize: 200 });
    // Per-user topics, each retaining a few: retiring never shrinks the index here, only trimming.
    let user = 0;
    for (let turn = 0; turn < 40; turn++) {
      await Promise.all(
        Array.from({ length: 128 }, () =>
          store.append({ topics: [`${topic}/user/${user++}`], data: 'x', retainCount: 5 }),
        ),
      );
    }
    const streamLength = await admin.xlen(`{${prefix}}:events`);
    expect(streamLength).toBeLessThan(40 * 128);
    expect(await admin.zcard(`{${prefix}}:retain-times`)).toBeLessThanOrEqual(streamLength + 100);
    expect(await admin.zcard(`{${prefix}}:retain-index`)).toBeLessThanOrEqual(streamLength + 100);
  });

  it('keeps prefixes apart', async () => {
    const one = await connect(`apart-${++namespace}`);
    const two = await connect(`apart-${++namespace}`);
    const seenByTwo: StoredEvent[] = [];
    two.onEvent((event) => seenByTwo.push(event));
    await one.append({ topics: [topic], data: 'one', id: 'only-in-one' });
    const own = await two.append({ topics: [topic], data: 'two' });
    await eventually(() => seenByTwo.length === 1, 5000, 'own event');
    expect(seenByTwo).toEqual([own]);
    expect(await readAfter(two, 'only-in-one')).toEqual({ ok: false, reason: 'unknown' });
    expect(await readAfter(two, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [own] });
  });

  it('rejects a key prefix that could break out of its namespace', async () => {
    for (const prefix of ['', 'a b', 'x{y}', 'a'.repeat(101)]) {
      await expect(RedisStore.connect({ url: server.url, prefix })).rejects.toThrow(/prefix/);
    }
  });

  it('fails to connect with a clear StoreUnavailableError when nothing listens', async () => {
    const port = await freePort();
    const started = Date.now();
    const attempt = RedisStore.connect({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1500 });
    await expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(attempt).rejects.toThrow(/Redis|ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('resumes its live feed after a connection loss without skipping or repeating', async () => {
    const prefix = `feed-${++namespace}`;
    const follower = await connect(prefix);
    const publisher = await connect(prefix);
    const received: StoredEvent[] = [];
    follower.onEvent((event) => received.push(event));
    const published: StoredEvent[] = [];
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 20; n++)
        published.push(await publisher.append({ topics: [topic], data: `${round}:${n}` }));
      // Cut only the follower's blocking reader; the publisher keeps going meanwhile.
      await eventually(() => follower.isReady(), 5000, 'the reader to reconnect');
      await killClients(admin, 'ssehub-feed');
      for (let n = 20; n < 40; n++)
        published.push(await publisher.append({ topics: [topic], data: `${round}:${n}` }));
    }
    await eventually(() => received.length >= published.length, 10_000, 'all events after reconnects');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.map((event) => event.id)).toEqual(published.map((event) => event.id));
  });

  it('ends live streams when its feed finds events trimmed before it could deliver them', async () => {
    const prefix = `gap-${++namespace}`;
    const follower = await connect(prefix, { historySize: 1000 });
    const publisher = await connect(prefix, { historySize: 1000 });
    const hub = new Hub({ store: follower });
    const sink = new MemorySink();
    await hub.subscribe({ topics: [topic], sink });
    const gaps: number[] = [];
    follower.onFeedGap(() => gaps.push(Date.now()));
    await publisher.append({ topics: [topic], data: 'before' });
    await eventually(() => sink.events.length === 1, 5000, 'the first event');
    // While the follower's reader is reconnecting, events are published and trimmed away.
    await killClients(admin, 'ssehub-feed');
    const key = `{${prefix}}:events`;
    for (let n = 0; n < 3; n++) await publisher.append({ topics: [topic], data: `trimmed ${n}` });
    const after = await publisher.append({ topics: [topic], data: 'after the gap' });
    await admin.call('XTRIM', key, 'MAXLEN', '1');
    await eventually(() => sink.ended, 10_000, 'the stream to end at the gap');
    expect(gaps).toHaveLength(1);
    // The stream ended before the event after the gap could move the client past it.
    expect(sink.events.map((event) => event.data)).toEqual(['before']);
    expect(hub.stats().subscribers).toBe(0);
    // Reconnecting with its last id, the client is told plainly it cannot resume.
    const again = new MemorySink();
    const resumed = await hub.subscribe({
      topics: [topic],
      sink: again,
      lastEventId: sink.events[0]?.lastEventId,
    });
    expect(resumed.start.reset?.reason).toBe('expired');
    expect(await follower.head()).toBe(after.id);
    await hub.close();
  });

  it('a hub resuming a subscriber while another hub publishes sends each event once (history ahead of the feed)', async () => {
    const prefix = `race-${++namespace}`;
    const publisher = await connect(prefix);
    const published: string[] = [];
    for (let n = 0; n < 10; n++)
      published.push((await publisher.append({ topics: [topic], data: `${n}` })).id);
    for (let round = 0; round < 8; round++) {
      // A fresh hub each round: its feed has just started, the moment the race is most likely.
      const store = await connect(prefix);
      const hub = new Hub({ store, heartbeatIntervalMs: 0 });
      const received: string[] = [];
      const parser = new EventStreamParser({ onEvent: (event) => received.push(event.lastEventId) });
      const publishing = (async () => {
        for (let n = 0; n < 20; n++) {
          published.push((await publisher.append({ topics: [topic], data: `${round}:${n}` })).id);
        }
      })();
      const from = published[published.length - 3] as string;
      await hub.subscribe({
        topics: [topic],
        lastEventId: from,
        sink: {
          write: (chunk) => parser.push(chunk),
          bufferedBytes: 0,
          end: () => undefined,
          destroy: () => undefined,
        },
      });
      await publishing;
      const newest = published[published.length - 1] as string;
      await eventually(() => received.includes(newest), 5000, 'the newest event');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received, `round ${round}`).toEqual(published.slice(published.indexOf(from) + 1));
      await hub.close();
    }
  });

  it('rejects appends quickly while Redis is down, and recovers by itself with nothing lost', async () => {
    const prefix = `outage-${++namespace}`;
    const store = await connect(prefix, { commandTimeoutMs: 1000 });
    const received: StoredEvent[] = [];
    store.onEvent((event) => received.push(event));
    const before = await store.append({ topics: [topic], data: 'before' });
    await eventually(() => received.length === 1, 5000, 'first event');
    await server.stop();
    await eventually(() => !store.isReady(), 5000, 'isReady() to turn false');
    const started = Date.now();
    await expect(store.append({ topics: [topic], data: 'during' })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(readAfter(store, before.id)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(1500);
    await server.restart();
    await eventually(() => store.isReady(), 10_000, 'isReady() after restart');
    const after = await store.append({ topics: [topic], data: 'after' });
    await eventually(() => received.length === 2, 5000, 'live feed after restart');
    expect(received).toEqual([before, after]);
    // The AOF kept the history, including what was stored before the outage.
    expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [before, after] });
  });

  it('an append that timed out while Redis hung is never stored, even though Redis runs it on resuming', async () => {
    const store = await connect(`hang-${++namespace}`, { commandTimeoutMs: 500 });
    const received: StoredEvent[] = [];
    store.onEvent((event) => received.push(event));
    const before = await store.append({ topics: [topic], data: 'before' });
    server.signal('SIGSTOP');
    let elapsed: number;
    try {
      const started = Date.now();
      await expect(store.append({ topics: [topic], data: 'hung' })).rejects.toThrow(
        /Redis unavailable: .*timed out/i,
      );
      elapsed = Date.now() - started;
      expect(store.isReady()).toBe(false);
    } finally {
      server.signal('SIGCONT');
    }
    // "Not stored" is answered only once Redis's clock is past the append's deadline.
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(1500);
    await eventually(() => store.isReady(), 5000, 'isReady() after the hang');
    const after = await store.append({ topics: [topic], data: 'resumed' });
    await eventually(() => received.some((event) => event.id === after.id), 10_000, 'the live feed');
    expect(received).toEqual([before, after]);
    expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [before, after] });
  });

  it('an append answered late but within its deadline is stored and resolves', async () => {
    const store = await connect(`slow-${++namespace}`, { commandTimeoutMs: 2000 });
    server.signal('SIGSTOP');
    let pending: Promise<StoredEvent>;
    try {
      pending = store.append({ topics: [topic], data: 'slow' });
      await new Promise((resolve) => setTimeout(resolve, 400));
    } finally {
      server.signal('SIGCONT');
    }
    const stored = await pending;
    expect(stored.data).toBe('slow');
    expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [stored] });
  });

  it("the append script refuses to run past its deadline in Redis's clock, storing nothing", async () => {
    const prefix = `fence-${++namespace}`;
    const store = await connect(prefix);
    const base = `{${prefix}}`;
    const keys = [`${base}:events`, `${base}:newest`, `${base}:supplied-ids`, `${base}:supplied-order`];
    const [seconds] = (await admin.call('TIME')) as [string, string];
    const past = Number(seconds) * 1000 - 1000;
    const fields = ['topics', JSON.stringify([topic]), 'data', 'late'];
    // ARGV: max length, max age, deadline, the events as JSON: one, without options.
    const events = JSON.stringify([['', '', '', '', '0', '', '', '0', fields]]);
    const reply = await admin.eval(APPEND_SCRIPT.source, 4, ...keys, 100, 0, past, events);
    expect(reply).toEqual(['expired']);
    expect(await admin.exists(...keys)).toBe(0);
    expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [] });
  });

  /** How many times Redis ran a script (cached or sent whole) since the last CONFIG RESETSTAT. */
  async function scriptRuns(): Promise<number> {
    const stats = await admin.info('commandstats');
    let runs = 0;
    for (const match of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) runs += Number(match[1]);
    return runs;
  }

  it('runs the appends of one turn as one script: one round trip, ids in call order, all in history', async () => {
    const store = await connect(`batch-${++namespace}`);
    await store.append({ topics: [topic], data: 'loads the script' });
    await admin.call('CONFIG', 'RESETSTAT');
    const appended = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append({ topics: [topic], data: `event ${i}` })),
    );
    expect(await scriptRuns()).toBe(1);
    expect(appended.map((event) => event.data)).toEqual(Array.from({ length: 20 }, (_, i) => `event ${i}`));
    const cursors = appended.map((event) => event.cursor);
    expect([...cursors].sort(store.compareCursors.bind(store))).toEqual(cursors);
    const history = await readAfter(store, appended[0]?.id ?? '');
    expect(history).toMatchObject({ ok: true, events: appended.slice(1) });
  });

  it('sends a batch as soon as it is full: a large turn is several scripts, still stored in call order', async () => {
    const store = await connect(`big-batch-${++namespace}`);
    await store.append({ topics: [topic], data: 'loads the script' });
    await admin.call('CONFIG', 'RESETSTAT');
    const appended = await Promise.all(
      Array.from({ length: 300 }, (_, i) => store.append({ topics: [topic], data: `event ${i}` })),
    );
    // 24 events a batch (AppendBatches' default): twelve full ones and the turn's rest.
    expect(await scriptRuns()).toBe(13);
    const cursors = appended.map((event) => event.cursor);
    expect([...cursors].sort(store.compareCursors.bind(store))).toEqual(cursors);
    expect(new Set(cursors).size).toBe(300);
  });

  it('checks each event of a batch against the ones before it, as if appended one by one', async () => {
    const store = await connect(`batch-rules-${++namespace}`);
    await store.append({ topics: ['urn:warm-up'], data: 'loads the script' });
    await admin.call('CONFIG', 'RESETSTAT');
    const claim = { key: 'k-1', fingerprint: 'f-1', windowMs: 60_000 };
    const outcomes = await Promise.allSettled([
      store.append({ topics: [topic], data: 'one', id: 'dup-1' }),
      store.append({ topics: [topic], data: 'one', id: 'dup-1' }),
      store.append({ topics: [topic], data: 'two', id: 'dup-1' }),
      store.append({ topics: [topic], data: 'once', idempotency: claim }),
      store.append({ topics: [topic], data: 'once', idempotency: claim }),
      store.append({ topics: ['urn:state'], data: 'v2', keepsState: true, version: 2 }),
      store.append({ topics: ['urn:state'], data: 'v1', keepsState: true, version: 1 }),
    ]);
    expect(await scriptRuns()).toBe(1);
    const [first, repeat, conflict, claimed, reclaimed, newer, stale] = outcomes;
    expect(first?.status).toBe('fulfilled');
    expect(repeat).toEqual(first);
    expect(conflict).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
    expect(claimed?.status).toBe('fulfilled');
    expect(reclaimed).toEqual(claimed);
    expect(newer?.status).toBe('fulfilled');
    expect(stale).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
    const history = await readAfter(store, EARLIEST);
    expect(history.ok && history.events.map((event) => event.data)).toEqual([
      'loads the script',
      'one',
      'once',
      'v2',
    ]);
  });

  it('stores a lone surrogate as U+FFFD without failing the other events of its batch', async () => {
    const store = await connect(`surrogate-${++namespace}`);
    const [plain, lone, pair] = await Promise.all([
      store.append({ topics: [topic], data: 'plain' }),
      store.append({ topics: [topic], data: 'lone \ud800 high', type: 'x\udc00' }),
      store.append({ topics: [topic], data: 'pair \ud83d\ude00' }),
    ]);
    expect(plain?.data).toBe('plain');
    expect(lone).toMatchObject({ data: 'lone \ufffd high', type: 'x\ufffd' });
    expect(pair?.data).toBe('pair \u{1f600}');
    const history = await readAfter(store, EARLIEST);
    expect(history).toMatchObject({ ok: true, events: [plain, lone, pair] });
    // Publishing the same again with its id is a repeat, not a conflict with what was stored.
    const first = await store.append({ topics: [topic], data: 'again \ud800', id: 'lone-\udc00' });
    expect(first).toMatchObject({ data: 'again \ufffd', id: 'lone-\ufffd' });
    expect(await store.append({ topics: [topic], data: 'again \ud800', id: 'lone-\udc00' })).toEqual(first);
  });

  it('refuses at once the appends still waiting for their batch when the store closes', async () => {
    const store = await connect(`closing-${++namespace}`);
    const started = performance.now();
    const outcome = store.append({ topics: [topic], data: 'too late' }).catch((error: unknown) => error);
    await store.close();
    expect(await outcome).toMatchObject({ message: 'store is closed' });
    // Not sent: nothing to wait for (a sent append that fails waits out its deadline, 2 s here).
    expect(performance.now() - started).toBeLessThan(1000);
    const reader = await connect(`closing-${namespace}`);
    expect(await readAfter(reader, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [] });
  });

  it('stores nothing under a prefix for a rejected append', async () => {
    const prefix = `nothing-${++namespace}`;
    const store = await connect(prefix);
    await server.stop();
    await expect(store.append({ topics: [topic], data: 'lost' })).rejects.toThrow(/Redis unavailable/);
    await server.restart();
    await eventually(() => store.isReady(), 10_000, 'isReady() after restart');
    expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [] });
  });
});

/** Kills every connection that named itself `name` (every store's reader in this test file). */
async function killClients(admin: Redis, name: string): Promise<void> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  const victims = list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  expect(victims.length).toBeGreaterThan(0);
  for (const id of victims) await admin.call('CLIENT', 'KILL', 'ID', id);
}
