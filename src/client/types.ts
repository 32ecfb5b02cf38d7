/** Public types of the reconnecting client (`ssehub/client`). */

export type ClientState = 'connecting' | 'open' | 'retrying' | 'closed';

/** One server-sent event, as delivered to `on(type, …)` listeners. `T` is its JSON payload type. */
export interface ClientEvent<T = unknown> {
  /** The event type (`message` unless the server sent `event:`). */
  readonly type: string;
  readonly data: string;
  /** The stream's last event id when this event arrived (the id to resume after). */
  readonly id: string;
  /** `JSON.parse(data)`, typed by the client's event map (or by the caller). */
  json<U = T>(): U;
}

/**
 * Why the client is retrying or closed. `message` is a one-line human explanation; `code` is for
 * programs. Retryable codes: network, stream-ended, heartbeat-timeout, server-error, unauthorized
 * (while token refreshes remain), token-error, reconnect. Final codes: closed, aborted, no-content,
 * unauthorized, http-status, content-type, event-too-large.
 */
export interface Reason {
  readonly code:
    | 'network'
    | 'stream-ended'
    | 'heartbeat-timeout'
    | 'server-error'
    | 'unauthorized'
    | 'token-error'
    | 'reconnect'
    | 'closed'
    | 'aborted'
    | 'no-content'
    | 'http-status'
    | 'content-type'
    | 'event-too-large';
  readonly message: string;
  /** The HTTP status, when a response caused this. */
  readonly status?: number;
}

export type StateChange =
  /** `attempt` is 0 for the first connection, then the number of the retry (1, 2, …). */
  | { readonly state: 'connecting'; readonly attempt: number }
  /** `resumedAfter` is the hub's `Last-Event-ID` response header: where the stream continues. */
  | { readonly state: 'open'; readonly attempt: number; readonly resumedAfter: string | null }
  | { readonly state: 'retrying'; readonly attempt: number; readonly delay: number; readonly reason: Reason }
  | { readonly state: 'closed'; readonly reason: Reason };

/**
 * The hub could not resume where the client asked (the id is unknown, expired or malformed): events
 * may have been missed, so the application should refetch its state. The stream goes on live.
 */
export interface ResetNotice {
  /** The hub's reason, e.g. `unknown`, `expired`, `malformed`. */
  readonly reason: string;
  /** The id the client asked to resume after. */
  readonly lastEventId: string;
  /** The id the stream continues after now. */
  readonly resumeFrom: string;
}

/** Called before connecting: `refresh` is true after the hub answered 401 (the token expired). */
export type TokenProvider = (context: {
  refresh: boolean;
}) => string | undefined | Promise<string | undefined>;

/** The slice of the Web Storage API the client needs; `sessionStorage` and `localStorage` fit. */
export interface LastEventIdStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Timers and time, injectable so tests can drive backoff and the watchdog with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Something that fires `online` events (a browser `window` or worker `self`). */
export interface OnlineEventSource {
  addEventListener(type: 'online', listener: () => void): void;
  removeEventListener(type: 'online', listener: () => void): void;
}

export interface BackoffOptions {
  /** First retry delay in ms when the server sent no `retry:`. Default 1000. */
  initial?: number;
  /** Each consecutive failure multiplies the delay by this. Default 2. */
  factor?: number;
  /** Upper bound of the delay in ms (a server `retry:` above it still wins). Default 30,000. */
  max?: number;
  /**
   * Fraction of the delay randomly taken off, to spread reconnect storms: 0..1. Default 0.5. A
   * server's `Retry-After` is waited in full, plus up to one more second; 0 turns both off.
   */
  jitter?: number;
  /** A connection open at least this long (ms) counts as healthy and resets the backoff. Default 5000. */
  healthyAfter?: number;
}

