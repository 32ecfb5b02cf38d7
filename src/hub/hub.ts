import { createHash, randomUUID } from 'node:crypto';
import type { EventInput, HistoryPage, Store, StoredEvent } from '../store/types.js';
import { EARLIEST } from '../store/types.js';
import { MemoryStore } from '../store/memory.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_RETRY_MS } from '../defaults.js';
import { StoreInputError } from '../store/errors.js';
import { controlCommandOf, controlEvent, isControlEvent } from './control.js';
import { HEARTBEAT_FRAME, cursorFrame, frameOf, openingFrame, resetFrame } from './frame.js';
import { FlushPacer } from './flush-pacer.js';
import { HistoryReader, REPLAY_PAGE_SIZE } from './history-reader.js';
import type { ResetSignal } from './frame.js';
import { SelectorCache, exactSelector } from './topic-selector.js';
import type { SelectorSpec, TopicSelector } from './topic-selector.js';
import { Subscriber } from './subscriber.js';
import type { CloseReason, SubscriberSink, SubscriberView } from './subscriber.js';
import { HubInputError, validateEventInput, validateIdempotencyKey } from './validate.js';
import { PolicyBook } from './policy.js';
import type { ResolvedPolicy, SlowConsumerPolicy, TopicPolicies } from './policy.js';
import { Presence } from './presence.js';
import type { PresenceChange, PresenceEvent, PresenceOptions, PresenceStats } from './presence.js';
import type { ActiveSubscription, SubscriptionsFormat } from './subscription-format.js';

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
  /**
   * Track active subscriptions (Mercure's subscription events and API, presence, occupancy), on
   * this hub and every hub sharing its store. Off by default.
   */
  presence?: PresenceOptions | boolean;
  /** Called with unexpected errors of background work (presence); default: none. */
  onError?(error: unknown): void;
  now?: () => number;
  /**
   * Per-topic delivery policies: topic selector → policy (`mode`, `ttlMs`, `slowConsumer`); the
   * first selector matching an event's canonical topic wins. Default: every topic is a `stream`.
   */
  topics?: TopicPolicies;
  /**
   * Supplies the state of a `state` topic the store holds none for, when a subscriber names the
   * topic exactly (a template cannot say which topics it means). The answer is published as the
   * topic's state; give it a `version` so that it cannot overwrite a state published meanwhile.
   */
  getState?(topic: string): Promise<SuppliedState | undefined> | SuppliedState | undefined;
  /** Largest `rewind` a subscriber may ask for. Default 1000. */
  maxRewind?: number;
  /** How long an idempotency key answers with its first publish, in ms. Default 24 hours. */
  idempotencyWindowMs?: number;
}

/** A state supplied by `HubOptions.getState`. */
export interface SuppliedState {
  data: string;
  type?: string | undefined;
  version?: number | undefined;
}

/** A publish as the hub takes it: an event, with an optional TTL and state version. */
export type PublishInput = Omit<EventInput, 'keepsState' | 'idempotency'>;

export interface PublishOptions {
  /**
   * An `Idempotency-Key`: a retry with the same key and the same request, within the hub's window,
   * answers the original event and stores nothing; the same key with another request is refused
   * (HubInputError 422 from the store's StoreInputError).
   */
  idempotencyKey?: string | undefined;
  /** A label observers see with this publish, for logs (the standalone hub gives the request id). */
  tag?: string | undefined;
}

/** Hooks for metrics and logging; every method is optional and must not throw. */
export interface HubObserver {
  /** `tag` is the label given to `publish` (the standalone hub gives the request id). */
  published?(event: StoredEvent, latencyMs: number, tag?: string): void;
  publishFailed?(error: unknown, tag?: string): void;
  delivered?(count: number): void;
  replayed?(count: number, subscriber: SubscriberView): void;
  resetSent?(reason: ResetSignal['reason'], subscriber: SubscriberView): void;
  subscribed?(subscriber: SubscriberView): void;
  unsubscribed?(subscriber: SubscriberView, reason: CloseReason): void;
  heartbeats?(count: number): void;
  /** A replay failed part-way (the store became unavailable); the stream was ended. */
  replayFailed?(error: unknown): void;
}

