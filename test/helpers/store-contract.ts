import { readAfter } from './history.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventInput, Store, StoredEvent } from '../../src/store/types.js';
import { EARLIEST } from '../../src/store/types.js';
import { eventually } from './wait.js';

export interface ContractStoreOptions {
  historySize?: number;
  maxAgeMs?: number;
}

/** How one store implementation is created and probed by the shared contract suite. */
export interface StoreContractTarget {
  name: string;
  /** A fresh, empty store (its own namespace). Closed by the suite. */
  create(options?: ContractStoreOptions): Promise<Store>;
  /** An id shaped like this store's ids that it never issued, newer than `newest`. */
  idNewerThan(newest: StoredEvent): string;
}

const topic = 'https://example.com/books/1';

function input(n: number, extra: Partial<EventInput> = {}): EventInput {
  return { topics: [topic], data: `event ${n}`, ...extra };
}

async function appendMany(store: Store, count: number, from = 1): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (let n = from; n < from + count; n++) events.push(await store.append(input(n)));
  return events;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Events after `lastEventId` as a resume would read them, or the reason it cannot resume. The one
 * place the supplied-id tests read history, so a change of the read API changes only this.
 */
async function eventsAfter(store: Store, lastEventId: string): Promise<StoredEvent[] | string> {
  const history = await readAfter(store, lastEventId);
  return history.ok ? [...history.events] : history.reason;
}

/** How a refused append must fail: a typed input error with a stable code and a one-line reason. */
function refusedWith(code: 'invalid_input' | 'conflict' | 'idempotency_key_reused', reason: RegExp) {
  return expect.objectContaining({ name: 'StoreInputError', code, message: expect.stringMatching(reason) });
}

function ids(events: readonly StoredEvent[]): string[] {
  return events.map((event) => event.id);
}

/**
 * The Store contract (src/store/types.ts), run unchanged against every store, so that a subscriber
 * gets the same answers whichever store its hub runs on.
 */
