import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubObserver } from '../../src/hub/hub.js';
import { encodedFrameCount } from '../../src/hub/frame.js';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import type { CloseReason } from '../../src/hub/subscriber.js';
import { HubInputError } from '../../src/hub/validate.js';
import { MemoryStore } from '../../src/store/memory.js';
import type {
  EventInput,
  HistoryPage,
  LiveListener,
  PageRequest,
  ResumePoint,
  StateRequest,
  StateSnapshot,
  Store,
  StoredEvent,
} from '../../src/store/types.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { TempDirs } from '../helpers/data-dir.js';
import { MemorySink, nextTick } from '../helpers/memory-sink.js';

let hub: Hub;
const dirs = new TempDirs();
afterEach(async () => {
  await hub?.close();
  dirs.removeAll();
});

const event = (topic: string, data: string): EventInput => ({ topics: [topic], data });

describe('fan-out', () => {
  it('encodes an event once and writes the same buffer to every subscriber (invariant 7)', async () => {
    hub = new Hub();
    const sinks = Array.from({ length: 100 }, () => new MemorySink());
    for (const sink of sinks) await hub.subscribe({ topics: ['t'], sink });
    await nextTick();
    const before = encodedFrameCount();
    await hub.publish(event('t', 'shared'));
    await nextTick();
    expect(encodedFrameCount() - before).toBe(1);
    const frames = new Set(sinks.map((sink) => sink.chunks.at(-1)));
    expect(frames.size).toBe(1);
    expect(sinks.every((sink) => sink.events.length === 1 && sink.events[0]?.data === 'shared')).toBe(true);
  });

  it('opens the streams started at one cursor with one shared opening frame, and a new one after it moves', async () => {
    hub = new Hub();
    const [a, b, c] = [new MemorySink(), new MemorySink(), new MemorySink()];
    await hub.subscribe({ topics: ['t'], sink: a });
    await hub.subscribe({ topics: ['t'], sink: b });
    await nextTick();
    expect(a.chunks[0]).toBe(b.chunks[0]);
    const published = await hub.publish(event('t', 'moved'));
    await hub.subscribe({ topics: ['t'], sink: c });
    await nextTick();
    expect(c.chunks[0]).not.toBe(a.chunks[0]);
    expect(c.lastEventId).toBe(published.id);
    expect(a.chunks[0]?.toString()).toBe(':\nid: earliest\nretry: 3000\n\n');
  });

  it('coalesces events published in the same tick into one corked write per subscriber', async () => {
    hub = new Hub();
    const sink = new MemorySink();
    await hub.subscribe({ topics: ['t'], sink });
    await nextTick();
    const chunksBefore = sink.chunks.length;
    const corksBefore = sink.corks;
    await Promise.all([1, 2, 3, 4, 5].map((n) => hub.publish(event('t', String(n)))));
    await nextTick();
    expect(sink.corks - corksBefore).toBe(1);
    expect(sink.chunks.length - chunksBefore).toBe(5);
    expect(sink.events.map((e) => e.data)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('disconnects a subscriber whose buffer exceeds the bound, leaving the others untouched (invariant 5)', async () => {
    const reasons: CloseReason[] = [];
    const observer: HubObserver = { unsubscribed: (_subscriber, reason) => reasons.push(reason) };
    hub = new Hub({ maxBufferedBytes: 10_000, observer });
    const slow = new MemorySink();
    const fast = new MemorySink();
    await hub.subscribe({ topics: ['t'], sink: slow });
    await hub.subscribe({ topics: ['t'], sink: fast });
    await nextTick();
    slow.bufferedBytes = 9_000;
    for (let i = 0; i < 10; i++) await hub.publish(event('t', 'x'.repeat(500)));
    await nextTick();
    expect(slow.destroyed).toBe(true);
    expect(reasons).toEqual(['slow']);
    expect(fast.events).toHaveLength(10);
    await hub.publish(event('t', 'after'));
    await nextTick();
    expect(fast.events.at(-1)?.data).toBe('after');
    expect(hub.stats().subscribers).toBe(1);
  });

  it('delivers private updates only to subscribers whose rights match one of their topics', async () => {
    hub = new Hub();
    const anonymous = new MemorySink();
    const rightTopic = new MemorySink();
    const alternateOnly = new MemorySink();
    const wrongTopic = new MemorySink();
    await hub.subscribe({ topics: ['*'], sink: anonymous });
    await hub.subscribe({ topics: ['*'], sink: rightTopic, privateTopics: ['https://ex.com/books/{id}'] });
    await hub.subscribe({ topics: ['*'], sink: alternateOnly, privateTopics: ['https://ex.com/users/1'] });
    await hub.subscribe({ topics: ['*'], sink: wrongTopic, privateTopics: ['https://ex.com/users/2'] });
    await hub.publish({
      topics: ['https://ex.com/books/1', 'https://ex.com/users/1'],
      data: 'secret',
      private: true,
    });
    await hub.publish({ topics: ['https://ex.com/books/1'], data: 'public' });
    await nextTick();
    expect(anonymous.events.map((e) => e.data)).toEqual(['public']);
    expect(rightTopic.events.map((e) => e.data)).toEqual(['secret', 'public']);
    expect(alternateOnly.events.map((e) => e.data)).toEqual(['secret', 'public']);
    expect(wrongTopic.events.map((e) => e.data)).toEqual(['public']);
    // The same rule applies to replayed history.
    const replay = new MemorySink();
    await hub.subscribe({ topics: ['*'], sink: replay, lastEventId: 'earliest' });
    await nextTick();
    expect(replay.events.map((e) => e.data)).toEqual(['public']);
  });

  it('rejects invalid input with HubInputError and stores nothing', async () => {
    const store = new MemoryStore();
    hub = new Hub({ store });
    await expect(hub.publish({ topics: [], data: 'x' })).rejects.toBeInstanceOf(HubInputError);
    await expect(hub.publish({ topics: ['t'], data: 'x', id: 'a\nb' })).rejects.toThrow(
      /"id" must not contain/,
    );
    await expect(hub.publish({ topics: ['t'], data: 'x', type: 'a\rb' })).rejects.toThrow(
      /"type" must not contain/,
    );
    await expect(hub.publish({ topics: ['t'], data: 'x', retry: 1.5 })).rejects.toThrow(/"retry"/);
    expect(store.size).toBe(0);
  });

  it.each([
    ['memory', () => new MemoryStore()],
    ['sqlite', () => SqliteStore.open({ dataDir: dirs.make('surrogates') })],
  ])(
    'keeps a lone surrogate as U+FFFD, as subscribers get it, so a repeat with its id is a repeat (%s)',
    async (_, createStore) => {
      hub = new Hub({ store: createStore() });
      const sink = new MemorySink();
      await hub.subscribe({ topics: ['t'], sink });
      const publish = () => hub.publish({ topics: ['t'], data: 'a \ud800 b', type: 'x\udc00', id: 'id-1' });
      const first = await publish();
      expect(first).toMatchObject({ data: 'a \ufffd b', type: 'x\ufffd', id: 'id-1' });
      expect(await publish()).toEqual(first);
      await nextTick();
      expect(sink.events).toContainEqual({ type: 'x\ufffd', data: 'a \ufffd b', lastEventId: 'id-1' });
    },
  );
});

describe('heartbeat', () => {
  it('goes only to streams idle for the interval, judged by the hub clock', async () => {
    let now = 0;
    hub = new Hub({ heartbeatIntervalMs: 40, now: () => now });
    const idle = new MemorySink();
    const busy = new MemorySink();
    await hub.subscribe({ topics: ['idle'], sink: idle });
    await hub.subscribe({ topics: ['busy'], sink: busy });
    await nextTick();
    const heartbeat = (sink: MemorySink) => sink.chunks.filter((chunk) => chunk.toString() === ':\n').length;
    for (let step = 0; step < 20; step++) {
      now += 20;
      await hub.publish(event('busy', String(step)));
      // Real time for the sweep (every 10 ms) to run; what counts as idle is decided by `now`.
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    expect(heartbeat(busy)).toBe(0);
    expect(busy.events).toHaveLength(20);
    expect(heartbeat(idle)).toBeGreaterThanOrEqual(5);
    expect(heartbeat(idle)).toBeLessThanOrEqual(10);
  });
});

describe('lifecycle', () => {
  it('ends streams of a subject, at token expiry, and on close, releasing every subscriber', async () => {
    let now = 1_000_000;
    hub = new Hub({ heartbeatIntervalMs: 40, now: () => now });
    const alice = new MemorySink();
    const bob = new MemorySink();
    const expiring = new MemorySink();
    await hub.subscribe({ topics: ['t'], sink: alice, subject: 'alice' });
    await hub.subscribe({ topics: ['t'], sink: bob, subject: 'bob' });
    await hub.subscribe({ topics: ['t'], sink: expiring, expiresAt: now + 100 });
    expect(hub.disconnectSubject('alice')).toBe(1);
    expect(alice.ended).toBe(true);
    now += 101;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(expiring.ended).toBe(true);
    expect(hub.stats().subscribers).toBe(1);
    await hub.close();
    expect(bob.ended).toBe(true);
    expect(hub.stats()).toMatchObject({ subscribers: 0, indexedSelectors: 0, timers: 0 });
  });
});

/**
 * A store whose live feed lags behind its history, as a remote store's does: the history may hold
 * events the feed has not delivered yet.
 */
class LaggingStore implements Store {
  readonly kind = 'lagging';
  private readonly inner = new MemoryStore();
  private readonly listeners = new Set<LiveListener>();
  private readonly backlog: StoredEvent[] = [];
  private delivered = 'earliest';
  constructor() {
    this.inner.onEvent((stored) => this.backlog.push(stored));
  }
  append(input: EventInput): Promise<StoredEvent> {
    return this.inner.append(input);
  }
  locate(id: string): Promise<ResumePoint> {
    return this.inner.locate(id);
  }
  readPage(request: PageRequest): Promise<HistoryPage> {
    return this.inner.readPage(request);
  }
  readStates(request: StateRequest): Promise<StateSnapshot> {
    return this.inner.readStates(request);
  }
  head(): Promise<string> {
    return Promise.resolve(this.delivered);
  }
  onEvent(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  compareCursors(a: string, b: string): number {
    return this.inner.compareCursors(a, b);
  }
  onFeedGap(): () => void {
    return () => undefined;
  }
  isReady(): boolean {
    return true;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Delivers the next `count` events to live listeners. */
  deliver(count: number): void {
    for (const stored of this.backlog.splice(0, count)) {
      this.delivered = stored.cursor;
      for (const listener of this.listeners) listener(stored);
    }
  }
}

describe('resume against a lagging live feed (invariant 2)', () => {
  it('skips live events the history already delivered and keeps those after it', async () => {
    const store = new LaggingStore();
    hub = new Hub({ store });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await hub.publish(event('t', `e${i}`))).id);
    store.deliver(3); // the feed has delivered e0..e2 only
    const sink = new MemorySink();
    const subscribing = hub.subscribe({ topics: ['t'], sink, lastEventId: ids[1] });
    store.deliver(4); // e3..e6 arrive on the feed while history (e2..e9) is being read
    await subscribing;
    store.deliver(10); // e7..e9 arrive late, after the history already held them
    for (let i = 10; i < 13; i++) await hub.publish(event('t', `e${i}`));
    store.deliver(10);
    await nextTick();
    expect(sink.events.map((e) => e.data)).toEqual([
      'e2',
      'e3',
      'e4',
      'e5',
      'e6',
      'e7',
      'e8',
      'e9',
      'e10',
      'e11',
      'e12',
    ]);
  });

  it('a fresh subscriber starts after the newest event the feed delivered, missing nothing after it', async () => {
    const store = new LaggingStore();
    hub = new Hub({ store });
    for (let i = 0; i < 5; i++) await hub.publish(event('t', `e${i}`));
    store.deliver(2);
    const sink = new MemorySink();
    const subscription = await hub.subscribe({ topics: ['t'], sink });
    store.deliver(10);
    await nextTick();
    expect(sink.events.map((e) => e.data)).toEqual(['e2', 'e3', 'e4']);
    expect(subscription.start.startAfter).toMatch(/-2$/);
  });

  it('sends the reset signal and continues live when the id is unknown', async () => {
    hub = new Hub();
    await hub.publish(event('t', 'old'));
    const sink = new MemorySink();
    const subscription = await hub.subscribe({ topics: ['t'], sink, lastEventId: 'nope' });
    await hub.publish(event('t', 'live'));
    await nextTick();
    expect(subscription.start.reset?.reason).toBe('unknown');
    expect(sink.events.map((e) => e.type)).toEqual([RESET_EVENT_TYPE, 'message']);
    expect(sink.events[1]?.data).toBe('live');
  });
});