export interface SubscribeOptions {
  /** Topic selectors (exact topics, `*`, URI templates). At least one. */
  topics: readonly string[];
  /** Topics matched byte for byte only, never as templates (draft-08's `match` and `match_exact`). */
  exactTopics?: readonly string[] | undefined;
  /** WHATWG URL Patterns (draft-08's `match_urlpattern`); one refused as too complex throws. */
  urlPatterns?: readonly string[] | undefined;
  /** Resume after this id; `earliest` replays all retained history; absent: live only. */
  lastEventId?: string | undefined;
  /**
   * Without `lastEventId`: first the last `rewind` retained events matching the subscription
   * (0: none), then live. A `lastEventId` wins (a reconnecting EventSource sends both).
   */
  rewind?: number | undefined;
  /** Without `lastEventId`: first the retained events published at or after this time (ms). */
  since?: number | undefined;
  sink: SubscriberSink;
  /**
   * Selectors granting private updates (the token's `mercure.subscribe`, a bare string being a
   * draft-07 selector); absent: public only.
   */
  privateTopics?: readonly SelectorSpec[] | undefined;
  expiresAt?: number | undefined;
  subject?: string | undefined;
  /** A label observers see on this subscriber, for logs (the standalone hub gives the request id). */
  tag?: string | undefined;
  /**
   * The Mercure subscriber id shown in subscription events (see `subscriberIdOf`); default: a new
   * `urn:uuid:` per subscription. Used only when the hub tracks presence.
   */
  subscriberId?: string | undefined;
  /** Any JSON shown with this subscriber's subscriptions (the token's `mercure.payload`). */
  payload?: unknown;
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
  /** Sent before the replay, oldest first (kept states, a rewind); all older than `replayAfter`. */
  readonly prelude?: readonly StoredEvent[];
  /** Which replayed events are sent, besides the subscriber's selectors and rights. */
  readonly include?: (event: StoredEvent) => boolean;
}

/** A run of expired events a replay skipped: the subscriber is told before anything newer. */
interface ExpiredRun {
  /** The id the subscriber had before the run. */
  lastSentId: string;
  /** The newest expired event of the run; undefined when there is none to tell. */
  newest: StoredEvent | undefined;
}

const DEFAULT_MAX_REWIND = 1000;
const DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

/** One event on its way to the live subscribers: what fan-out decides once, not per subscriber. */
interface Delivery {
  readonly event: StoredEvent;
  /** Marks the subscribers offered this event already (one may match through several topics). */
  readonly stamp: number;
  readonly slowPolicy: SlowConsumerPolicy;
  frame: Buffer | undefined;
  delivered: number;
}

export class Hub {
  readonly store: Store;
  readonly retryMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBufferedBytes: number;
  readonly maxRewind: number;
  private readonly observer: HubObserver;
  private readonly now: () => number;
  private readonly policies: PolicyBook;
  private readonly getState: HubOptions['getState'];
  private readonly idempotencyWindowMs: number;
  /** Topics whose supplied state is being fetched: concurrent subscribers ask the hook once. */
  private readonly supplying = new Map<string, Promise<void>>();
  private readonly selectors = new SelectorCache();
  private readonly history: HistoryReader;
  private readonly subscribers = new Map<number, Subscriber>();
  /** Exact topic → subscribers with that exact selector. */
  private readonly byExactTopic = new Map<string, Set<Subscriber>>();
  /** Wildcard and template selectors → their subscribers; tested against every event's topics. */
  private readonly byPattern = new Map<TopicSelector, Set<Subscriber>>();
  private readonly flushQueue: Subscriber[] = [];
  private flushScheduled = false;
  private readonly flushPacer = new FlushPacer(() => this.flush());
  private nextSubscriberId = 1;
  private fanoutStamp = 0;
  /** Cursor of the newest event the live feed delivered: where a live-only stream starts. */
  private latestCursor = EARLIEST;
  private readonly ready: Promise<void>;
  /** `ready` has settled successfully. */
  private started = false;
  private readonly detachStore: () => void;
  private readonly detachGaps: () => void;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Active subscriptions, when tracked (HubOptions.presence). */
  private readonly tracker: Presence | undefined;