export interface ClientOptions {
  /** Topic selectors: appended to the URL as `topic` parameters (Mercure). */
  topics?: readonly string[];
  /** Resume after this id on the first connection (wins over `storage`). */
  lastEventId?: string;
  /** A bearer token, or a function returning one; called again after a 401. */
  token?: string | TokenProvider;
  /** Consecutive 401 answers tolerated (each followed by a token refresh). Default 3. */
  maxAuthAttempts?: number;
  /** Extra request headers, or a function returning them before each connection. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** Credentials mode of the request (`include` sends cookies cross-origin). Default `same-origin`. */
  credentials?: RequestCredentials;
  /** The fetch implementation. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  backoff?: BackoffOptions;
  /**
   * When nothing (event or comment) arrives for this many ms, the connection is considered dead and
   * replaced. Set it above the hub's heartbeat interval. Default 45,000; 0 disables the watchdog.
   */
  heartbeatTimeout?: number;
  /**
   * Longest event accepted, in characters (its data, or any one line). A longer one closes the
   * client (`event-too-large`) rather than being buffered without bound. Default 16 Mi characters
   * (the hub accepts 1 MiB publishes by default).
   */
  maxEventLength?: number;
  /** Closes the client when aborted. */
  signal?: AbortSignal;
  /** Persists the last event id (e.g. `sessionStorage`) so a page reload resumes. */
  storage?: LastEventIdStorage;
  /** Key under which `storage` keeps the id. Default `ssehub:last-event-id:<url>`. */
  storageKey?: string;
  /** Source of `online` events that trigger an immediate reconnect. Default: the global scope, if any. */
  onlineEvents?: OnlineEventSource | null;
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * Share one connection with this origin's other tabs (opt-in): `true`, a group name (only streams
   * of the same group share), or {@link ShareOptions}. Tabs share only when their rights are
   * provably the same (docs/client-sharing.md); otherwise, and where Web Locks or BroadcastChannel
   * are missing (Node.js, older browsers), the client connects on its own. Default: no sharing.
   */
  share?: boolean | string | ShareOptions;
}

export interface ShareOptions {
  /** Streams with the same group name may share a connection. Default `default`. */
  group?: string;
  /**
   * The topics an event belongs to (Mercure events do not carry them), e.g. a field of its JSON.
   * With it, tabs subscribed to different topics share one connection to the union of their topics,
   * and each tab receives only the events of its own topics. Without it, only tabs with the same
   * topics share. Every tab of a group must read topics the same way. `undefined`: every tab.
   */
  topicsOf?: (event: ClientEvent) => string | readonly string[] | undefined;
}

/**
 * Maps event types to their JSON payload types, e.g. `{ message: Note; 'book.updated': Book }`, so
 * `client.on('book.updated', (event) => event.json())` is typed. Optional: the default is untyped.
 */
export type EventMap = Record<string, unknown>;

export interface SseClient<Events extends EventMap = EventMap> {
  /** Listen to server events of one type (`message` for untyped ones). Returns an unsubscribe function. */
  on<K extends keyof Events & string>(type: K, listener: (event: ClientEvent<Events[K]>) => void): () => void;
  off<K extends keyof Events & string>(type: K, listener: (event: ClientEvent<Events[K]>) => void): void;
  /** Listen to every server event, whatever its type. */
  onAny(listener: (event: ClientEvent) => void): () => void;
  /** Listen to connection state changes (connecting, open, retrying, closed). */
  onState(listener: (change: StateChange) => void): () => void;
  /** Listen to the hub's "cannot resume, refetch your state" signal. */
  onReset(listener: (notice: ResetNotice) => void): () => void;
  readonly state: ClientState;
  readonly lastEventId: string;
  /** How many times the client connected again after its first connection attempt. */
  readonly reconnects: number;
  /** The subscription URL (with topics). */
  readonly url: string;
  /** Resolves with the reason once the client is closed for good. */
  readonly closed: Promise<Reason>;
  /** Drop the current connection (or skip the wait) and connect again now. */
  reconnect(): void;
  close(): void;
}
