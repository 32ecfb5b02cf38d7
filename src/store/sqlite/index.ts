/**
 * `ssehub/sqlite`: the durable embedded store. A subpath of its own, so that `import 'ssehub'`
 * never loads the native SQLite module.
 */
export { SqliteStore, DEFAULT_HISTORY_SIZE } from './store.js';
export type { SqliteStoreOptions } from './store.js';
export { SYNC_LEVELS, DATABASE_FILE } from './database.js';
export type { SyncLevel } from './database.js';
export { StoreOpenError, StoreUnavailableError } from '../errors.js';
