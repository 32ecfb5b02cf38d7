import { randomBytes } from 'node:crypto';
import { DEFAULT_HISTORY_SIZE } from '../defaults.js';
import { checkStateVersion, idempotencyMismatch, retiredStub } from './append-rules.js';
import { SequenceQueue } from './sequence-queue.js';
import { checkSuppliedId, repeatedOrConflict } from './supplied-ids.js';
import type {
  EventInput,
  HistoryPage,
  LatestPage,
  LatestRequest,
  LiveListener,
  PageRequest,
  ResumePoint,
  StateRequest,
  StateSnapshot,
  Store,
  StoredEvent,
} from './types.js';
import { EARLIEST } from './types.js';
import { LiveListeners } from './live-listeners.js';

export interface MemoryStoreOptions {
  /** How many events to retain (ring buffer size). Default 10,000. */
  historySize?: number;
  /** Also drop events older than this many milliseconds. Default: no age limit. */
  maxAgeMs?: number | undefined;
  /** Clock, for tests. */
  now?: () => number;
  /** Where a throwing live listener is reported. Default `console.warn`. */
  warn?: (message: string) => void;
}

/** Most events one history page looks at, wanted or not. */
const PAGE_SCAN_LIMIT = 4096;

/**
 * The shape of every id a MemoryStore generates, in any process: `<epoch>-<sequence>`, the epoch
 * being base-36 milliseconds, a dot and 6 hex digits. The dot makes the shape distinctive, so the
 * rule refusing supplied ids of this shape (they could shadow a generated id, also one from before
 * a restart) leaves ordinary ids like `order-9912` alone.
 */
const MEMORY_ID_SHAPE = /^([0-9a-z]{1,11}\.[0-9a-f]{6})-([1-9][0-9]{0,15})$/;

/** Whether `id` has the shape of a MemoryStore-generated id (this process's or another's). */
export function isMemoryIdShape(id: string): boolean {
  return MEMORY_ID_SHAPE.test(id);
}