  constructor(options: HubOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.observer = options.observer ?? {};
    this.now = options.now ?? Date.now;
    this.policies = new PolicyBook(options.topics);
    this.getState = options.getState;
    this.maxRewind = options.maxRewind ?? DEFAULT_MAX_REWIND;
    this.idempotencyWindowMs = options.idempotencyWindowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS;
    this.history = new HistoryReader(this.store);
    this.detachStore = this.store.onEvent((event) => this.fanOut(event));
    // Live subscribers may have missed what the feed skipped: end their streams before the next
    // event, so each reconnects with its last id and resumes exactly, or is told it cannot.
    this.detachGaps = this.store.onFeedGap(() => {
      for (const subscriber of [...this.subscribers.values()]) this.endSubscriber(subscriber, 'gap');
    });
    if (options.presence) {
      const append = (input: EventInput) => this.store.append(input);
      const presenceOptions = options.presence === true ? {} : options.presence;
      this.tracker = new Presence(presenceOptions, append, options.onError ?? (() => undefined));
    }
    this.ready = this.store.head().then(async (head) => {
      if (this.latestCursor === EARLIEST) this.latestCursor = head;
      await this.tracker?.start();
      this.started = true;
    });
    this.ready.catch(() => undefined);
    if (this.heartbeatIntervalMs > 0) {
      // One sweep for all subscribers instead of a timer each: churn creates no timers at all.
      const sweepEvery = Math.max(10, Math.min(1000, Math.floor(this.heartbeatIntervalMs / 4)));
      this.heartbeatTimer = setInterval(() => this.sweep(), sweepEvery);
      this.heartbeatTimer.unref();
    }
  }

  /** The delivery policy of a topic (the first configured selector matching it, or the default). */
  policyOf(topic: string): ResolvedPolicy {
    return this.policies.of(topic);
  }

  /** Validates and stores an event; resolves with the stored event (its id is the store's). */
  async publish(input: PublishInput, options: PublishOptions = {}): Promise<StoredEvent> {
    const checked = this.withPolicy(validateEventInput(input));
    if (options.idempotencyKey !== undefined) {
      const key = validateIdempotencyKey(options.idempotencyKey);
      checked.idempotency = { key, fingerprint: fingerprintOf(checked), windowMs: this.idempotencyWindowMs };
    }
    const started = performance.now();
    try {
      const event = await this.store.append(checked);
      this.observer.published?.(event, performance.now() - started, options.tag);
      return event;
    } catch (error) {
      if (!(error instanceof StoreInputError)) this.observer.publishFailed?.(error, options.tag);
      throw error;
    }
  }

  /** Applies the canonical topic's policy: state topics keep their state, TTL defaults. */
  private withPolicy(input: EventInput): EventInput {
    const policy = this.policies.of(input.topics[0] as string);
    if (input.version !== undefined && policy.mode !== 'state') {
      throw new HubInputError('"version" is only for topics in state mode.');
    }
    // Every field written out, in one order: a spread plus added fields took V8's slow path for
    // defining properties on every publish (a third of the hub's own share of it).
    return {
      topics: input.topics,
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private,
      id: input.id,
      ttlMs: input.ttlMs ?? policy.ttlMs,
      keepsState: policy.mode === 'state' || undefined,
      version: input.version,
      idempotency: undefined,
      retainCount: policy.retainCount,
    };
  }

