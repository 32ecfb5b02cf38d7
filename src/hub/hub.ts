import type { EventInput, HistoryPage, Store, StoredEvent } from '../store/types.js';
import { EARLIEST } from '../store/types.js';
import { MemoryStore } from '../store/memory.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_RETRY_MS } from '../defaults.js';
import { StoreInputError } from '../store/errors.js';
import { controlCommandOf, controlEvent, isControlEvent } from './control.js';
import { HEARTBEAT_FRAME, frameOf, openingFrame, resetFrame } from './frame.js';
import { HistoryReader, REPLAY_PAGE_SIZE } from './history-reader.js';
import type { ResetSignal } from './frame.js';
import { SelectorCache, exactSelector } from './topic-selector.js';
import type { TopicSelector } from './topic-selector.js';
import { Subscriber } from './subscriber.js';
import type { CloseReason, SubscriberSink, SubscriberView } from './subscriber.js';
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
  subscribed?(subscriber: SubscriberView): void;
  unsubscribed?(subscriber: SubscriberView, reason: CloseReason): void;
  heartbeats?(count: number): void;
  /** A replay failed part-way (the store became unavailable); the stream was ended. */
  replayFailed?(error: unknown): void;
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
  /** Subscribers still replaying history (not yet on the live feed). */
  replaying: number;
  /** Hub-level timers (heartbeat sweep); per-subscriber timers do not exist. */
  timers: number;
}

/** Longest accepted `Last-Event-ID`; anything longer is treated as malformed. */
const MAX_LAST_EVENT_ID_LENGTH = 1024;

/** Where a new subscription's stream starts, decided before any byte is written. */
interface StartPlan {
  /** Cursor to replay history after; undefined: live only, from the hub's newest cursor. */
  readonly replayAfter: string | undefined;
  /** The client's own id when its resume point was found. */
  readonly resumedFrom?: string;
  readonly failure?: { readonly reason: ResetSignal['reason']; readonly lastEventId: string };
  /** The first page of history, read before answering so that a failing store answers 503. */
  readonly firstPage?: HistoryPage;
}

export class Hub {
  readonly store: Store;
  readonly retryMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBufferedBytes: number;
  private readonly observer: HubObserver;
  private readonly now: () => number;
  private readonly selectors = new SelectorCache();
  private readonly history: HistoryReader;
  private readonly subscribers = new Map<number, Subscriber>();
  /** Exact topic → subscribers with that exact selector. */
  private readonly byExactTopic = new Map<string, Set<Subscriber>>();
  /** Wildcard and template selectors → their subscribers; tested against every event's topics. */
  private readonly byPattern = new Map<TopicSelector, Set<Subscriber>>();
  private readonly flushQueue: Subscriber[] = [];
  private flushScheduled = false;
  private nextSubscriberId = 1;
  private fanoutStamp = 0;
  /** Cursor of the newest event the live feed delivered: where a live-only stream starts. */
  private latestCursor = EARLIEST;
  private readonly ready: Promise<void>;
  private readonly detachStore: () => void;
  private readonly detachGaps: () => void;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: HubOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.observer = options.observer ?? {};
    this.now = options.now ?? Date.now;
    this.history = new HistoryReader(this.store);
    this.detachStore = this.store.onEvent((event) => this.fanOut(event));
    // Live subscribers may have missed what the feed skipped: end their streams before the next
    // event, so each reconnects with its last id and resumes exactly, or is told it cannot.
    this.detachGaps = this.store.onFeedGap(() => {
      for (const subscriber of [...this.subscribers.values()]) this.endSubscriber(subscriber, 'gap');
    });
    this.ready = this.store.head().then((head) => {
      if (this.latestCursor === EARLIEST) this.latestCursor = head;
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
      if (!(error instanceof StoreInputError)) this.observer.publishFailed?.(error);
      throw error;
    }
  }

