/**
 * The Store seam. A store owns event ids and history; the hub never knows which store it runs on.
 *
 * Every store keeps one totally ordered log of events (all topics together). Ids are assigned by the
 * store unless the publisher supplied one; `cursor` is the store's own unique position and is what
 * the hub uses to de-duplicate history against the live feed during a resume.
 */

export interface EventInput {
  /** The first topic is the canonical one, the others are alternates (Mercure). At least one. */
  topics: readonly string[];
  data: string;
  /** SSE `event` field. */
  type?: string | undefined;
  /** SSE `retry` field, in milliseconds. */
  retry?: number | undefined;
  /** Private updates go only to subscribers authorized for one of their topics. */
  private?: boolean | undefined;
  /** A publisher-supplied id; when absent the store generates one. */
  id?: string | undefined;
  /** Time to live in ms: the event expires `ttlMs` after the store accepted it (`expiresAt`). */
  ttlMs?: number | undefined;
  /**
   * The event is its canonical topic's (`topics[0]`) new state: the store keeps it as that topic's
   * latest (see `readStates`), also after the log trimmed it, until a newer state replaces it.
   */
  keepsState?: boolean | undefined;
  /**
   * With `keepsState`: the state's version. When the topic's kept state has a version at or above
   * it, nothing is stored and the append is rejected with StoreInputError (`conflict`, stale), checked
   * atomically with the store, so out-of-order publishers on any hub cannot overwrite newer state.
   */
  version?: number | undefined;
  /** Makes a retried publish answer the original event (see `IdempotencyClaim`). */
  idempotency?: IdempotencyClaim | undefined;
  /**
   * The canonical topic's retained count (its policy's `retainCount`): once stored, only the newest
   * `retainCount` events whose canonical topic is `topics[0]` stay; the store retires the older
   * ones (see `StoredEvent.retired`), atomically with the append on every hub sharing it.
   */
  retainCount?: number | undefined;
}

/**
 * An `Idempotency-Key` claim, checked atomically with the append. While a record of `key` exists
 * (for `windowMs` after the first append), an append with the same `fingerprint` stores nothing and
 * resolves with the recorded event (also once the log trimmed it); another `fingerprint` is rejected
 * with StoreInputError (`idempotency_key_reused`). The record outlives the event's retention: it only answers the id.
 */
export interface IdempotencyClaim {
  /** The publisher's key, at most 255 printable ASCII characters (the hub checks it). */
  readonly key: string;
  /** A digest of everything the publish asked for (the hub computes it); equal means "same request". */
  readonly fingerprint: string;
  readonly windowMs: number;
}

export interface StoredEvent {
  readonly id: string;
  /** The store's unique, ordered position of this event (equal to `id` for generated ids). */
  readonly cursor: string;
  readonly topics: readonly string[];
  readonly data: string;
  readonly type?: string | undefined;
  readonly retry?: number | undefined;
  readonly private: boolean;
  /** Milliseconds since the epoch when the store accepted the event. */
  readonly time: number;
  /** Milliseconds since the epoch when the event expires (`time + ttlMs`); absent: never. */
  readonly expiresAt?: number | undefined;
  /** The state version it was published with (state topics only). */
  readonly version?: number | undefined;
  /**
   * The event is no longer retained by its topic's policy (`EventInput.retainCount`): what a read
   * returns is a stub (its `data` dropped, `id`, `cursor`, `topics` and `time` kept), so that a
   * replay crossing it tells the subscriber (the reset signal) instead of skipping it silently.
   * Never sent to a subscriber.
   */
  readonly retired?: true | undefined;
}

export interface StateRequest {
  /** Only states whose event is newer than this cursor (a reconnect: what changed); absent: all. */
  readonly after?: string | undefined;
  /**
   * Only the states of these exact topics are wanted. A store may return others too (the hub
   * filters every state); absent: every kept state.
   */
  readonly topics?: readonly string[] | undefined;
}

export interface StateSnapshot {
  /** The latest state of each topic (see `EventInput.keepsState`), oldest first. */
  readonly states: readonly StoredEvent[];
  /**
   * The newest cursor of the log when the states were read, in the same atomic step: every event
   * after it is newer than every state returned, so a replay from it misses nothing and repeats
   * nothing. `EARLIEST` when the log is empty.
   */
  readonly through: string;
}

/** The reserved cursor meaning "before the first event ever stored": replay all retained history. */
export const EARLIEST = 'earliest';

export const RESUME_FAILURES = [
  /** The id was never issued by this store (another process's epoch, a typo, a forged value). */
  'unknown',
  /** The id was issued but its event is no longer retained. */
  'expired',
] as const;
export type ResumeFailure = (typeof RESUME_FAILURES)[number];

/** Where a client's `Last-Event-ID` resumes: the cursor of the event it names. */
export type ResumePoint =
  | { readonly ok: true; readonly cursor: string }
  | {
      readonly ok: false;
      readonly reason: ResumeFailure;
      /**
       * Where the subscriber continues after being told: a cursor to replay from. Set when the id
       * comes from an earlier life of this store (a restart of an in-memory store, Redis data
       * lost), whose retained history is all new to the client. Absent: live from the newest event.
       */
      readonly resumeFrom?: string;
    };