  /**
   * Opens a subscription. Resolves once the stream's start is decided (and `onStart` was called);
   * history is then replayed page by page, each page read when the sink has taken the last one.
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new Error('hub is closed');
    const exactTopics = options.exactTopics ?? [];
    const urlPatterns = options.urlPatterns ?? [];
    if (options.topics.length + exactTopics.length + urlPatterns.length === 0) {
      throw new RangeError('at least one topic selector is required');
    }
    this.checkRewind(options);
    // Loops, not spreads of mapped arrays: those deoptimized this (large) function three times as
    // their empty arrays' element kinds changed, each a recompilation in a fresh process's storm.
    const selectors: TopicSelector[] = [];
    for (const topic of options.topics) selectors.push(this.selectors.get(topic));
    for (const topic of exactTopics) selectors.push(exactSelector(topic, 'exact'));
    for (const match of urlPatterns) selectors.push(this.selectors.get({ match, matchType: 'urlpattern' }));
    // Once started, not awaited: a promise and a turn less on every connect.
    if (!this.started) await this.ready;
    const grant = {
      selectors,
      privateSelectors: options.privateTopics?.map((topic) => this.selectors.get(topic)),
      expiresAt: options.expiresAt,
      subject: options.subject,
      tag: options.tag,
      presence: this.tracker && {
        subscriber: options.subscriberId ?? `urn:uuid:${randomUUID()}`,
        payload: options.payload,
      },
    };
    const subscriber = new Subscriber(this.nextSubscriberId++, options.sink, grant, this.now());
    this.index(subscriber);
    let plan: StartPlan;
    try {
      plan = await this.planStart(subscriber, options);
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
    this.enqueue(subscriber, openingFrame(this.retryMs, plan.prelude ? undefined : startAfter));
    if (reset) {
      this.enqueue(subscriber, resetFrame(reset));
      this.observer.resetSent?.(reset.reason, subscriber);
    }
    subscriber.lastSentId = startAfter;
    if (plan.replayAfter === undefined) subscriber.goLive(undefined);
    else void this.replay(subscriber, plan.replayAfter, plan);
    this.observer.subscribed?.(subscriber);
    this.tracker?.opened(subscriber);
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
    await this.tracker?.close();
  }

  /** Whether the hub tracks active subscriptions (HubOptions.presence). */
  get tracksPresence(): boolean {
    return this.tracker !== undefined;
  }

  /**
   * The active subscriptions, on every hub sharing the store, whose selector matches `topic` (a
   * topic such as `https://example.com/rooms/1`: a subscription to `…/rooms/{id}` is included); all
   * of them without a topic. Empty when the hub does not track presence.
   */
  presence(topic?: string): ActiveSubscription[] {
    if (!this.tracker) return [];
    if (topic === undefined) return this.tracker.list();
    return this.tracker.list((entry) =>
      this.selectors.get({ match: entry.topic, matchType: entry.matchType }).matches(topic),
    );
  }

  /** The shape of subscription events and API documents (HubOptions.presence.format). */
  get subscriptionsFormat(): SubscriptionsFormat {
    return this.tracker?.format ?? 'draft-07';
  }

  /** Active subscriptions, occupied selectors and presence counts; undefined without presence. */
  presenceStats(): PresenceStats | undefined {
    return this.tracker?.stats();
  }

  /**
   * Calls `listener` on every change of presence: a subscription became active or inactive, a
   * selector gained its first active subscription (`occupied`) or lost its last (`vacant`).
   * Every hub sharing the store hears every change; `change.local` is true on the one hub whose
   * command caused it (the one to act on it, e.g. to send a webhook). Returns the function that
   * detaches it.
   */
  onPresence(listener: (event: PresenceEvent, change: PresenceChange) => void): () => void {
    return this.tracker?.onEvent(listener) ?? (() => undefined);
  }

  /** The newest event id the live feed delivered (`earliest` before any): a point to resume from. */
  get lastEventId(): string {
    return this.latestCursor;
  }

  private subscription(subscriber: Subscriber, start: SubscriptionStart): Subscription {
    return {
      id: subscriber.id,
      start,
      close: (reason: CloseReason = 'client') => this.release(subscriber, reason),
    };
  }

  private checkRewind(options: SubscribeOptions): void {
    const { rewind, since } = options;
    if (rewind !== undefined && since !== undefined) {
      throw new HubInputError('Use "rewind" or "since", not both.');
    }
    if (rewind !== undefined && !(Number.isSafeInteger(rewind) && rewind >= 0)) {
      throw new HubInputError('"rewind" must be a non-negative integer.');
    }
    if (rewind !== undefined && rewind > this.maxRewind) {
      throw new HubInputError(`"rewind" too large: at most ${this.maxRewind}.`);
    }
    if (since !== undefined && !Number.isFinite(since)) throw new HubInputError('"since" must be a time.');
  }

  /** Decides where the stream starts; reads while deciding count as replays (see HistoryReader). */
  private async planStart(subscriber: Subscriber, options: SubscribeOptions): Promise<StartPlan> {
    this.history.replayStarted();
    try {
      return await this.planStartReading(subscriber, options);
    } finally {
      this.history.replayFinished();
    }
  }