  /**
   * Opens a subscription. Resolves once the stream's start is decided (and `onStart` was called);
   * history is then replayed page by page, each page read when the sink has taken the last one.
   */
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
    const grant = {
      selectors,
      privateSelectors: options.privateTopics?.map((topic) => this.selectors.get(topic)),
      expiresAt: options.expiresAt,
      subject: options.subject,
    };
    const subscriber = new Subscriber(this.nextSubscriberId++, options.sink, grant, this.now());
    this.index(subscriber);
    let plan: StartPlan;
    try {
      plan = await this.planStart(subscriber, options.lastEventId);
    } catch (error) {
      this.release(subscriber, 'client');
      throw error;
    }
    // Synchronous from here to going live (or to the replay's start): no event slips in between.
    const startAfter = plan.resumedFrom ?? plan.replayAfter ?? this.latestCursor;
    const reset = plan.failure && { ...plan.failure, resumeFrom: startAfter };
    const start: SubscriptionStart = reset ? { startAfter, reset } : { startAfter };
    if (subscriber.closed) return this.subscription(subscriber, start);
    options.onStart?.(start);
    this.enqueue(subscriber, openingFrame(this.retryMs, startAfter));
    if (reset) {
      this.enqueue(subscriber, resetFrame(reset));
      this.observer.resetSent?.(reset.reason);
    }
    if (plan.replayAfter === undefined) subscriber.goLive(undefined);
    else void this.replay(subscriber, plan.replayAfter, plan.firstPage);
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
    let replaying = 0;
    for (const subscriber of this.subscribers.values()) {
      if (subscriber.hasPending) queued++;
      if (!subscriber.live) replaying++;
    }
    return {
      subscribers: this.subscribers.size,
      indexedSelectors: this.byExactTopic.size + this.byPattern.size,
      queuedForFlush: queued,
      replaying,
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

  private async planStart(subscriber: Subscriber, lastEventId: string | undefined): Promise<StartPlan> {
    if (lastEventId === undefined || lastEventId === '') return { replayAfter: undefined };
    this.history.replayStarted();
    try {
      return await this.planResume(subscriber, lastEventId);
    } finally {
      this.history.replayFinished();
    }
  }

  private async planResume(subscriber: Subscriber, lastEventId: string): Promise<StartPlan> {
    if (lastEventId.length > MAX_LAST_EVENT_ID_LENGTH || /[\r\n\0]/.test(lastEventId)) {
      return { replayAfter: undefined, failure: { reason: 'malformed', lastEventId } };
    }
    const point = await this.history.locate(lastEventId);
    if (!point.ok) {
      const failure = { reason: point.reason, lastEventId };
      if (point.resumeFrom === undefined) return { replayAfter: undefined, failure };
      return {
        replayAfter: point.resumeFrom,
        failure,
        firstPage: await this.readPage(subscriber, point.resumeFrom),
      };
    }
    const firstPage = await this.readPage(subscriber, point.cursor);
    // Trimmed between finding the id and reading after it: the same answer as an older id.
    if (!firstPage.ok) return { replayAfter: undefined, failure: { reason: 'expired', lastEventId } };
    return { replayAfter: point.cursor, resumedFrom: lastEventId, firstPage };
  }

  private readPage(subscriber: Subscriber, after: string): Promise<HistoryPage> {
    return this.history.read({ after, limit: REPLAY_PAGE_SIZE, topics: exactTopicsOf(subscriber) });
  }

  /**
   * Streams history after `after`, one page at a time: a page is read only once the subscriber's
   * backlog is down to a quarter of its bound, and an event is queued only when it fits within the
   * bound, so a replay of any length neither trips the slow-reader cut nor holds more than a page.
   * When a page reaches the newest event the live feed has delivered, the subscriber goes live in
   * the same synchronous step.
   */
  private async replay(
    subscriber: Subscriber,
    after: string,
    firstPage: HistoryPage | undefined,
  ): Promise<void> {
    const lowWater = this.maxBufferedBytes / 4;
    let cursor = after;
    let page = firstPage;
    this.history.replayStarted();
    try {
      for (;;) {
        while (!subscriber.closed && subscriber.backlogBytes > lowWater) await subscriber.drained();
        page ??= await this.readPage(subscriber, cursor);
        if (subscriber.closed) return;
        // Trimmed while this subscriber read: it reconnects with its last id and is told.
        if (!page.ok) return this.endSubscriber(subscriber, 'gap');
        if (!(await this.queuePage(subscriber, page.events))) return;
        cursor = page.through;
        const ahead = this.store.compareCursors(cursor, this.latestCursor);
        if (page.end && ahead >= 0) return subscriber.goLive(ahead > 0 ? cursor : undefined);
        page = undefined;
      }
    } catch (error) {
      this.observer.replayFailed?.(error);
      // The client reconnects with the last id it received and resumes there.
      this.endSubscriber(subscriber, 'store');
    } finally {
      this.history.replayFinished();
    }
  }

  /** Queues a page's wanted events within the backlog bound; false once the subscriber closed. */
  private async queuePage(subscriber: Subscriber, events: readonly StoredEvent[]): Promise<boolean> {
    let replayed = 0;
    for (const event of events) {
      if (!subscriber.wants(event)) continue;
      const frame = frameOf(event);
      while (
        !subscriber.closed &&
        subscriber.backlogBytes > 0 &&
        subscriber.backlogBytes + frame.length > this.maxBufferedBytes
      ) {
        await (subscriber.hasPending ? nextTurn() : subscriber.drained());
      }
      if (subscriber.closed) break;
      this.enqueue(subscriber, frame);
      replayed++;
    }
    if (replayed > 0) this.observer.replayed?.(replayed);
    return !subscriber.closed;
  }

  private fanOut(event: StoredEvent): void {
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
      if (!exact) continue;
      for (const subscriber of exact) {
        if (subscriber.fanoutStamp === stamp) continue;
        subscriber.fanoutStamp = stamp;
        if (!subscriber.acceptsLive(event, this.store)) continue;
        this.enqueue(subscriber, (frame ??= frameOf(event)));
        delivered++;
      }
    }
    for (const [selector, subscribers] of this.byPattern) {
      if (!event.topics.some((topic) => selector.matches(topic))) continue;
      for (const subscriber of subscribers) {
        if (subscriber.fanoutStamp === stamp) continue;
        subscriber.fanoutStamp = stamp;
        if (!subscriber.acceptsLive(event, this.store)) continue;
        this.enqueue(subscriber, (frame ??= frameOf(event)));
        delivered++;
      }
    }
    if (delivered > 0) this.observer.delivered?.(delivered);
  }

