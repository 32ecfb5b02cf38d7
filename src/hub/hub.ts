import type { EventInput, Store, StoredEvent } from '../store/types.js';
import { EARLIEST } from '../store/types.js';
import { MemoryStore } from '../store/memory.js';
import { controlCommandOf, controlEvent, isControlEvent } from './control.js';
import { HEARTBEAT_FRAME, frameOf, openingFrame, resetFrame } from './frame.js';
import type { ResetSignal } from './frame.js';
import { SelectorCache, exactSelector } from './topic-selector.js';
import type { TopicSelector } from './topic-selector.js';
import { Subscriber } from './subscriber.js';
import type { CloseReason, SubscriberSink } from './subscriber.js';
import { validateEventInput } from './validate.js';

export interface HubOptions {
  store?: Store;
  /** Reconnection delay sent to clients as `retry:` on connect, in ms. Default 3000. */
  retryMs?: number;
  /** A comment is sent on a stream idle for this long, in ms. Default 15,000; 0 disables. */
  heartbeatIntervalMs?: number;
  /** A subscriber with more than this many bytes waiting is disconnected. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Observer for metrics and logs. */
  observer?: HubObserver;
  now?: () => number;
}

/** Hooks for metrics and logging; every method is optional and must not throw. */
export interface HubObserver {
  published?(event: StoredEvent, latencyMs: number): void;
  publishFailed?(error: unknown): void;
  delivered?(count: number): void;
  replayed?(count: number): void;
  resetSent?(reason: ResetSignal['reason']): void;
  subscribed?(subscriber: Subscriber): void;
  unsubscribed?(subscriber: Subscriber, reason: CloseReason): void;
  heartbeats?(count: number): void;
}

export interface SubscribeOptions {
  /** Topic selectors (exact topics, `*`, URI templates). At least one. */
  topics: readonly string[];
  /** Topics matched byte for byte only, never as templates (draft-08's `match_exact`). */
  exactTopics?: readonly string[] | undefined;
  /** Resume after this id; `earliest` replays all retained history; absent: live only. */
  lastEventId?: string | undefined;
  sink: SubscriberSink;
  /** Selectors granting private updates (the token's `mercure.subscribe`); absent: public only. */
  privateTopics?: readonly string[] | undefined;
  expiresAt?: number | undefined;
  subject?: string | undefined;
  /**
   * Called once history is known and before any byte is written, so the HTTP layer can send
   * headers that depend on it (Mercure's `Last-Event-ID` response header).
   */
  onStart?(start: SubscriptionStart): void;
}

export interface SubscriptionStart {
  /** The id the stream continues after, or `earliest`. */
  startAfter: string;
  /** Present when the requested id could not be resumed from. */
  reset?: ResetSignal;
  replayed: number;
}

export interface Subscription {
  readonly id: number;
  readonly start: SubscriptionStart;
  /** Release the subscriber (call when the client goes away). Idempotent. */
  close(reason?: CloseReason): void;
}

export interface HubStats {
  subscribers: number;
  /** Distinct exact topics and template selectors indexed for fan-out. */
  indexedSelectors: number;
  /** Subscribers with frames waiting for the next flush. */
  queuedForFlush: number;
  /** Hub-level timers (heartbeat sweep); per-subscriber timers do not exist. */
  timers: number;
}

/** Longest accepted `Last-Event-ID`; anything longer is treated as malformed. */
const MAX_LAST_EVENT_ID_LENGTH = 1024;

