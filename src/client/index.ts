/**
 * `ssehub/client`: a reconnecting Server-Sent Events client for browsers and Node.js that keeps its
 * place (Last-Event-ID on every reconnect, optional persistence), backs off with jitter, refreshes
 * its token after a 401, replaces silent connections and reports why it stopped.
 * With `share`, tabs of one origin share one connection (docs/client-sharing.md).
 * Browser-safe: no Node.js imports.
 */

/** Opens a reconnecting stream; returns the client (events, state changes, `close()`). */
export { createClient } from './create.js';
/** The reset reason of a tab that joins a share group past the id it wanted to resume after. */
export { JOINED_SHARED_STREAM } from './shared-client.js';
/** A hub URL with one `topic` parameter per topic selector. */
export { subscriptionUrl } from './url.js';
/** The client: `on(type, listener)`, `onState`, `onReset`, `state`, `lastEventId`, `close()`. */
export type { SseClient } from './types.js';
/** `createClient`'s settings: topics, token, storage, backoff, heartbeat timeout, fetch. */
export type { ClientOptions } from './types.js';
/** One received event: its type, data, the id to resume after, and `json()`. */
export type { ClientEvent } from './types.js';
/** Event type → data type, for typed listeners. */
export type { EventMap } from './types.js';
/** `connecting`, `open`, `retrying` or `closed`. */
export type { ClientState } from './types.js';
/** A change of state and why it happened. */
export type { StateChange } from './types.js';
/** Why a connection stopped: a stable `code` and a one-line message. */
export type { Reason } from './types.js';
/** The hub could not resume where the client asked: why, and where the stream continues. */
export type { ResetNotice } from './types.js';
/** Supplies a (fresh) token, asked again after a 401. */
export type { TokenProvider } from './types.js';
/** Where the last event id is kept across page loads (e.g. `localStorage`). */
export type { LastEventIdStorage } from './types.js';
/** Reconnection delays: initial, factor, maximum, jitter. */
export type { BackoffOptions } from './types.js';
/** `share`'s settings: the group, and how to read an event's topics to route it per tab. */
export type { ShareOptions } from './types.js';
/** Timers, for tests and non-browser environments. */
export type { Clock } from './types.js';
/** Whether the network is back (`navigator.onLine` and its `online` event). */
export type { OnlineEventSource } from './types.js';