  private enqueue(subscriber: Subscriber, frame: Buffer): void {
    if (subscriber.enqueue(frame)) this.flushQueue.push(subscriber);
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
      // A reader this far behind would hold memory for everyone; it resumes from history later.
      if (!subscriber.flush(this.maxBufferedBytes, now)) this.dropSubscriber(subscriber, 'slow');
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
      if (subscriber.idleSince(idleSince)) {
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

  /** Unindexes the subscriber; returns the frames it still had queued (none if already closed). */
  private release(subscriber: Subscriber, reason: CloseReason): Buffer[] {
    if (subscriber.closed) return [];
    const pending = subscriber.close();
    this.subscribers.delete(subscriber.id);
    for (const selector of subscriber.selectors) {
      if (selector.kind === 'exact') removeFrom(this.byExactTopic, selector.source, subscriber);
      else removeFrom(this.byPattern, selector, subscriber);
    }
    this.observer.unsubscribed?.(subscriber, reason);
    return pending;
  }

  /** Ends the stream cleanly after what is queued, so the client reconnects and resumes. */
  private endSubscriber(subscriber: Subscriber, reason: CloseReason): void {
    const { sink } = subscriber;
    for (const chunk of this.release(subscriber, reason)) sink.write(chunk);
    sink.end();
  }

  private dropSubscriber(subscriber: Subscriber, reason: CloseReason): void {
    this.release(subscriber, reason);
    subscriber.sink.destroy();
  }
}

/** The exact topics a store with a topic index may restrict a replay to; undefined for patterns. */
function exactTopicsOf(subscriber: Subscriber): readonly string[] | undefined {
  const topics: string[] = [];
  for (const selector of subscriber.selectors) {
    if (selector.kind !== 'exact') return undefined;
    topics.push(selector.source);
  }
  return topics;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