  private async planStartReading(subscriber: Subscriber, options: SubscribeOptions): Promise<StartPlan> {
    const { lastEventId } = options;
    if (lastEventId === undefined || lastEventId === '') return this.planFresh(subscriber, options);
    if (lastEventId.length > MAX_LAST_EVENT_ID_LENGTH || /[\r\n\0]/.test(lastEventId)) {
      const failure = { reason: 'malformed', lastEventId } as const;
      return { ...(await this.planFresh(subscriber, {})), failure };
    }
    const point = await this.history.locate(lastEventId);
    if (!point.ok) {
      const failure = { reason: point.reason, lastEventId };
      if (point.resumeFrom === undefined) return { ...(await this.planFresh(subscriber, {})), failure };
      return {
        replayAfter: point.resumeFrom,
        failure,
        firstPage: await this.readPage(subscriber, point.resumeFrom),
      };
    }
    const include = await this.latestStatesOnly(subscriber, point.cursor);
    const firstPage = await this.readPage(subscriber, point.cursor);
    // Trimmed between finding the id and reading after it: the same answer as an older id.
    if (!firstPage.ok) {
      return { ...(await this.planFresh(subscriber, {})), failure: { reason: 'expired', lastEventId } };
    }
    return { replayAfter: point.cursor, resumedFrom: lastEventId, firstPage, include };
  }

  /**
   * Where a stream without a resume point starts: the last `rewind` events, the events `since` a
   * time, the kept states of matching state topics, or (by default, and with no state topic) live.
   */
  private async planFresh(
    subscriber: Subscriber,
    options: Pick<SubscribeOptions, 'rewind' | 'since'>,
  ): Promise<StartPlan> {
    if (options.rewind !== undefined && options.rewind > 0)
      return this.planRewind(subscriber, options.rewind);
    if (options.since !== undefined) return this.planSince(subscriber, options.since);
    if (!this.policies.hasStateTopics) return { replayAfter: undefined };
    await this.supplyMissingStates(subscriber);
    // The subscriber is indexed already; every event after `through` comes by the replay from it.
    const snapshot = await this.store.readStates({ topics: exactTopicsOf(subscriber) });
    const now = this.now();
    const prelude = snapshot.states.filter(
      (state) => subscriber.wants(state) && !isExpired(state, now) && this.isStateEvent(state),
    );
    return { replayAfter: snapshot.through, prelude };
  }

  /**
   * The events at or after `since`. When history older than the oldest retained event was trimmed
   * and `since` does not lie after that event, events the subscriber asked for may be gone: it is
   * told (the reset signal, `expired`) before the oldest retained events, never silently started
   * there.
   */
  private async planSince(subscriber: Subscriber, since: number): Promise<StartPlan> {
    const include = (event: StoredEvent): boolean => event.time >= since;
    const firstPage = await this.readPage(subscriber, EARLIEST);
    if (!firstPage.ok || firstPage.gone === undefined) return { replayAfter: EARLIEST, include, firstPage };
    // Trimmed events are no newer than the oldest retained event of any topic.
    const oldest = await this.store.readPage({ after: EARLIEST, limit: 1 });
    const oldestTime = oldest.ok ? oldest.events[0]?.time : undefined;
    if (oldestTime !== undefined && oldestTime < since) return { replayAfter: EARLIEST, include, firstPage };
    const gone = firstPage.gone;
    return {
      replayAfter: gone,
      include,
      failure: { reason: 'expired', lastEventId: '' },
      firstPage: await this.readPage(subscriber, gone),
    };
  }

  /** The last `count` retained events the subscriber wants, read backwards from the newest. */
  private async planRewind(subscriber: Subscriber, count: number): Promise<StartPlan> {
    const readLatest = this.store.readLatest?.bind(this.store);
    if (readLatest === undefined) return this.planRewindForward(subscriber, count);
    const topics = exactTopicsOf(subscriber);
    const wanted: StoredEvent[] = [];
    const now = this.now();
    let page = await readLatest({ limit: REPLAY_PAGE_SIZE, topics });
    const replayAfter = page.through;
    for (;;) {
      for (let i = page.events.length - 1; i >= 0 && wanted.length < count; i--) {
        const event = page.events[i] as StoredEvent;
        if (subscriber.wants(event) && !this.isGone(event, now)) wanted.push(event);
      }
      if (wanted.length >= count || page.next === undefined) break;
      page = await readLatest({ before: page.next, limit: REPLAY_PAGE_SIZE, topics });
    }
    return { replayAfter, prelude: wanted.reverse() };
  }

