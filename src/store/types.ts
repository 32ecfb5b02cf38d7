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
    }
  /** Events right after `after` were trimmed before they could be read: there is a gap. */
  | { readonly ok: false; readonly reason: 'expired' };

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
   * is safe; any other is rejected with StoreInputError (code `conflict`).
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