export class Hub {
  readonly store: Store;
  readonly retryMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBufferedBytes: number;
  private readonly observer: HubObserver;
  private readonly now: () => number;
  private readonly selectors = new SelectorCache();
  private readonly subscribers = new Map<number, Subscriber>();
  /** Exact topic → subscribers with that exact selector. */
  private readonly byExactTopic = new Map<string, Set<Subscriber>>();
  /** Wildcard and template selectors → their subscribers; tested against every event's topics. */
  private readonly byPattern = new Map<TopicSelector, Set<Subscriber>>();
  private readonly flushQueue: Subscriber[] = [];
  private flushScheduled = false;
  private nextSubscriberId = 1;
  private fanoutStamp = 0;
  private latestId = EARLIEST;
  /** Cursor of the newest event the live feed delivered. */
  private latestCursor = EARLIEST;
  private readonly ready: Promise<void>;
  private readonly detachStore: () => void;
  private readonly detachGaps: () => void;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: HubOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.retryMs = options.retryMs ?? 3000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.observer = options.observer ?? {};
    this.now = options.now ?? Date.now;
    this.detachStore = this.store.onEvent((event) => this.fanOut(event));
    // Live subscribers may have missed what the feed skipped: end their streams before the next
    // event, so each reconnects with its last id and resumes exactly, or is told it cannot.
    this.detachGaps = this.store.onFeedGap(() => {
      for (const subscriber of [...this.subscribers.values()]) this.endSubscriber(subscriber, 'gap');
    });
    this.ready = this.store.head().then((head) => {
      if (this.latestId === EARLIEST) this.latestId = head;
    });
    this.ready.catch(() => undefined);
    if (this.heartbeatIntervalMs > 0) {
      // One sweep for all subscribers instead of a timer each: churn creates no timers at all.
      const sweepEvery = Math.max(10, Math.min(1000, Math.floor(this.heartbeatIntervalMs / 4)));
      this.heartbeatTimer = setInterval(() => this.sweep(), sweepEvery);
      this.heartbeatTimer.unref();
    }
  }

  /** Validates and stores an event; resolves with the stored event (its id is the store's). */
  async publish(input: EventInput): Promise<StoredEvent> {
    const checked = validateEventInput(input);
    const started = performance.now();
    try {
      const event = await this.store.append(checked);
      this.observer.published?.(event, performance.now() - started);
      return event;
    } catch (error) {
      this.observer.publishFailed?.(error);
      throw error;
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new Error('hub is closed');
    const exactTopics = options.exactTopics ?? [];
    if (options.topics.length + exactTopics.length === 0) {
      throw new RangeError('at least one topic selector is required');
    }
    await this.ready;
    const selectors = [
      ...options.topics.map((topic) => this.selectors.get(topic)),
      ...exactTopics.map(exactSelector),
    ];
    const privateSelectors = options.privateTopics?.map((topic) => this.selectors.get(topic));
    const subscriber = new Subscriber(
      this.nextSubscriberId++,
      options.sink,
      selectors,
      privateSelectors,
      options.expiresAt,
      options.subject,
      this.latestId,
      this.now(),
    );
    // Attach to the live feed before reading history, so nothing published meanwhile is missed.
    this.index(subscriber);
    let start: SubscriptionStart;
    try {
      start = await this.replay(subscriber, options.lastEventId);
    } catch (error) {
      this.release(subscriber, 'client');
      throw error;
    }
    if (subscriber.closed) return this.subscription(subscriber, start);
    options.onStart?.(start);
    this.observer.subscribed?.(subscriber);
    return this.subscription(subscriber, start);
  }

  /** Closes every stream of a subject (logout, ban). Returns how many were closed. */
  disconnectSubject(subject: string): number {
    let closed = 0;
    for (const subscriber of this.subscribers.values()) {
      if (subscriber.subject === subject) {
        this.endSubscriber(subscriber, 'kicked');
        closed++;
      }
    }
    return closed;
  }

  /**
   * Closes every stream of a subject on every hub sharing this store: the command is appended to
   * the store, and each hub (this one included) acts on it when its live feed delivers it.
   */
  disconnectSubjectEverywhere(subject: string): Promise<StoredEvent> {
    return this.store.append(controlEvent({ action: 'disconnect', subject }));
  }

  stats(): HubStats {
    let queued = 0;
    for (const subscriber of this.subscribers.values()) if (subscriber.queuedForFlush) queued++;
    return {
      subscribers: this.subscribers.size,
      indexedSelectors: this.byExactTopic.size + this.byPattern.size,
      queuedForFlush: queued,
      timers: this.heartbeatTimer ? 1 : 0,
    };
  }

  /** Ends every stream (clients reconnect and resume elsewhere) and detaches from the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.flush();
    for (const subscriber of [...this.subscribers.values()]) this.endSubscriber(subscriber, 'shutdown');
    this.detachStore();
    this.detachGaps();
  }

  private subscription(subscriber: Subscriber, start: SubscriptionStart): Subscription {
    return {
      id: subscriber.id,
      start,
      close: (reason: CloseReason = 'client') => this.release(subscriber, reason),
    };
  }

  private async replay(subscriber: Subscriber, lastEventId: string | undefined): Promise<SubscriptionStart> {
    if (lastEventId === undefined || lastEventId === '') return this.goLive(subscriber, undefined, undefined);
    if (lastEventId.length > MAX_LAST_EVENT_ID_LENGTH || /[\r\n\0]/.test(lastEventId)) {
      return this.goLive(subscriber, undefined, { reason: 'malformed', lastEventId });
    }
    const history = await this.store.readAfter(lastEventId);
    if (!history.ok) return this.goLive(subscriber, undefined, { reason: history.reason, lastEventId });
    return this.goLive(subscriber, { lastEventId, ...history }, undefined);
  }

  /**
   * Queues the opening frame, the history, then the live events held meanwhile that come after the
   * history, and switches the subscriber to direct live delivery. Without a usable history the
   * stream continues from where the subscriber attached to the live feed: nothing after that point
   * is skipped, and the client's cursor is set to it.
   */
  private goLive(
    subscriber: Subscriber,
    history: { lastEventId: string; after: string; events: readonly StoredEvent[] } | undefined,
    failure: { reason: ResetSignal['reason']; lastEventId: string } | undefined,
  ): SubscriptionStart {
    const held = subscriber.heldDuringReplay ?? [];
    subscriber.heldDuringReplay = undefined;
    const startAfter = history ? history.lastEventId : subscriber.attachedAfter;
    if (subscriber.closed) return { startAfter, replayed: 0 };
    this.enqueue(subscriber, openingFrame(this.retryMs, startAfter));
    let reset: ResetSignal | undefined;
    if (failure) {
      reset = { ...failure, resumeFrom: startAfter };
      this.enqueue(subscriber, resetFrame(reset));
      this.observer.resetSent?.(reset.reason);
    }
    let replayed = 0;
    let newestCursor = history?.after;
    for (const event of history?.events ?? []) {
      newestCursor = event.cursor;
      if (!subscriber.wants(event)) continue;
      this.enqueue(subscriber, frameOf(event));
      replayed++;
    }
    for (const event of held) {
      // The live feed may still be delivering events the history already held (or older ones).
      if (newestCursor !== undefined && this.store.compareCursors(event.cursor, newestCursor) <= 0) continue;
      this.enqueue(subscriber, frameOf(event));
    }
    if (newestCursor !== undefined && this.store.compareCursors(newestCursor, this.latestCursor) > 0) {
      subscriber.replayedThrough = newestCursor;
    }
    if (replayed > 0) this.observer.replayed?.(replayed);
    return reset ? { startAfter, reset, replayed } : { startAfter, replayed };
  }

  private fanOut(event: StoredEvent): void {
    this.latestId = event.id;
    this.latestCursor = event.cursor;
    if (isControlEvent(event)) {
      const command = controlCommandOf(event);
      if (command?.action === 'disconnect') this.disconnectSubject(command.subject);
      return;
    }
    const stamp = ++this.fanoutStamp;
    let frame: Buffer | undefined;
    let delivered = 0;
    for (const topic of event.topics) {
      const exact = this.byExactTopic.get(topic);
      if (exact) {
        for (const subscriber of exact) {
          if (subscriber.fanoutStamp === stamp) continue;
          subscriber.fanoutStamp = stamp;
          if (this.offerLive(subscriber, event, (frame ??= frameOf(event)))) delivered++;
        }
      }
    }
    for (const [selector, subscribers] of this.byPattern) {
      if (!event.topics.some((topic) => selector.matches(topic))) continue;
      for (const subscriber of subscribers) {
        if (subscriber.fanoutStamp === stamp) continue;
        subscriber.fanoutStamp = stamp;
        if (this.offerLive(subscriber, event, (frame ??= frameOf(event)))) delivered++;
      }
    }
    if (delivered > 0) this.observer.delivered?.(delivered);
  }

  /** Queues a live event for one subscriber; returns whether it was sent (not held or skipped). */
  private offerLive(subscriber: Subscriber, event: StoredEvent, frame: Buffer): boolean {
    if (!subscriber.mayRead(event)) return false;
    if (subscriber.heldDuringReplay) {
      subscriber.heldDuringReplay.push(event);
      return false;
    }
    if (subscriber.replayedThrough !== undefined) {
      if (this.store.compareCursors(event.cursor, subscriber.replayedThrough) <= 0) return false;
      subscriber.replayedThrough = undefined;
    }
    this.enqueue(subscriber, frame);
    return true;
  }

  private enqueue(subscriber: Subscriber, frame: Buffer): void {
    if (subscriber.closed) return;
    subscriber.pending.push(frame);
    subscriber.pendingBytes += frame.length;
    if (!subscriber.queuedForFlush) {
      subscriber.queuedForFlush = true;
      this.flushQueue.push(subscriber);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything queued in this turn of the event loop goes out in one write per socket.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const queue = this.flushQueue.splice(0);
    const now = this.now();
    for (const subscriber of queue) {
      subscriber.queuedForFlush = false;
      if (subscriber.closed) continue;
      const { sink, pending } = subscriber;
      if (sink.bufferedBytes + subscriber.pendingBytes > this.maxBufferedBytes) {
        // A reader this far behind would hold memory for everyone; it resumes from history later.
        this.dropSubscriber(subscriber, 'slow');
        continue;
      }
      subscriber.pending = [];
      subscriber.pendingBytes = 0;
      subscriber.lastWriteAt = now;
      if (pending.length === 1) {
        sink.write(pending[0] as Buffer);
      } else {
        sink.cork?.();
        for (const chunk of pending) sink.write(chunk);
        sink.uncork?.();
      }
    }
  }

  private sweep(): void {
    const now = this.now();
    const idleSince = now - this.heartbeatIntervalMs;
    let heartbeats = 0;
    for (const subscriber of this.subscribers.values()) {
      if (subscriber.expiresAt !== undefined && subscriber.expiresAt <= now) {
        this.endSubscriber(subscriber, 'expired');
        continue;
      }
      if (subscriber.lastWriteAt <= idleSince && !subscriber.queuedForFlush && !subscriber.heldDuringReplay) {
        this.enqueue(subscriber, HEARTBEAT_FRAME);
        heartbeats++;
      }
    }
    if (heartbeats > 0) this.observer.heartbeats?.(heartbeats);
  }

  private index(subscriber: Subscriber): void {
    this.subscribers.set(subscriber.id, subscriber);
    for (const selector of subscriber.selectors) {
      if (selector.kind === 'exact') addTo(this.byExactTopic, selector.source, subscriber);
      else addTo(this.byPattern, selector, subscriber);
    }
  }

  private release(subscriber: Subscriber, reason: CloseReason): void {
    if (subscriber.closed) return;
    subscriber.closed = true;
    subscriber.pending = [];
    subscriber.pendingBytes = 0;
    subscriber.heldDuringReplay = undefined;
    this.subscribers.delete(subscriber.id);
    for (const selector of subscriber.selectors) {
      if (selector.kind === 'exact') removeFrom(this.byExactTopic, selector.source, subscriber);
      else removeFrom(this.byPattern, selector, subscriber);
    }
    this.observer.unsubscribed?.(subscriber, reason);
  }

  /** Ends the stream cleanly after what is queued, so the client reconnects and resumes. */
  private endSubscriber(subscriber: Subscriber, reason: CloseReason): void {
    const { sink, pending } = subscriber;
    this.release(subscriber, reason);
    for (const chunk of pending) sink.write(chunk);
    sink.end();
  }

  private dropSubscriber(subscriber: Subscriber, reason: CloseReason): void {
    this.release(subscriber, reason);
    subscriber.sink.destroy();
  }
}

function addTo<K>(map: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(subscriber);
}

function removeFrom<K>(map: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(subscriber);
  if (set.size === 0) map.delete(key);
}