  /** As `planRewind`, for a store that cannot read backwards: forward page by page. */
  private async planRewindForward(subscriber: Subscriber, count: number): Promise<StartPlan> {
    const wanted: StoredEvent[] = [];
    let after = EARLIEST;
    for (;;) {
      const page = await this.readPage(subscriber, after);
      // Trimmed under the scan: what is left is newer, read again from the oldest retained.
      if (!page.ok) {
        wanted.length = 0;
        after = EARLIEST;
        continue;
      }
      const now = this.now();
      for (const event of page.events) {
        if (!subscriber.wants(event) || this.isGone(event, now)) continue;
        wanted.push(event);
        if (wanted.length > count) wanted.shift();
      }
      after = page.through;
      if (page.end) return { replayAfter: after, prelude: wanted };
    }
  }

  /**
   * For a resume with state topics: the replay sends a state topic's event only when it is the
   * topic's latest (or newer than the states read), so a reconnect gets just what changed.
   */
  private async latestStatesOnly(
    subscriber: Subscriber,
    after: string,
  ): Promise<((event: StoredEvent) => boolean) | undefined> {
    if (!this.policies.hasStateTopics) return undefined;
    const snapshot = await this.store.readStates({ after, topics: exactTopicsOf(subscriber) });
    const latest = new Map(snapshot.states.map((state) => [state.topics[0], state.cursor]));
    const through = snapshot.through;
    // A topic with no state newer than `after` can only have events the store did not keep as its
    // state (published before the topic's policy said `state`): those are sent as in a stream.
    return (event) => {
      if (!this.isStateEvent(event)) return true;
      const newest = latest.get(event.topics[0]);
      return (
        newest === undefined ||
        newest === event.cursor ||
        this.store.compareCursors(event.cursor, through) > 0
      );
    };
  }

  private isStateEvent(event: StoredEvent): boolean {
    return this.policies.of(event.topics[0] as string).mode === 'state';
  }

  /** Asks `getState` for the exactly named state topics the store keeps no state of. */
  private async supplyMissingStates(subscriber: Subscriber): Promise<void> {
    const getState = this.getState;
    if (getState === undefined) return;
    const topics = subscriber.selectors
      .filter((selector) => selector.kind === 'exact' && this.policies.of(selector.source).mode === 'state')
      .map((selector) => selector.source);
    if (topics.length === 0) return;
    const kept = await this.store.readStates({ topics });
    const missing = topics.filter((topic) => !kept.states.some((state) => state.topics[0] === topic));
    await Promise.all(
      missing.map((topic) => {
        let pending = this.supplying.get(topic);
        if (pending === undefined) {
          pending = this.supplyState(topic, getState).finally(() => this.supplying.delete(topic));
          this.supplying.set(topic, pending);
        }
        return pending;
      }),
    );
  }

