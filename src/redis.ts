/**
 * `ssehub/redis`: events in Redis Streams, shared by every hub using the same Redis and prefix.
 * An entry point of its own so that only those who use it load ioredis.
 */

/** A store in Redis Streams (standalone, Sentinel or Cluster); create it with `RedisStore.connect`. */
export { RedisStore } from './store/redis.js';
/** RedisStore's settings: connection, key prefix, history size and age, timeouts. */
export type { RedisStoreOptions } from './store/redis.js';
/** The webhook queue in Redis, shared by the hubs on the same prefix (`createWebhooks`' `queue`). */
export { RedisWebhookQueue } from './store/redis-webhook-queue.js';
/** RedisWebhookQueue's settings: connection, key prefix, queue bound. */
export type { RedisWebhookQueueOptions } from './store/redis-webhook-queue.js';