/**
 * In-process store: a ring buffer of the last N events. Generated ids are `<epoch>-<sequence>`,
 * where the epoch is unique to this process, so an id from before a restart is recognised as
 * unknown instead of being matched to a different event with the same sequence number.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly epoch: string;
  private readonly capacity: number;
  private readonly maxAgeMs: number | undefined;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly ring: (StoredEvent | undefined)[];
  /** Sequence number of the oldest retained event; events are `firstSeq .. nextSeq - 1`. */
  private firstSeq = 1;
  private nextSeq = 1;
  /** Publisher-supplied ids still retained, to their (first) sequence number. */
  private readonly suppliedIds = new Map<string, number>();
  private readonly listeners: LiveListeners;
  /** The newest event's time. */
  private lastTime = 0;
  /**
   * Canonical topic with a retained count → sequences of its events still holding their data,
   * oldest first: past the count, the oldest is retired (its ring slot becomes a stub).
   */
  private readonly countedTopics = new Map<string, SequenceQueue>();
  /** Canonical topic → its latest state event; kept when the ring evicts the event. */
  private readonly states = new Map<string, StoredEvent>();
  /**
   * Idempotency key → the request it recorded; oldest first, forgotten once its window passed or
   * once more than `historySize` newer keys were recorded.
   */
  private readonly idempotencyRecords = new Map<
    string,
    { fingerprint: string; event: StoredEvent; until: number }
  >();
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
    if (!Number.isSafeInteger(historySize) || historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${historySize}`);
    }
    this.capacity = historySize;
    this.maxAgeMs = options.maxAgeMs;
    this.now = options.now ?? Date.now;
    this.warn = options.warn ?? ((message) => console.warn(`ssehub memory store: ${message}`));
    this.listeners = new LiveListeners(this.warn);
    this.ring = new Array<StoredEvent | undefined>(historySize);
    this.epoch = `${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
  }

  append(input: EventInput): Promise<StoredEvent> {
    try {
      return Promise.resolve(this.appendNow(input));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Stores the event, or returns the retained one it repeats; throws when it is refused. */
  private appendNow(input: EventInput): StoredEvent {
    if (this.closed) throw new Error('store is closed');
    const recorded = this.idempotentRepeat(input);
    if (recorded !== undefined) return recorded;
    checkSuppliedId(input.id, isMemoryIdShape, '<epoch>-<sequence>');
    this.evictExpired();
    const repeated = input.id === undefined ? undefined : this.suppliedIds.get(input.id);
    if (repeated !== undefined) {
      // Nothing stored, nothing delivered: an exact repeat gets the original, anything else a 409.
      return repeatedOrConflict(input, this.at(repeated));
    }
    if (input.keepsState) checkStateVersion(input, this.states.get(input.topics[0] as string));
    const seq = this.nextSeq++;
    const generated = this.cursorAt(seq);
    // Never before the previous event, as on the other stores: `since` and age trimming rely on the
    // log's times following its order, also when the clock steps back.
    const time = Math.max(this.now(), this.lastTime);
    this.lastTime = time;
    const event: StoredEvent = {
      id: input.id ?? generated,
      cursor: generated,
      topics: input.topics,
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private ?? false,
      time,
      ...(input.ttlMs !== undefined && { expiresAt: time + input.ttlMs }),
      ...(input.version !== undefined && { version: input.version }),
    };
    if (seq - this.firstSeq >= this.capacity) this.evictOldest();
    this.ring[seq % this.capacity] = event;
    if (input.id !== undefined) this.suppliedIds.set(input.id, seq);
    if (input.keepsState) this.states.set(input.topics[0] as string, event);
    if (input.retainCount !== undefined) this.retireBeyond(input.topics[0] as string, seq, input.retainCount);
    if (input.idempotency) {
      const { key, fingerprint, windowMs } = input.idempotency;
      this.idempotencyRecords.set(key, { fingerprint, event, until: time + windowMs });
      // Bounded like the history itself: a publisher sending a new key with every request must not
      // grow the process without limit. The oldest keys go first (the map is in insertion order).
      if (this.idempotencyRecords.size > this.capacity) {
        const oldest = this.idempotencyRecords.keys().next().value;
        if (oldest !== undefined) this.idempotencyRecords.delete(oldest);
      }
    }
    this.listeners.deliver(event);
    return event;
  }

  locate(lastEventId: string): Promise<ResumePoint> {
    this.evictExpired();
    if (lastEventId === EARLIEST) return Promise.resolve({ ok: true, cursor: EARLIEST });
    const seq = this.sequenceOf(lastEventId);
    if (typeof seq === 'number') return Promise.resolve({ ok: true, cursor: this.cursorAt(seq) });
    // An id of an earlier process: everything retained now was published after it.
    if (seq === 'earlier-life')
      return Promise.resolve({ ok: false, reason: 'unknown', resumeFrom: EARLIEST });
    return Promise.resolve({ ok: false, reason: seq });
  }

  readPage(request: PageRequest): Promise<HistoryPage> {
    this.evictExpired();
    const afterSeq = request.after === EARLIEST ? this.firstSeq - 1 : cursorSequence(request.after);
    // The event right after the cursor is gone: reading on would skip it.
    if (afterSeq < this.firstSeq - 1) return Promise.resolve({ ok: false, reason: 'expired' });
    const topics = request.topics && new Set(request.topics);
    // A page scans a bounded stretch of the ring, so a rare topic costs several cheap pages rather
    // than one read of the whole history.
    const scanUntil = Math.min(this.nextSeq, afterSeq + 1 + Math.max(request.limit, PAGE_SCAN_LIMIT));
    const events: StoredEvent[] = [];
    let seq = Math.max(afterSeq + 1, this.firstSeq);
    for (; seq < scanUntil && events.length < request.limit; seq++) {
      const event = this.at(seq);
      if (topics === undefined || event.topics.some((topic) => topics.has(topic))) events.push(event);
    }
    const end = seq >= this.nextSeq;
    const through = seq - 1 > afterSeq ? this.cursorAt(seq - 1) : request.after;
    const gone =
      request.after === EARLIEST && this.firstSeq > 1 ? this.cursorAt(this.firstSeq - 1) : undefined;
    return Promise.resolve({ ok: true, events, through, end, ...(gone !== undefined && { gone }) });
  }

  readLatest(request: LatestRequest): Promise<LatestPage> {
    this.evictExpired();
    const newest = this.nextSeq - 1;
    const beforeSeq = request.before === undefined ? this.nextSeq : cursorSequence(request.before);
    const through = request.before ?? (newest >= this.firstSeq ? this.cursorAt(newest) : EARLIEST);
    const topics = request.topics && new Set(request.topics);
    // Bounded like a forward page: a rare topic costs several cheap pages, not one long scan.
    const scanFrom = Math.max(this.firstSeq, beforeSeq - Math.max(request.limit, PAGE_SCAN_LIMIT));
    const events: StoredEvent[] = [];
    let seq = Math.min(beforeSeq, this.nextSeq) - 1;
    for (; seq >= scanFrom && events.length < request.limit; seq--) {
      const event = this.at(seq);
      if (topics === undefined || event.topics.some((topic) => topics.has(topic))) events.push(event);
    }
    const next = seq >= this.firstSeq ? this.cursorAt(seq + 1) : undefined;
    return Promise.resolve({ events: events.reverse(), through, next });
  }

  readStates(request: StateRequest): Promise<StateSnapshot> {
    this.evictExpired();
    const after = request.after;
    const chosen =
      request.topics === undefined
        ? [...this.states.values()]
        : request.topics.flatMap((topic) => this.states.get(topic) ?? []);
    const states = chosen
      .filter((event) => after === undefined || this.compareCursors(event.cursor, after) > 0)
      .sort((a, b) => this.compareCursors(a.cursor, b.cursor));
    const newest = this.nextSeq - 1;
    return Promise.resolve({ states, through: newest >= 1 ? this.cursorAt(newest) : EARLIEST });
  }

  head(): Promise<string> {
    this.evictExpired();
    const newest = this.nextSeq - 1;
    return Promise.resolve(newest >= this.firstSeq ? this.cursorAt(newest) : EARLIEST);
  }

  onEvent(listener: LiveListener): () => void {
    return this.listeners.add(listener);
  }

  /** The in-process feed is the log itself: it never skips an event. */
  onFeedGap(): () => void {
    return () => undefined;
  }

  compareCursors(a: string, b: string): number {
    return cursorSequence(a) - cursorSequence(b);
  }

  isReady(): boolean {
    return !this.closed;
  }

  close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    return Promise.resolve();
  }

  /** Number of retained events (for tests and metrics). */
  get size(): number {
    return this.nextSeq - this.firstSeq;
  }

  /** The recorded event when this request repeats a live idempotency key; throws on a mismatch. */
  private idempotentRepeat(input: EventInput): StoredEvent | undefined {
    if (input.idempotency === undefined) return undefined;
    const now = this.now();
    for (const [key, record] of this.idempotencyRecords) {
      if (record.until > now) break;
      this.idempotencyRecords.delete(key);
    }
    const record = this.idempotencyRecords.get(input.idempotency.key);
    if (record === undefined || record.until <= now) return undefined;
    if (record.fingerprint !== input.idempotency.fingerprint) throw idempotencyMismatch();
    return record.event;
  }

  private sequenceOf(id: string): number | 'unknown' | 'expired' | 'earlier-life' {
    const supplied = this.suppliedIds.get(id);
    if (supplied !== undefined) return supplied;
    const generated = MEMORY_ID_SHAPE.exec(id);
    if (generated === null) return 'unknown';
    if (generated[1] !== this.epoch) return 'earlier-life';
    const digits = generated[2] as string;
    const seq = Number(digits);
    if (seq >= this.nextSeq) return 'unknown';
    // The event right before the oldest retained one is still a valid resume point: nothing is missed.
    if (seq < this.firstSeq - 1) return 'expired';
    return seq;
  }

  private cursorAt(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  private at(seq: number): StoredEvent {
    return this.ring[seq % this.capacity] as StoredEvent;
  }

  /** Retires the oldest events of `topic` beyond `count` (the newest being `seq`). */
  private retireBeyond(topic: string, seq: number, count: number): void {
    let kept = this.countedTopics.get(topic);
    if (kept === undefined) this.countedTopics.set(topic, (kept = new SequenceQueue()));
    kept.push(seq);
    while (kept.length > count) {
      const oldest = kept.shift() as number;
      const event = this.at(oldest);
      // A stub keeps what a resume needs to place and announce the gap; the data is freed.
      this.ring[oldest % this.capacity] = retiredStub(event);
    }
  }

  private evictOldest(): void {
    const seq = this.firstSeq++;
    const slot = seq % this.capacity;
    // The evicted event is old enough to be out of the CPU's caches: it is only read when some
    // bookkeeping may name it.
    if (this.countedTopics.size === 0 && this.suppliedIds.size === 0) {
      this.ring[slot] = undefined;
      return;
    }
    const event = this.ring[slot];
    this.ring[slot] = undefined;
    const counted = event && this.countedTopics.get(event.topics[0] as string);
    if (counted !== undefined && counted.peek() === seq) {
      counted.shift();
      if (counted.length === 0) this.countedTopics.delete(event?.topics[0] as string);
    }
    if (event && event.id !== event.cursor && this.suppliedIds.get(event.id) === seq) {
      this.suppliedIds.delete(event.id);
    }
  }

  private evictExpired(): void {
    if (this.maxAgeMs === undefined) return;
    const oldestAllowed = this.now() - this.maxAgeMs;
    while (this.firstSeq < this.nextSeq && this.at(this.firstSeq).time < oldestAllowed) this.evictOldest();
  }
}

/** The sequence number in a memory cursor; `EARLIEST` is 0, before every stored event. */
function cursorSequence(cursor: string): number {
  return cursor === EARLIEST ? 0 : Number(cursor.slice(cursor.lastIndexOf('-') + 1));
}
