/**
 * Every default and limit shared between layers, written once: the library (Hub, stores, HTTP
 * handlers) and the standalone hub's configuration table both read them from here, so `--help`,
 * the README table and a hub built in code cannot disagree. Imports nothing (safe anywhere).
 */

/** Reconnection delay sent to clients as `retry:` when a stream opens (ms). */
export const DEFAULT_RETRY_MS = 3000;

/** A comment is sent on a stream idle this long (ms). */
export const DEFAULT_HEARTBEAT_MS = 15_000;

/** A subscriber with more unsent bytes than this is disconnected (it resumes later). 4 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Events a store retains for resume. */
export const DEFAULT_HISTORY_SIZE = 10_000;

/** Most topics in one update, and most topic selectors in one subscription (as the Mercure reference hub). */
export const DEFAULT_MAX_TOPICS = 1000;

/** Longest topic, or topic selector (characters). */
export const DEFAULT_MAX_TOPIC_LENGTH = 2048;

/** Largest publish request body (bytes). 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A request body must arrive whole within this once reading starts (ms). */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** Request body bytes held at once across requests. 64 MiB. */
export const DEFAULT_BODY_BUDGET_BYTES = 64 * 1024 * 1024;

/** Namespace of the Redis keys; hubs sharing a prefix share one history. */
export const DEFAULT_REDIS_PREFIX = 'ssehub';

/** What a Redis key prefix may be made of (it is also the cluster hash tag, `{prefix}`). */
export const REDIS_PREFIX_PATTERN = /^[A-Za-z0-9:_.-]{1,100}$/;

/** The pattern above, in words, for error messages. */
export const REDIS_PREFIX_RULE = '1-100 characters of A-Z a-z 0-9 : _ . -';
