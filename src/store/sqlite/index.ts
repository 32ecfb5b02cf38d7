/**
 * `ssehub/sqlite`: the durable embedded store. A subpath of its own, so that `import 'ssehub'`
 * never loads the native SQLite module.
 */

/** Durable history in an SQLite file (WAL, group commit, retention by count, age and topic). */
export { SqliteStore } from './store.js';
/** SqliteStore's settings: data directory, retention, sync level. */
export type { SqliteStoreOptions } from './store.js';
/** How far each commit is synced before publishes are answered: `full` or `normal`. */
export type { SyncLevel } from './database.js';
/** The sync levels, for validating a setting. */
export { SYNC_LEVELS } from './database.js';
/** The name of the history file inside the data directory. */
export { DATABASE_FILE } from './database.js';
/** Thrown when the store cannot be opened as configured; nothing was changed on disk. */
export { StoreOpenError } from '../errors.js';
/** The webhook queue in `webhooks.sqlite` in the data directory: survives restarts (`createWebhooks`' `queue`). */
export { SqliteWebhookQueue } from './webhook-queue.js';
/** SqliteWebhookQueue's settings: data directory, queue bound. */
export type { SqliteWebhookQueueOptions } from './webhook-queue.js';