export interface PageRequest {
  /** Read events strictly after this cursor; `EARLIEST` reads from the oldest retained event. */
  readonly after: string;
  /** At most this many events. A positive integer. */
  readonly limit: number;
  /**
   * Only events carrying one of these exact topics are wanted. A store with a topic index reads
   * just those; a store without one may return other events too (the hub filters every event).
   * Absent: every event is wanted.
   */
  readonly topics?: readonly string[] | undefined;
}

export type HistoryPage =
  | {
      readonly ok: true;
      /** Oldest first. Every retained (wanted) event after `after` and up to `through`. */
      readonly events: readonly StoredEvent[];
      /**
       * The cursor this page covers through: the next page reads after it. When `end` is true it
       * is the newest cursor the store held at read time (or `after`, or `EARLIEST`, when none).
       */
      readonly through: string;
      /** The page reached the newest event the store held when it was read. */
      readonly end: boolean;
      /**
       * For a read after `EARLIEST`: the newest cursor the store no longer retains (history before
       * the oldest event was trimmed); absent when nothing was ever trimmed.
       */
      readonly gone?: string | undefined;
    }
  /** Events right after `after` were trimmed before they could be read: there is a gap. */
  | { readonly ok: false; readonly reason: 'expired' };

export interface LatestRequest {
  /** Read events strictly before this cursor; absent: from the newest event. */
  readonly before?: string | undefined;
  /** At most this many events. A positive integer. */
  readonly limit: number;
  /** As in `PageRequest`: a store may return other topics' events too. */
  readonly topics?: readonly string[] | undefined;
}

/** Events read backwards from the newest, for a rewind: never the whole log for a few events. */
export interface LatestPage {
  /** Oldest first: the retained (wanted) events right before `before`, at most `limit`. */
  readonly events: readonly StoredEvent[];
  /** Without `before`: the newest cursor when read (`EARLIEST` when none); else `before`. */
  readonly through: string;
  /** Where the next (older) page reads before; undefined once the oldest retained was reached. */
  readonly next: string | undefined;
}

export type LiveListener = (event: StoredEvent) => void;

export interface Store {
  /** Short name for logs and metrics, e.g. `memory` or `redis`. */
  readonly kind: string;
  /**
   * Stores the event and resolves once it is durable in this store; rejects if it could not be.
   *
   * A supplied `id` never shadows another event's id, so a resume always lands on the event the
   * client saw. Rejected with StoreInputError (code `invalid_input`), storing nothing: `earliest`, and any id of the
   * shape this store generates (whether or not it issued that id). When a retained event already
   * has the supplied id, nothing is stored or delivered: an identical publish (same topics, data,
   * type, retry, private) resolves with that retained event, so a retry after an unknown outcome
   * is safe; any other is rejected with StoreInputError (code `conflict`). `idempotency` is checked
   * first: a recorded key answers before any id rule, and the supplied-id rules apply to a new
   * request. `keepsState` with a stale `version` is rejected (`conflict`) and stores nothing.
   *
   * Rejected with StoreUnavailableError when the store could not take the event: then it was not
   * stored and will not be (see the store's own notes for what it can promise).
   */
  append(input: EventInput): Promise<StoredEvent>;
  /**
   * The cursor of the event a client's last event id names (a supplied id or a generated one), or
   * why it cannot be resumed from. `EARLIEST` locates before the oldest retained event.
   */
  locate(lastEventId: string): Promise<ResumePoint>;
  /**
   * One page of history after a cursor, oldest first. The hub reads the next page only when the
   * subscriber's socket has taken the previous one, so a replay never holds more than a page.
   */
  readPage(request: PageRequest): Promise<HistoryPage>;
  /**
   * One page of history read backwards: the newest events before a cursor (or before nothing, the
   * newest of all), oldest first within the page. A rewind reads what it needs from the end, never
   * the log from its start. Retired and expired events are returned like any other. Optional: a
   * store without it is rewound by reading forward.
   */
  readLatest?(request: LatestRequest): Promise<LatestPage>;
  /**
   * The kept states (one per topic published with `keepsState`) and the log cursor they are
   * current at, read atomically. An expired state (`expiresAt` past) is still returned: the hub
   * decides what has expired by its own clock. Stores hold one state per topic, so the answer is
   * as large as the number of state topics.
   */
  readStates(request: StateRequest): Promise<StateSnapshot>;
  /**
   * Cursor of the newest event the live feed has delivered (or will deliver no event at or before),
   * or `EARLIEST` when nothing is retained: every event after it reaches `onEvent` listeners that
   * were attached before the call. A cursor is a generated id, so a client may resume from it.
   */
  head(): Promise<string>;
  /**
   * Every event appended to this store, by any process sharing it, delivered once and in store
   * order. Returns a function that detaches the listener.
   */
  onEvent(listener: LiveListener): () => void;
  /**
   * Listens for gaps in the live feed: events that were trimmed before this process could deliver
   * them (e.g. after a long disconnection from a shared store). Called before the first event after
   * the gap is delivered. Returns a function that detaches the listener.
   */
  onFeedGap(listener: () => void): () => void;
  /** Orders two cursors: negative when `a` is older, 0 when equal; `EARLIEST` precedes all. */
  compareCursors(a: string, b: string): number;
  /** Whether the store can currently take appends (for readiness checks). */
  isReady(): boolean;
  close(): Promise<void>;
}
