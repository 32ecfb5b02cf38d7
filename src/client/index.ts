/**
 * `ssehub/client`: a reconnecting Server-Sent Events client for browsers and Node.js that keeps its
 * place (Last-Event-ID on every reconnect, optional persistence), backs off with jitter, refreshes
 * its token after a 401, replaces silent connections and reports why it stopped.
 * Browser-safe: no Node.js imports.
 */
export { createClient } from './client.js';
export { subscriptionUrl } from './url.js';
export { retryDelay, backoffPolicy } from './backoff.js';
export type { BackoffPolicy } from './backoff.js';
export type {
  BackoffOptions,
  ClientEvent,
  ClientOptions,
  ClientState,
  Clock,
  EventMap,
  LastEventIdStorage,
  OnlineEventSource,
  Reason,
  ResetNotice,
  SseClient,
  StateChange,
  TokenProvider,
} from './types.js';