export function describeStoreContract(target: StoreContractTarget): void {
  describe(`Store contract: ${target.name}`, () => {
    const open: Store[] = [];
    async function create(options?: ContractStoreOptions): Promise<Store> {
      const store = await target.create(options);
      open.push(store);
      return store;
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((store) => store.close()));
    });

    it('assigns totally ordered ids; generated ids are their cursors', async () => {
      const store = await create();
      const events = await appendMany(store, 20);
      expect(new Set(ids(events)).size).toBe(20);
      for (const event of events) expect(event.id).toBe(event.cursor);
      for (let i = 1; i < events.length; i++) {
        const older = events[i - 1] as StoredEvent;
        const newer = events[i] as StoredEvent;
        expect(store.compareCursors(older.cursor, newer.cursor)).toBeLessThan(0);
        expect(store.compareCursors(newer.cursor, older.cursor)).toBeGreaterThan(0);
        expect(store.compareCursors(newer.cursor, newer.cursor)).toBe(0);
        expect(store.compareCursors(EARLIEST, older.cursor)).toBeLessThan(0);
        expect(store.compareCursors(older.cursor, EARLIEST)).toBeGreaterThan(0);
      }
      expect(store.compareCursors(EARLIEST, EARLIEST)).toBe(0);
    });

    it('stores every field as given', async () => {
      const store = await create();
      const before = Date.now();
      const given: EventInput = {
        topics: [topic, 'urn:alternate:1'],
        data: 'line 1\nline 2\r\n{"ü":"🙂"}',
        type: 'book-updated',
        retry: 2500,
        private: true,
      };
      const stored = await store.append(given);
      const plain = await store.append({ topics: [topic], data: '' });
      const history = await readAfter(store, EARLIEST);
      expect(history.ok).toBe(true);
      if (!history.ok) return;
      const [replayed, replayedPlain] = history.events;
      for (const event of [stored, replayed]) {
        expect(event).toMatchObject({ ...given, id: stored.id, cursor: stored.cursor });
        expect(event?.time).toBeGreaterThanOrEqual(before - 1000);
        expect(event?.time).toBeLessThanOrEqual(Date.now() + 1000);
      }
      for (const event of [plain, replayedPlain]) {
        expect(event).toMatchObject({ topics: [topic], data: '', private: false });
        expect(event?.type).toBeUndefined();
        expect(event?.retry).toBeUndefined();
      }
    });

    it('replays strictly after a known id, in order, and nothing after the newest', async () => {
      const store = await create();
      const events = await appendMany(store, 10);
      const fourth = events[3] as StoredEvent;
      const history = await readAfter(store, fourth.id);
      expect(history).toEqual({ ok: true, after: fourth.cursor, events: events.slice(4) });
      const newest = events[9] as StoredEvent;
      expect(await readAfter(store, newest.id)).toEqual({ ok: true, after: newest.cursor, events: [] });
    });

    it('replays all retained history for `earliest`, also when empty', async () => {
      const store = await create();
      expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [] });
      const events = await appendMany(store, 5);
      expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events });
    });

    it('pages long histories without gaps or duplicates', async () => {
      const store = await create({ historySize: 5000 });
      const events = await Promise.all(Array.from({ length: 1234 }, (_, n) => store.append(input(n))));
      const sorted = [...events].sort((a, b) => store.compareCursors(a.cursor, b.cursor));
      const history = await readAfter(store, EARLIEST);
      expect(history.ok && ids(history.events)).toEqual(ids(sorted));
      const from = sorted[100] as StoredEvent;
      const after = await readAfter(store, from.id);
      expect(after.ok && ids(after.events)).toEqual(ids(sorted.slice(101)));
    });

    it('reads pages of at most `limit` events; `through` continues exactly, `end` marks the newest', async () => {
      const store = await create();
      const events = await appendMany(store, 25);
      const seen: StoredEvent[] = [];
      let after = EARLIEST;
      for (let pages = 0; ; pages++) {
        expect(pages).toBeLessThan(30);
        const page = await store.readPage({ after, limit: 10 });
        if (!page.ok) throw new Error('retained history must be readable');
        expect(page.events.length).toBeLessThanOrEqual(10);
        seen.push(...page.events);
        after = page.through;
        if (page.end) break;
      }
      expect(ids(seen)).toEqual(ids(events));
      expect(after).toBe((events[24] as StoredEvent).cursor);
      const located = await store.locate((events[19] as StoredEvent).id);
      expect(located).toEqual({ ok: true, cursor: (events[19] as StoredEvent).cursor });
      const tail = await store.readPage({ after: (events[19] as StoredEvent).cursor, limit: 100 });
      expect(tail).toEqual({
        ok: true,
        events: events.slice(20),
        through: (events[24] as StoredEvent).cursor,
        end: true,
      });
      const none = await store.readPage({ after: (events[24] as StoredEvent).cursor, limit: 100 });
      expect(none).toEqual({ ok: true, events: [], through: (events[24] as StoredEvent).cursor, end: true });
    });

    it('reads an empty store as one empty final page through `earliest`', async () => {
      const store = await create();
      expect(await store.readPage({ after: EARLIEST, limit: 10 })).toEqual({
        ok: true,
        events: [],
        through: EARLIEST,
        end: true,
      });
    });

    it('a page restricted to topics holds every event of those topics, in order', async () => {
      const store = await create();
      const wanted: StoredEvent[] = [];
      for (let n = 0; n < 40; n++) {
        const stored = await store.append({ topics: [n % 4 === 0 ? 'wanted' : `other-${n}`], data: `${n}` });
        if (n % 4 === 0) wanted.push(stored);
      }
      const seen: StoredEvent[] = [];
      let after = EARLIEST;
      for (;;) {
        const page = await store.readPage({ after, limit: 3, topics: ['wanted'] });
        if (!page.ok) throw new Error('retained history must be readable');
        seen.push(...page.events);
        after = page.through;
        if (page.end) break;
      }
      // A store without a topic index may return other events too; the hub filters them.
      expect(ids(seen.filter((event) => event.topics.includes('wanted')))).toEqual(ids(wanted));
    });

    it('a page after a cursor whose next events were trimmed is `expired`, not a silent skip', async () => {
      const store = await create({ historySize: 5 });
      const events = await appendMany(store, 300);
      const page = await store.readPage({ after: (events[0] as StoredEvent).cursor, limit: 10 });
      expect(page).toEqual({ ok: false, reason: 'expired' });
    });

    it('answers `unknown` for ids it never issued or cannot parse', async () => {
      const store = await create();
      const events = await appendMany(store, 3);
      const newest = events[2] as StoredEvent;
      const never = [
        target.idNewerThan(newest),
        'not-an-id',
        '42',
        'earliest-1',
        `${newest.id}0`,
        `${newest.id}-1`,
        ' ',
        '0-0',
      ];
      for (const id of never)
        expect(await readAfter(store, id), id).toEqual({ ok: false, reason: 'unknown' });
      // Nothing changed: the history is still all there.
      expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events });
    });

    it('answers `unknown` for any id while nothing was ever stored', async () => {
      const store = await create();
      expect(await readAfter(store, '1-0')).toEqual({ ok: false, reason: 'unknown' });
      expect(await readAfter(store, 'abc')).toEqual({ ok: false, reason: 'unknown' });
    });

    it('retains by count: older ids are `expired`, the window and the event right before it resume', async () => {
      const historySize = 5;
      const store = await create({ historySize });
      const events = await appendMany(store, 300);
      expect(await readAfter(store, (events[0] as StoredEvent).id)).toEqual({ ok: false, reason: 'expired' });
      const all = await readAfter(store, EARLIEST);
      if (!all.ok) throw new Error('earliest must always be resumable');
      // Stores may keep more than asked (Redis trims whole nodes), never fewer.
      expect(all.events.length).toBeGreaterThanOrEqual(historySize);
      expect(all.events.length).toBeLessThan(events.length);
      const retained = events.slice(events.length - all.events.length);
      expect(all.events).toEqual(retained);
      // The newest event no longer retained is still a resume point: nothing after it is missing.
      const lastGone = events[events.length - all.events.length - 1] as StoredEvent;
      expect(await readAfter(store, lastGone.id)).toEqual({
        ok: true,
        after: lastGone.cursor,
        events: retained,
      });
      const secondLastGone = events[events.length - all.events.length - 2] as StoredEvent;
      expect(await readAfter(store, secondLastGone.id)).toEqual({ ok: false, reason: 'expired' });
    });

    it('retains by age: events older than maxAgeMs expire, even without new appends', async () => {
      const store = await create({ maxAgeMs: 300 });
      const [first, second] = await appendMany(store, 2);
      await sleep(450);
      const [third] = await appendMany(store, 1, 3);
      expect(await readAfter(store, (first as StoredEvent).id)).toEqual({ ok: false, reason: 'expired' });
      expect(await readAfter(store, (second as StoredEvent).id)).toEqual({
        ok: true,
        after: (second as StoredEvent).cursor,
        events: [third],
      });
      expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [third] });
      await sleep(450);
      expect(await readAfter(store, EARLIEST)).toEqual({ ok: true, after: EARLIEST, events: [] });
      expect(await readAfter(store, (second as StoredEvent).id)).toEqual({ ok: false, reason: 'expired' });
      expect(await readAfter(store, (third as StoredEvent).id)).toEqual({
        ok: true,
        after: (third as StoredEvent).cursor,
        events: [],
      });
    });

    it('resumes after publisher-supplied ids, and forgets them with their event', async () => {
      const store = await create({ historySize: 5 });
      const supplied = await store.append(input(1, { id: 'urn:uuid:0b7c-first' }));
      expect(supplied.id).toBe('urn:uuid:0b7c-first');
      expect(supplied.cursor).not.toBe(supplied.id);
      const later = await appendMany(store, 3, 2);
      const history = await readAfter(store, 'urn:uuid:0b7c-first');
      expect(history).toEqual({ ok: true, after: supplied.cursor, events: later });
      const mid = await store.append(input(5, { id: 'book 1 v2' }));
      const tail = await appendMany(store, 2, 6);
      expect(await readAfter(store, 'book 1 v2')).toEqual({ ok: true, after: mid.cursor, events: tail });
      const all = await readAfter(store, EARLIEST);
      expect(all.ok && all.events.find((event) => event.id === 'book 1 v2')).toEqual(mid);
      await appendMany(store, 300, 8);
      expect(await readAfter(store, 'urn:uuid:0b7c-first')).toEqual({ ok: false, reason: 'unknown' });
      expect(await readAfter(store, 'book 1 v2')).toEqual({ ok: false, reason: 'unknown' });
    });

    it('refuses supplied ids shaped like its own generated ids, and `earliest`, storing nothing', async () => {
      const store = await create();
      const events = await appendMany(store, 3);
      const generated = events[0] as StoredEvent;
      const newest = events[2] as StoredEvent;
      const reserved = [generated.id, newest.id, target.idNewerThan(newest)];
      for (const id of reserved) {
        await expect(store.append(input(9, { id })), id).rejects.toEqual(
          refusedWith('invalid_input', /shape of this hub/),
        );
      }
      await expect(store.append(input(9, { id: EARLIEST }))).rejects.toEqual(
        refusedWith('invalid_input', /reserved/),
      );
      expect(await eventsAfter(store, EARLIEST)).toEqual(events);
      // Ordinary ids, even with a dash and digits, stay accepted.
      for (const id of ['order-9912', 'urn:uuid:0b7c-1', '12-ab', '1-2-3', 'v1.2-3']) {
        expect((await store.append(input(10, { id }))).id).toBe(id);
      }
    });

    it('a resume from a generated id lands on that event, whatever ids others supplied', async () => {
      const store = await create();
      const seen = await store.append({ topics: ['urn:topic:a'], data: 'seen by the subscriber' });
      const shadow = { topics: ['urn:topic:b'], data: 'shadow', id: seen.id };
      await expect(store.append(shadow)).rejects.toEqual(refusedWith('invalid_input', /shape/));
      const missed = await appendMany(store, 3);
      expect(await eventsAfter(store, seen.id)).toEqual(missed);
    });

    it('a repeated supplied id: an identical publish gets the original, a different one 409; nothing stored twice', async () => {
      const store = await create();
      const delivered: StoredEvent[] = [];
      store.onEvent((event) => delivered.push(event));
      const given = input(1, { id: 'order-9912', type: 'placed', retry: 1000, private: true });
      const original = await store.append(given);
      expect(await store.append({ ...given, topics: [...given.topics] })).toEqual(original);
      const changes: Partial<EventInput>[] = [
        { data: 'other' },
        { topics: ['urn:other'] },
        { topics: [topic, 'urn:alternate'] },
        { type: 'cancelled' },
        { type: undefined },
        { retry: 2000 },
        { private: false },
      ];
      for (const change of changes) {
        await expect(store.append({ ...given, ...change }), JSON.stringify(change)).rejects.toEqual(
          refusedWith('conflict', /already used by a different retained event/),
        );
      }
      const later = await store.append(input(2));
      await eventually(() => delivered.length >= 2, 5000, 'live events');
      expect(delivered).toEqual([original, later]);
      expect(await eventsAfter(store, EARLIEST)).toEqual([original, later]);
      expect(await eventsAfter(store, 'order-9912')).toEqual([later]);
    });

    it('concurrent publishes with one supplied id store it once', async () => {
      const store = await create();
      const given = input(1, { id: 'urn:once' });
      const answers = await Promise.all(Array.from({ length: 8 }, () => store.append(given)));
      expect(new Set(answers.map((event) => event.cursor)).size).toBe(1);
      expect(await eventsAfter(store, EARLIEST)).toEqual([answers[0]]);
    });

    it('a supplied id is free again once its event is no longer retained', async () => {
      const store = await create({ historySize: 5 });
      await store.append(input(1, { id: 'reused' }));
      await appendMany(store, 300, 2);
      const again = await store.append(input(999, { id: 'reused' }));
      expect(again.data).toBe('event 999');
      expect(await eventsAfter(store, 'reused')).toEqual([]);
    });

    it('delivers every append to every live listener once, in store order; detached listeners get nothing', async () => {
      const store = await create();
      const first: StoredEvent[] = [];
      const second: StoredEvent[] = [];
      store.onEvent((event) => first.push(event));
      const detach = store.onEvent((event) => second.push(event));
      const appended = await Promise.all(Array.from({ length: 50 }, (_, n) => store.append(input(n))));
      await eventually(() => first.length >= 50, 5000, 'live events');
      const inStoreOrder = [...appended].sort((a, b) => store.compareCursors(a.cursor, b.cursor));
      expect(first).toEqual(inStoreOrder);
      await eventually(() => second.length >= 50, 5000, 'live events on the second listener');
      expect(second).toEqual(inStoreOrder);
      detach();
      const more = await appendMany(store, 3, 100);
      await eventually(() => first.length >= 53, 5000, 'events after detach');
      expect(first.slice(50)).toEqual(more);
      expect(second).toHaveLength(50);
    });

    it('keeps delivering and storing when a listener throws', async () => {
      const store = await create();
      const received: StoredEvent[] = [];
      store.onEvent(() => {
        throw new Error('listener bug');
      });
      store.onEvent((event) => received.push(event));
      const events = await appendMany(store, 3);
      await eventually(() => received.length >= 3, 5000, 'live events');
      expect(received).toEqual(events);
      const history = await readAfter(store, EARLIEST);
      expect(history.ok && history.events).toEqual(events);
    });

    it('history read while listeners are attached leaves no gap: what follows its position arrives live (resume race)', async () => {
      const store = await create();
      const base = await appendMany(store, 5);
      for (let round = 0; round < 15; round++) {
        const late: StoredEvent[] = [];
        let readDone = false;
        const detach = store.onEvent((event) => {
          if (readDone) late.push(event);
        });
        const appending = Promise.all(Array.from({ length: 8 }, (_, n) => store.append(input(n))));
        const history = await readAfter(store, (base[round % 5] as StoredEvent).id);
        readDone = true;
        const appended = await appending;
        if (!history.ok) throw new Error('a retained id must resume');
        const position = history.events[history.events.length - 1]?.cursor ?? history.after;
        const newest = appended.reduce((a, b) => (store.compareCursors(a.cursor, b.cursor) > 0 ? a : b));
        if (store.compareCursors(position, newest.cursor) < 0) {
          await eventually(() => late.some((event) => event.id === newest.id), 5000, 'the newest event live');
        }
        detach();
        // A remote store's feed may still deliver events the read returned (the hub drops those by
        // cursor); everything after the read's position arrives live, once and in order: no gap.
        const lateAfter = late.filter((event) => store.compareCursors(event.cursor, position) > 0);
        const all = await readAfter(store, EARLIEST);
        const expected = all.ok ? all.events.filter((e) => store.compareCursors(e.cursor, position) > 0) : [];
        expect(ids(lateAfter)).toEqual(ids(expected));
      }
    });

    it('head(): every event after it reaches listeners attached before the call', async () => {
      const store = await create();
      expect(await store.head()).toBe(EARLIEST);
      await appendMany(store, 4);
      const received: StoredEvent[] = [];
      store.onEvent((event) => received.push(event));
      const head = await store.head();
      const more = await appendMany(store, 3, 5);
      const newest = more[2] as StoredEvent;
      await eventually(() => received.some((event) => event.id === newest.id), 5000, 'newest live event');
      const sinceHead = await readAfter(store, head);
      if (!sinceHead.ok) throw new Error(`head ${head} must be resumable`);
      // Everything after head arrived live (the feed may also have delivered a few before head).
      const receivedIds = ids(received);
      expect(receivedIds.slice(receivedIds.length - sinceHead.events.length)).toEqual(ids(sinceHead.events));
      expect(ids(sinceHead.events).slice(-3)).toEqual(ids(more));
      await eventually(async () => (await store.head()) === newest.cursor, 5000, 'head to reach the newest');
    });

    it('head() is the newest cursor, never a supplied id (which could name a private update), and it resumes', async () => {
      const store = await create();
      const received: StoredEvent[] = [];
      store.onEvent((event) => received.push(event));
      const stored = await store.append(input(1, { id: 'order-9912-alice', private: true }));
      await eventually(() => received.length === 1, 5000, 'the live event');
      expect(await store.head()).toBe(stored.cursor);
      expect(stored.cursor).not.toBe('order-9912-alice');
      expect(await readAfter(store, stored.cursor)).toMatchObject({ ok: true, events: [] });
      expect(await readAfter(store, 'order-9912-alice')).toMatchObject({ ok: true, events: [] });
    });

    describe('states, versions, TTL and idempotency keys (issue 17)', () => {
      const state = (n: number, extra: Partial<EventInput> = {}): EventInput =>
        input(n, { keepsState: true, ...extra });

      it('keeps the latest state per canonical topic, with the cursor they are current at', async () => {
        const store = await create({ historySize: 3 });
        const other = 'https://example.com/books/2';
        await store.append(state(1));
        const first = await store.append(state(2, { topics: [other, topic] }));
        await store.append(input(3));
        const latest = await store.append(state(4));
        await appendMany(store, 5, 10); // the log trims both states: they are still kept
        const newest = await store.append(input(99));
        const snapshot = await store.readStates({});
        expect(snapshot.through).toBe(newest.cursor);
        expect(snapshot.states.map((event) => event.data)).toEqual(['event 2', 'event 4']);
        expect(snapshot.states[1]).toMatchObject({ id: latest.id, cursor: latest.cursor });
        const only = await store.readStates({ topics: [other, 'https://example.com/none'] });
        expect(ids(only.states)).toEqual([first.id]);
        const changed = await store.readStates({ after: first.cursor });
        expect(ids(changed.states)).toEqual([latest.id]);
        const empty = await (await create()).readStates({});
        expect(empty).toEqual({ states: [], through: EARLIEST });
      });

      it('refuses a state version at or below the kept one as a conflict, storing nothing', async () => {
        const store = await create();
        await store.append(state(1, { version: 5 }));
        for (const version of [5, 4, -1]) {
          await expect(store.append(state(2, { version }))).rejects.toEqual(
            refusedWith('conflict', /stale/i),
          );
        }
        const newer = await store.append(state(3, { version: 7.5 }));
        expect(newer.version).toBe(7.5);
        await store.append(state(4)); // without a version: always accepted
        const history = await readAfter(store, EARLIEST);
        expect(history.ok && history.events.map((event) => event.data)).toEqual([
          'event 1',
          'event 3',
          'event 4',
        ]);
        // A plain event's version is not checked nor kept.
        await store.append(input(5, { version: 1 }));
      });

      it('stores a TTL as an expiry time, replayed and kept as given', async () => {
        const store = await create();
        const stored = await store.append(state(1, { ttlMs: 60_000 }));
        expect(stored.expiresAt).toBe(stored.time + 60_000);
        const history = await readAfter(store, EARLIEST);
        expect(history.ok && history.events[0]?.expiresAt).toBe(stored.expiresAt);
        expect((await store.readStates({})).states[0]?.expiresAt).toBe(stored.expiresAt);
        expect((await store.append(input(2))).expiresAt).toBeUndefined();
      });

      it('answers a repeated idempotency key with the original event and refuses a different request', async () => {
        const store = await create({ historySize: 2 });
        const received: StoredEvent[] = [];
        store.onEvent((event) => received.push(event));
        const claim = { key: 'publish-1', fingerprint: 'f1', windowMs: 60_000 };
        const attempts = await Promise.all(
          Array.from({ length: 100 }, () => store.append(input(1, { idempotency: claim }))),
        );
        expect(new Set(attempts.map((event) => event.id)).size).toBe(1);
        await expect(
          store.append(input(2, { idempotency: { ...claim, fingerprint: 'f2' } })),
        ).rejects.toEqual(refusedWith('idempotency_key_reused', /Idempotency-Key/));
        await appendMany(store, 3, 10); // trimmed from the log: the key still answers its id
        const again = await store.append(input(1, { idempotency: claim }));
        expect(again.id).toBe(attempts[0]?.id);
        await eventually(() => received.length === 4, 5000, 'the live events');
        expect(received.filter((event) => event.data === 'event 1')).toHaveLength(1);
      });

      it('forgets an idempotency key once its window has passed', async () => {
        const store = await create();
        const claim = { key: 'short', fingerprint: 'f1', windowMs: 50 };
        const first = await store.append(input(1, { idempotency: claim }));
        await sleep(120);
        const second = await store.append(input(1, { idempotency: { ...claim, fingerprint: 'f2' } }));
        expect(second.id).not.toBe(first.id);
      });
    });

    describe('per-topic retention, backward reads, bounded idempotency records (issue 17)', () => {
      const counted = 'https://example.com/counted';
      const other = 'https://example.com/other';

      async function history(store: Store): Promise<StoredEvent[]> {
        const all = await readAfter(store, EARLIEST);
        if (!all.ok) throw new Error('earliest must always be resumable');
        return [...all.events];
      }

      it("retires a topic's events beyond its retained count: stubs in place, other topics whole", async () => {
        const store = await create();
        const stored: StoredEvent[] = [];
        for (let n = 1; n <= 5; n++) {
          stored.push(await store.append({ topics: [counted], data: `c${n}`, type: 't', retainCount: 2 }));
          stored.push(await store.append({ topics: [other], data: `o${n}` }));
        }
        const read = await history(store);
        expect(ids(read)).toEqual(ids(stored));
        const retired = read.filter((event) => event.retired === true);
        expect(retired.map((event) => event.cursor)).toEqual(
          stored.filter((event) => /^c[123]$/.test(event.data)).map((event) => event.cursor),
        );
        for (const stub of retired) {
          expect(stub).toMatchObject({ data: '', topics: [counted], retired: true });
          expect(stub.type).toBeUndefined();
        }
        const whole = read.filter((event) => event.retired !== true);
        expect(whole.map((event) => event.data)).toEqual(['o1', 'o2', 'o3', 'c4', 'o4', 'c5', 'o5']);
        // A retired event is still a place to resume from, and backward reads see the same stubs.
        const firstRetired = retired[0] as StoredEvent;
        const after = await readAfter(store, firstRetired.id);
        expect(after.ok && ids(after.events)).toEqual(ids(stored.slice(1)));
        const latest = await store.readLatest?.({ limit: 100 });
        expect(latest?.events.filter((event) => event.retired === true).length).toBe(3);
      });

      it('a retained count of 1 keeps just the newest; only the canonical topic counts', async () => {
        const store = await create();
        const kept = await store.append({ topics: [counted], data: 'a', retainCount: 1 });
        // Names the counted topic only as an alternate: not one of its events.
        await store.append({ topics: [other, counted], data: 'alternate' });
        expect((await history(store)).filter((event) => event.retired === true)).toEqual([]);
        const newest = await store.append({ topics: [counted], data: 'b', retainCount: 1 });
        const read = await history(store);
        expect(read.map((event) => [event.data, event.retired ?? false])).toEqual([
          ['', true],
          ['alternate', false],
          ['b', false],
        ]);
        expect(read[0]?.cursor).toBe(kept.cursor);
        expect(read[2]?.cursor).toBe(newest.cursor);
      });

      it('a supplied id of a retired event is refused, saying so, even for an identical repeat', async () => {
        const store = await create();
        const first = { topics: [counted], data: 'one', id: 'order-1', retainCount: 1 };
        await store.append(first);
        await store.append({ topics: [counted], data: 'two', id: 'order-2', retainCount: 1 });
        // Its data is gone: a repeat cannot be told from another event, and the id stays a resume point.
        const refusal = refusedWith('conflict', /^"id" "order-1" .*no longer retains/);
        await expect(store.append(first)).rejects.toEqual(refusal);
        await expect(store.append({ ...first, data: 'other' })).rejects.toEqual(refusal);
        expect((await history(store)).map((event) => [event.id, event.retired ?? false])).toEqual([
          ['order-1', true],
          ['order-2', false],
        ]);
      });

      it('reads backwards from the newest, page by page, with a topic filter', async () => {
        const store = await create();
        const empty = await store.readLatest?.({ limit: 5 });
        if (empty === undefined) return expect(store.readLatest).toBeUndefined();
        expect(empty).toEqual({ events: [], through: EARLIEST, next: undefined });
        const stored: StoredEvent[] = [];
        for (let n = 1; n <= 23; n++) {
          stored.push(await store.append({ topics: [n % 3 === 0 ? other : counted], data: `e${n}` }));
        }
        const newest = stored[stored.length - 1] as StoredEvent;
        const pages: StoredEvent[][] = [];
        let before: string | undefined;
        for (let page = 0; page < 20; page++) {
          const latest = await (store.readLatest as NonNullable<Store['readLatest']>)({ before, limit: 7 });
          expect(latest.events.length).toBeLessThanOrEqual(7);
          expect(latest.through).toBe(before ?? newest.cursor);
          pages.push([...latest.events]);
          if (latest.next === undefined) break;
          before = latest.next;
        }
        expect(ids(pages.reverse().flat())).toEqual(ids(stored));
        const wanted = await (store.readLatest as NonNullable<Store['readLatest']>)({
          limit: 4,
          topics: [other],
        });
        // A store without a topic index may return other events too; the hub filters them.
        const others = stored.filter((event) => event.topics[0] === other);
        expect(ids(wanted.events.filter((event) => event.topics[0] === other))).toEqual(
          ids(others.slice(-wanted.events.filter((event) => event.topics[0] === other).length)),
        );
        expect(wanted.events.some((event) => event.topics[0] === other)).toBe(true);
      });

      it('names the newest trimmed cursor on a read from `earliest`, and nothing before any trim', async () => {
        const store = await create({ historySize: 5 });
        await appendMany(store, 3);
        const untrimmed = await store.readPage({ after: EARLIEST, limit: 10 });
        expect(untrimmed.ok && untrimmed.gone).toBeUndefined();
        const events = await appendMany(store, 300, 4);
        const page = await store.readPage({ after: EARLIEST, limit: 1000 });
        if (!page.ok) throw new Error('earliest must always be readable');
        const oldest = page.events[0] as StoredEvent;
        const index = events.findIndex((event) => event.cursor === oldest.cursor);
        expect(page.gone).toBe(events[index - 1]?.cursor);
      });

      it('keeps at most as many idempotency records as events: the oldest keys are forgotten first', async () => {
        const store = await create({ historySize: 5 });
        const claim = (n: number, fingerprint = `f${n}`) => ({ key: `k${n}`, fingerprint, windowMs: 60_000 });
        const first = await store.append(input(0, { idempotency: claim(0) }));
        for (let n = 1; n <= 40; n++) await store.append(input(n, { idempotency: claim(n) }));
        // Forgotten: the same key now stores a new event instead of answering 422.
        const reused = await store.append(input(99, { idempotency: claim(0, 'other') }));
        expect(reused.id).not.toBe(first.id);
        // The newest keys still answer.
        await expect(store.append(input(98, { idempotency: claim(40, 'other') }))).rejects.toEqual(
          refusedWith('idempotency_key_reused', /Idempotency-Key/),
        );
      });
    });

    it('reports ready while open and rejects appends once closed', async () => {
      const store = await create();
      expect(store.isReady()).toBe(true);
      await store.close();
      expect(store.isReady()).toBe(false);
      await expect(store.append(input(1))).rejects.toThrow(/closed/);
    });
  });
}
