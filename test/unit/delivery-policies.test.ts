import { afterEach, describe, expect, it, vi } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { Hub } from '../../src/hub/hub.js';
import type { HubOptions } from '../../src/hub/hub.js';
import { DEFAULT_POLICY, PolicyBook, PolicyError } from '../../src/hub/policy.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoredEvent } from '../../src/store/types.js';
import { MemorySink, nextTick } from '../helpers/memory-sink.js';

/** Issue 17: policy lookup, slow-consumer policies `skip` and `latest`, the `getState` hook. */

let hub: Hub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

function start(options: HubOptions): Hub {
  hub = new Hub({ heartbeatIntervalMs: 0, ...options });
  return hub;
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !predicate(); waited += 5) {
    if (waited > 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('policy lookup', () => {
  it('the first selector matching the canonical topic wins; others get the default', () => {
    const book = new PolicyBook({
      'https://example.com/prices/ACME': { mode: 'stream', ttlMs: 1000 },
      'https://example.com/prices/{symbol}': { mode: 'state', slowConsumer: 'latest' },
      '*': { slowConsumer: 'skip' },
    });
    expect(book.of('https://example.com/prices/ACME')).toMatchObject({ mode: 'stream', ttlMs: 1000 });
    expect(book.of('https://example.com/prices/XYZ')).toMatchObject({
      mode: 'state',
      slowConsumer: 'latest',
    });
    expect(book.of('https://example.com/news')).toMatchObject({ mode: 'stream', slowConsumer: 'skip' });
    expect(new PolicyBook().of('anything')).toBe(DEFAULT_POLICY);
    expect(book.hasStateTopics).toBe(true);
  });

  it('looks a policy up once per event, not once per subscriber (invariant 18)', async () => {
    const lookups = vi.spyOn(PolicyBook.prototype, 'of');
    try {
      const test = start({ topics: { 'feed/{id}': { slowConsumer: 'skip' } } });
      const sinks = Array.from({ length: 200 }, () => new MemorySink());
      for (const [i, sink] of sinks.entries()) {
        await test.subscribe({ topics: [i % 2 ? 'feed/1' : 'feed/{id}', 'plain'], sink });
      }
      await nextTick();
      lookups.mockClear();
      await test.publish({ topics: ['feed/1'], data: 'x' });
      await test.publish({ topics: ['plain'], data: 'y' });
      await nextTick();
      expect(sinks.every((sink) => sink.events.length === 2)).toBe(true);
      // Per event: one at publish (state, TTL) and one in fan-out (the slow-consumer policy).
      expect(lookups).toHaveBeenCalledTimes(4);
    } finally {
      lookups.mockRestore();
    }
  });

  it('the library refuses the same invalid policies as the config file, with one line', () => {
    expect(() => new Hub({ topics: { '*': { mode: 'cache' as 'state' } } })).toThrow(PolicyError);
    expect(() => new Hub({ topics: { '*': { slowConsumer: 'latest' } } })).toThrow(
      /^topics\["\*"\]: slowConsumer "latest" needs mode "state"/,
    );
  });

  it('checks the retention fields: positive integers within their bounds, one line naming the field', () => {
    const refused: [unknown, RegExp][] = [
      [{ retainCount: 0 }, /"retainCount" must be an integer from 1 to 1000000000, got 0$/],
      [{ retainCount: 2.5 }, /"retainCount" must be an integer/],
      [{ retainCount: '5' }, /"retainCount" must be an integer/],
      [{ retainCount: 1_000_000_001 }, /"retainCount" must be an integer/],
      [{ retainAgeMs: -1 }, /"retainAgeMs" must be an integer from 1 to 31536000000, got -1$/],
      [{ retainAgeMs: null }, /"retainAgeMs" must be an integer/],
      [{ retainAgeMs: 31_536_000_001 }, /"retainAgeMs" must be an integer/],
    ];
    for (const [policy, reason] of refused) {
      const attempt = () => new Hub({ topics: { '*': policy as never } });
      expect(attempt, JSON.stringify(policy)).toThrow(PolicyError);
      expect(attempt).toThrow(reason);
    }
    const book = new PolicyBook({ news: { retainCount: 1, retainAgeMs: 1 }, '*': { retainCount: 50 } });
    expect(book.of('news')).toMatchObject({ retainCount: 1, retainAgeMs: 1 });
    expect(book.hasRetainAge).toBe(true);
    expect(book.of('other')).toMatchObject({ retainCount: 50, retainAgeMs: undefined });
    expect(DEFAULT_POLICY).toMatchObject({ retainCount: undefined, retainAgeMs: undefined });
  });
});

describe('slow consumers of skip topics: the gap is told while connected', () => {
  it('drops what does not fit, then sends the reset signal marking exactly the dropped range', async () => {
    const test = start({ maxBufferedBytes: 10_000, topics: { feed: { slowConsumer: 'skip' } } });
    const sink = new MemorySink();
    await test.subscribe({ topics: ['feed'], sink });
    await nextTick();
    sink.bufferedBytes = 9_000; // the reader stalls
    const published: StoredEvent[] = [];
    for (let i = 1; i <= 10; i++)
      published.push(await test.publish({ topics: ['feed'], data: 'x'.repeat(500) + i }));
    await nextTick();
    expect(sink.destroyed).toBe(false);
    expect(sink.events).toHaveLength(1); // only the first fitted
    sink.bufferedBytes = 0; // the reader resumes
    await until(() => sink.events.length === 2, 'the reset signal');
    const reset = sink.events[1];
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toEqual({
      reason: 'skipped',
      lastEventId: published[0]?.id,
      firstSkipped: published[1]?.id,
      resumeFrom: published[9]?.id,
      skipped: 9,
    });
    // The client's cursor is past the gap: a later reconnect does not fetch what it was told of.
    expect(sink.lastEventId).toBe(published[9]?.id);
    await test.publish({ topics: ['feed'], data: 'after' });
    await until(() => sink.events.length === 3, 'the next event');
    expect(sink.events[2]?.data).toBe('after');
  });

  it('a stream topic without a policy still disconnects the slow reader', async () => {
    const test = start({ maxBufferedBytes: 10_000, topics: { feed: { slowConsumer: 'skip' } } });
    const sink = new MemorySink();
    await test.subscribe({ topics: ['other'], sink });
    await nextTick();
    sink.bufferedBytes = 9_000;
    for (let i = 0; i < 10; i++) await test.publish({ topics: ['other'], data: 'x'.repeat(500) });
    await nextTick();
    expect(sink.destroyed).toBe(true);
  });
});

describe('slow consumers of latest topics: updates coalesce per topic', () => {
  it('keeps only the newest update per topic while the reader stalls, and sends those when it resumes', async () => {
    const test = start({
      maxBufferedBytes: 10_000,
      topics: { 'prices/{symbol}': { mode: 'state', slowConsumer: 'latest' } },
    });
    const sink = new MemorySink();
    await test.subscribe({ topics: ['prices/{symbol}'], sink });
    await nextTick();
    sink.bufferedBytes = 10_000; // nothing fits
    for (const [symbol, value] of [
      ['A', 1],
      ['B', 1],
      ['A', 2],
      ['A', 3],
      ['B', 2],
    ] as const) {
      await test.publish({ topics: [`prices/${symbol}`], data: `${symbol}${value}`.padEnd(400, '.') });
    }
    await nextTick();
    expect(sink.destroyed).toBe(false);
    expect(sink.events).toHaveLength(0);
    sink.bufferedBytes = 0;
    await until(() => sink.events.length === 2, 'the latest values');
    expect(sink.events.map((event) => event.data.slice(0, 2))).toEqual(['A3', 'B2']);
    await test.publish({ topics: ['prices/A'], data: 'A4' });
    await until(() => sink.events.length === 3, 'the live update');
    expect(sink.events[2]?.data).toBe('A4');
  });
});

describe('getState: the application supplies a state the hub has none of', () => {
  it('is asked once per topic, its answer is the topic state, and newer publishes win', async () => {
    const asked: string[] = [];
    const test = start({
      topics: { 'rooms/{id}': { mode: 'state' } },
      getState: (topic) => {
        asked.push(topic);
        return { data: `loaded ${topic}`, version: 1 };
      },
    });
    const sinks = [new MemorySink(), new MemorySink()];
    await Promise.all(sinks.map((sink) => test.subscribe({ topics: ['rooms/1'], sink })));
    for (const sink of sinks) await until(() => sink.events.length === 1, 'the supplied state');
    expect(sinks.map((sink) => sink.events[0]?.data)).toEqual(['loaded rooms/1', 'loaded rooms/1']);
    expect(asked).toEqual(['rooms/1']);
    await test.publish({ topics: ['rooms/1'], data: 'v2', version: 2 });
    const late = new MemorySink();
    await test.subscribe({ topics: ['rooms/1'], sink: late });
    await until(() => late.events.length === 1, 'the newer state');
    expect(late.events[0]?.data).toBe('v2');
    // A template names no topic in particular: the hook is not asked.
    await test.subscribe({ topics: ['rooms/{id}'], sink: new MemorySink() });
    expect(asked).toEqual(['rooms/1']);
  });
});

describe('idempotency records in the memory store', () => {
  it('are bounded by the history size: unique keys cannot grow the process without limit', async () => {
    const store = new MemoryStore({ historySize: 10 });
    const window = 24 * 60 * 60 * 1000;
    const first = await store.append({
      topics: ['t'],
      data: 'first',
      idempotency: { key: 'k-0', fingerprint: 'f-0', windowMs: window },
    });
    for (let n = 1; n <= 10; n++) {
      await store.append({
        topics: ['t'],
        data: `${n}`,
        idempotency: { key: `k-${n}`, fingerprint: `f-${n}`, windowMs: window },
      });
    }
    // k-0 was the oldest of 11 records with room for 10: a retry now stores a new event.
    const retried = await store.append({
      topics: ['t'],
      data: 'first',
      idempotency: { key: 'k-0', fingerprint: 'f-0', windowMs: window },
    });
    expect(retried.cursor).not.toBe(first.cursor);
    // The newest keys are still remembered.
    const recent = await store.append({
      topics: ['t'],
      data: '10',
      idempotency: { key: 'k-10', fingerprint: 'f-10', windowMs: window },
    });
    expect(recent.data).toBe('10');
    expect(store.size).toBe(10);
  });
});