  private async supplyState(topic: string, getState: NonNullable<HubOptions['getState']>): Promise<void> {
    try {
      const state = await getState(topic);
      if (state !== undefined) await this.publish({ topics: [topic], ...state });
    } catch (error) {
      // A stale supplied state lost to a newer publish: nothing to do. Anything else is reported;
      // the subscriber then starts without a state, as with no hook.
      if (!(error instanceof StoreInputError)) this.observer.publishFailed?.(error);
    }
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
  private async replay(subscriber: Subscriber, after: string, plan: StartPlan): Promise<void> {
    const lowWater = this.maxBufferedBytes / 4;
    const expired: ExpiredRun = { lastSentId: subscriber.lastSentId, newest: undefined };
    const include = plan.include ?? (() => true);
    let cursor = after;
    let page = plan.firstPage;
    this.history.replayStarted();
    try {
      if (plan.prelude) {
        if (!(await this.queuePage(subscriber, plan.prelude, include, expired))) return;
        // The client continues after the position the prelude was read at, not after its last event.
        this.enqueue(subscriber, cursorFrame(after));
        subscriber.lastSentId = expired.lastSentId = after;
      }
      for (;;) {
        while (!subscriber.closed && subscriber.backlogBytes > lowWater) await subscriber.drained();
        page ??= await this.readPage(subscriber, cursor);
        if (subscriber.closed) return;
        // Trimmed while this subscriber read: it reconnects with its last id and is told.
        if (!page.ok) return this.endSubscriber(subscriber, 'gap');
        if (!(await this.queuePage(subscriber, page.events, include, expired))) return;
        cursor = page.through;
        const ahead = this.store.compareCursors(cursor, this.latestCursor);
        if (page.end && ahead >= 0) {
          this.tellExpired(subscriber, expired);
          return subscriber.goLive(ahead > 0 ? cursor : undefined);
        }
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

  /**
   * Queues a page's wanted events within the backlog bound; false once the subscriber closed. An
   * expired event is skipped and, before anything newer, the subscriber gets the reset signal: a
   * resume across expired events is told, exactly as one across trimmed events.
   */
  private async queuePage(
    subscriber: Subscriber,
    events: readonly StoredEvent[],
    include: (event: StoredEvent) => boolean,
    expired: ExpiredRun,
  ): Promise<boolean> {
    let replayed = 0;
    const now = this.now();
    for (const event of events) {
      if (!subscriber.wants(event) || !include(event)) continue;
      if (this.isGone(event, now)) {
        expired.newest = event;
        continue;
      }
      const frame = frameOf(event);
      while (
        !subscriber.closed &&
        subscriber.backlogBytes > 0 &&
        subscriber.backlogBytes + frame.length > this.maxBufferedBytes
      ) {
        await (subscriber.hasPending ? nextTurn() : subscriber.drained());
      }
      if (subscriber.closed) break;
      this.tellExpired(subscriber, expired);
      this.enqueue(subscriber, frame);
      subscriber.lastSentId = expired.lastSentId = event.id;
      replayed++;
    }
    if (replayed > 0) this.observer.replayed?.(replayed, subscriber);
    return !subscriber.closed;
  }

  /**
   * Whether an event is no longer retained for replays: expired (TTL), retired by its topic's
   * retained count, or older than its topic's retained age.
   */
  private isGone(event: StoredEvent, now: number): boolean {
    if (event.retired === true || isExpired(event, now)) return true;
    if (!this.policies.hasRetainAge) return false;
    const retainAgeMs = this.policies.of(event.topics[0] as string).retainAgeMs;
    return retainAgeMs !== undefined && event.time + retainAgeMs <= now;
  }

  /** Sends the reset signal for a run of expired events, if there was one. */
  private tellExpired(subscriber: Subscriber, expired: ExpiredRun): void {
    const newest = expired.newest;
    if (newest === undefined) return;
    expired.newest = undefined;
    const signal: ResetSignal = { reason: 'expired', lastEventId: expired.lastSentId, resumeFrom: newest.id };
    this.enqueue(subscriber, resetFrame(signal));
    subscriber.lastSentId = expired.lastSentId = newest.id;
    this.observer.resetSent?.('expired', subscriber);
  }

  private fanOut(event: StoredEvent): void {
    this.latestCursor = event.cursor;
    if (isControlEvent(event)) {
      this.tracker?.apply(event);
      const command = controlCommandOf(event);
      if (command?.action === 'disconnect') this.disconnectSubject(command.subject);
      return;
    }
    // Once per event, not per subscriber; a hub without policies answers the default at once.
    const delivery: Delivery = {
      event,
      stamp: ++this.fanoutStamp,
      slowPolicy: this.policies.of(event.topics[0] as string).slowConsumer,
      frame: undefined,
      delivered: 0,
    };
    for (const topic of event.topics) {
      const exact = this.byExactTopic.get(topic);
      if (exact) this.offerLive(exact, delivery);
    }
    for (const [selector, subscribers] of this.byPattern) {
      if (event.topics.some((topic) => selector.matches(topic))) this.offerLive(subscribers, delivery);
    }
    if (delivery.delivered > 0) this.observer.delivered?.(delivery.delivered);
  }

  /** Queues the event to each subscriber that wants it and was not offered it already. */
  private offerLive(subscribers: Iterable<Subscriber>, delivery: Delivery): void {
    const { event, stamp, slowPolicy } = delivery;
    for (const subscriber of subscribers) {
      if (subscriber.fanoutStamp === stamp) continue;
      subscriber.fanoutStamp = stamp;
      if (!subscriber.acceptsLive(event, this.store)) continue;
      // Encoded once per event, and only when someone takes it.
      const frame = (delivery.frame ??= frameOf(event));
      if (slowPolicy === 'disconnect') this.enqueueEvent(subscriber, frame, event);
      else this.enqueueOrShed(subscriber, frame, event, slowPolicy);
      delivery.delivered++;
    }
  }

  private enqueueEvent(subscriber: Subscriber, frame: Buffer, event: StoredEvent): void {
    this.enqueue(subscriber, frame);
    // Only a `skip` gap needs where it starts: a hub without such topics keeps fan-out as it was.
    if (this.policies.hasSkipTopics) subscriber.lastSentId = event.id;
  }

  /**
   * `skip` and `latest` topics: an event that does not fit within the subscriber's bound is shed
   * instead of cutting the subscriber off. `skip` drops it and, once the reader has caught up and
   * before anything newer, sends the reset signal naming the dropped range; `latest` keeps only
   * the newest shed update per topic and sends those once the reader has caught up.
   */
  private enqueueOrShed(
    subscriber: Subscriber,
    frame: Buffer,
    event: StoredEvent,
    policy: 'skip' | 'latest',
  ): void {
    const shed = subscriber.shed;
    if (shed === undefined && subscriber.backlogBytes + frame.length <= this.maxBufferedBytes) {
      return this.enqueueEvent(subscriber, frame, event);
    }
    if (shed === undefined) {
      subscriber.shed = { skipped: undefined, latest: new Map() };
      void this.catchUp(subscriber);
    }
    const { shed: pending } = subscriber;
    if (pending === undefined) return;
    if (policy === 'latest') {
      const topic = event.topics[0] as string;
      pending.latest.delete(topic);
      pending.latest.set(topic, event);
    } else {
      pending.skipped ??= { lastEventId: subscriber.lastSentId, first: event, last: event, count: 0 };
      pending.skipped.last = event;
      pending.skipped.count++;
    }
  }

  /** Waits until a shedding subscriber's backlog has room, then sends what it was owed, in order. */
  private async catchUp(subscriber: Subscriber): Promise<void> {
    const lowWater = this.maxBufferedBytes / 4;
    while (!subscriber.closed && subscriber.backlogBytes > lowWater) await subscriber.drained();
    const shed = subscriber.shed;
    subscriber.shed = undefined;
    if (subscriber.closed || shed === undefined) return;
    const owed: StoredEvent[] = [...shed.latest.values()];
    const skipped = shed.skipped;
    // Cursor order across the two kinds, so ids keep moving forward.
    if (skipped !== undefined) owed.push(skipped.last);
    owed.sort((a, b) => this.store.compareCursors(a.cursor, b.cursor));
    for (const event of owed) {
      if (skipped !== undefined && event === skipped.last) {
        const signal: ResetSignal = {
          reason: 'skipped',
          lastEventId: skipped.lastEventId,
          resumeFrom: skipped.last.id,
          firstSkipped: skipped.first.id,
          skipped: skipped.count,
        };
        this.enqueue(subscriber, resetFrame(signal));
        subscriber.lastSentId = skipped.last.id;
        this.observer.resetSent?.('skipped', subscriber);
      } else {
        this.enqueueEvent(subscriber, frameOf(event), event);
      }
    }
  }

  private enqueue(subscriber: Subscriber, frame: Buffer): void {
    if (subscriber.enqueue(frame)) this.flushQueue.push(subscriber);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything queued until then goes out in one write per socket.
      this.flushPacer.schedule();
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
    this.tracker?.released(subscriber);
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

function isExpired(event: StoredEvent, now: number): boolean {
  return event.expiresAt !== undefined && event.expiresAt <= now;
}

/** What makes two publishes "the same request" for an idempotency key. */
function fingerprintOf(input: EventInput): string {
  const { topics, data, type, retry, id, ttlMs, version } = input;
  const request = [topics, data, type ?? null, retry ?? null, input.private === true, id ?? null];
  return createHash('sha256')
    .update(JSON.stringify([...request, ttlMs ?? null, version ?? null]))
    .digest('base64url');
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
